"""Which kind of AI endpoint a discovered API operation is, if any.

`classify` reads the method, the path template, the parsed request and response bodies
and the headers of one observed call, and returns an `EndpointKind` (the kind, a short
evidence string and the model named) or None for an API that shows no AI shape.

Precision comes first: a path names a kind on its own only when no plain REST API would
use it (`/v1/chat/completions`, `:generateContent`, `/v1/vector_stores`); paths that a
plain API could own (`/v1/messages`, `/api/tags`, `/v1/files`, `/search`) need evidence
from the bodies or headers too. Body shapes classify on any path: a `messages` list of
role/content turns is chat on `/api/ask` too, a JSON-RPC 2.0 call of an MCP method is MCP
wherever it is posted. The checks run in order: MCP, path rules, then body shapes.

    >>> classify("POST", "/api/ask", {"model": "m", "messages": [{"role": "user",
    ...     "content": "hi"}]}, None, None).kind
    <AIKind.CHAT: 'chat'>
    >>> classify("GET", "/users/{id}", None, {"id": 1}, None) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["AI_KINDS", "AIKind", "EndpointKind", "classify"]


class AIKind(StrEnum):
    """The kinds of AI endpoint discovery labels."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    AUDIO = "audio"
    RETRIEVAL = "retrieval"
    VECTOR_STORE = "vector_store"
    FINE_TUNING = "fine_tuning"
    FILES = "files"
    MODELS = "models"
    TOOL = "tool"
    MCP = "mcp"


AI_KINDS: tuple[str, ...] = tuple(kind.value for kind in AIKind)


@dataclass(frozen=True, slots=True)
class EndpointKind:
    """An endpoint's AI kind, why it was chosen (short, no body content) and the model
    named by the request (`model` key, or the Gemini path), else by the response."""

    kind: AIKind
    evidence: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    request: Any
    response: Any
    headers: Mapping[str, str]


_Confirm = Callable[[_Call], str | None]

_MCP_METHODS = frozenset({"initialize", "ping"})
_MCP_PREFIXES = (
    "tools/",
    "resources/",
    "prompts/",
    "notifications/",
    "completion/",
    "sampling/",
    "roots/",
    "logging/",
    "elicitation/",
)
_CHAT_ROLES = frozenset({"system", "user", "assistant", "developer", "tool", "function", "model"})
_TOP_K = ("top_k", "topK", "top_n", "topN", "k", "similarity_top_k", "n_results")
_AI_HEADER_PREFIXES = ("openai-", "anthropic-", "x-stainless-", "mcp-")
_AI_HEADERS = frozenset({"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"})
_AI_OBJECTS = frozenset(
    {
        "chat.completion",
        "chat.completion.chunk",
        "text_completion",
        "response",
        "embedding",
        "model",
        "file",
        "batch",
        "upload",
        "fine_tuning.job",
        "fine-tune",
        "vector_store",
        "vector_store.file",
        "assistant",
        "thread",
    }
)
_CHUNK_KEYS = ("page_content", "chunk", "chunk_text", "text", "content", "document")
_VECTOR_SEARCH = re.compile(r"\b(?:nearVector|nearText|nearObject|nearImage|hybrid)\b")
_FIRST = 16
_GEMINI_MODEL = re.compile(r"models/([^/:{}]+):")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects among the first items of a list: shapes show in the first few."""
    return [v for v in value[:_FIRST] if isinstance(v, dict)] if isinstance(value, list) else []


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:8])
    )


def _ai_marker(call: _Call) -> str | None:
    """Evidence any AI API leaves: provider SDK headers, OpenAI object names, a model."""
    for name in call.headers:
        low = name.lower()
        if low.startswith(_AI_HEADER_PREFIXES) or low in _AI_HEADERS:
            return f"header {low}"
    response = _dict(call.response)
    objects = [response.get("object"), *(d.get("object") for d in _dicts(response.get("data")))]
    if any(isinstance(o, str) and o in _AI_OBJECTS for o in objects):
        return "response object"
    if isinstance(_dict(call.request).get("model"), str):
        return "request model"
    return None


def _chat_body(call: _Call) -> str | None:
    body = _dict(call.request)
    turns = _dicts(body.get("messages"))
    if turns and all("role" in t and ("content" in t or "tool_calls" in t) for t in turns):
        roles = {t["role"] for t in turns if isinstance(t["role"], str)}
        if isinstance(body.get("model"), str) or roles & _CHAT_ROLES:
            return "body messages with roles"
    contents = _dicts(body.get("contents"))
    if contents and all(isinstance(c.get("parts"), list) for c in contents):
        return "body contents with parts"
    if isinstance(body.get("model"), str):
        if isinstance(body.get("prompt"), str):
            return "body model and prompt"
        turns = _dicts(body.get("input"))
        if turns and all("role" in t or t.get("type") == "message" for t in turns):
            return "body model and input turns"
        if "instructions" in body:
            return "body model and instructions"
    inputs = body.get("inputs")
    if isinstance(inputs, str) and isinstance(body.get("parameters"), dict):
        return "body inputs and parameters"
    response = _dict(call.response)
    choices = _dicts(response.get("choices"))
    if choices and any(k in choices[0] for k in ("message", "delta", "finish_reason")):
        return "response choices"
    candidates = _dicts(response.get("candidates"))
    if candidates and "content" in candidates[0]:
        return "response candidates"
    if response.get("object") == "response" or (
        response.get("type") == "message" and isinstance(response.get("content"), list)
    ):
        return "response message"
    return None


def _embeddings_body(call: _Call) -> str | None:
    response = _dict(call.response)
    data = _dicts(response.get("data"))
    if data and _is_vector(data[0].get("embedding")):
        return "response data embeddings"
    embedding = response.get("embedding")
    if _is_vector(embedding) or _is_vector(_dict(embedding).get("values")):
        return "response embedding"
    embeddings = response.get("embeddings")
    if isinstance(embeddings, list) and embeddings:
        first = embeddings[0]
        if _is_vector(first) or _is_vector(_dict(first).get("values")):
            return "response embeddings"
    body = _dict(call.request)
    model = body.get("model")
    if isinstance(model, str) and "embed" in model.lower() and "input" in body:
        return "body embedding model and input"
    if isinstance(body.get("texts"), list) and "input_type" in body:
        return "body texts and input_type"
    return None


def _images_body(call: _Call) -> str | None:
    body = _dict(call.request)
    model = body.get("model")
    if isinstance(body.get("prompt"), str) and (
        "size" in body
        or ("response_format" in body and "n" in body)
        or (isinstance(model, str) and ("dall-e" in model or "image" in model))
    ):
        return "body image prompt"
    data = _dicts(_dict(call.response).get("data"))
    if data and ("b64_json" in data[0] or "revised_prompt" in data[0]):
        return "response image data"
    return None


def _speech_body(call: _Call) -> str | None:
    body = _dict(call.request)
    if isinstance(body.get("input"), str) and isinstance(body.get("voice"), str | dict):
        return "body input and voice"
    return None


def _vector_body(call: _Call) -> str | None:
    body = _dict(call.request)
    if _is_vector(body.get("vector")) and any(k in body for k in (*_TOP_K, "limit")):
        return "body vector and top k"
    if _is_vector(_dict(body.get("query")).get("vector")) or _is_vector(body.get("query")):
        return "body query vector"
    vectors = _dicts(body.get("vectors")) + _dicts(body.get("points"))
    if vectors and all(_is_vector(v.get("values", v.get("vector"))) for v in vectors):
        return "body vectors"
    if "query_embeddings" in body or "query_texts" in body:
        return "body query embeddings"
    if isinstance(body.get("embeddings"), list) and isinstance(body.get("ids"), list):
        return "body ids and embeddings"
    query = body.get("query")
    if isinstance(query, str) and _VECTOR_SEARCH.search(query):
        return "graphql vector search"
    return None


def _qdrant(call: _Call) -> str | None:
    response = _dict(call.response)
    if "result" in response and "time" in response and "status" in response:
        return "qdrant response"
    return _vector_body(call) or ("body filter" if "filter" in _dict(call.request) else None)


def _chroma(call: _Call) -> str | None:
    body = _dict(call.request)
    if _vector_body(call) or any(k in body for k in ("n_results", "metadatas", "where")):
        return "chroma body"
    if "documents" in body and "ids" in body:
        return "chroma body"
    return None


def _weaviate_object(call: _Call) -> str | None:
    body = _dict(call.request)
    if isinstance(body.get("class"), str) and ("properties" in body or "vector" in body):
        return "body class object"
    objects = _dicts(_dict(call.response).get("objects"))
    if objects and "class" in objects[0]:
        return "response class objects"
    return None


def _query(body: dict[str, Any]) -> Any:
    return body.get("query", body.get("question"))


def _retrieval_body(call: _Call) -> str | None:
    body = _dict(call.request)
    if not isinstance(_query(body), str):
        return None
    if any(k in body for k in _TOP_K):
        return "body query and top k"
    if isinstance(body.get("documents"), list):
        return "body query and documents"
    return None


def _retrieval(call: _Call) -> str | None:
    if reason := _retrieval_body(call):
        return reason
    if not isinstance(_query(_dict(call.request)), str):
        return None
    response = _dict(call.response)
    hits = _dicts(response.get("results")) or _dicts(response.get("documents"))
    hits = hits or _dicts(response.get("chunks")) or _dicts(response.get("matches"))
    if hits and any(k in hits[0] for k in ("relevance_score", "page_content", "chunk")):
        return "response scored chunks"
    if hits and "score" in hits[0] and any(k in hits[0] for k in _CHUNK_KEYS):
        return "response scored chunks"
    return None


def _model_listing(call: _Call) -> str | None:
    response = _dict(call.response)
    data = _dicts(response.get("data"))
    if response.get("object") == "model" or (data and data[0].get("object") == "model"):
        return "response model object"
    if data and "owned_by" in data[0]:
        return "response model owners"
    models = _dicts(response.get("models"))
    if models and any(k in models[0] for k in ("digest", "modified_at", "size_vram")):
        return "response local models"
    if "model_id" in response:
        return "response model_id"
    for name in call.headers:
        if name.lower().startswith(_AI_HEADER_PREFIXES):
            return f"header {name.lower()}"
    return None


def _ollama(call: _Call) -> str | None:
    return _model_listing(call) or _ai_marker(call)


def _files(call: _Call) -> str | None:
    body, response = _dict(call.request), _dict(call.response)
    if "purpose" in body or "purpose" in response:
        return "purpose"
    if "input_file_id" in body or "completion_window" in body:
        return "batch body"
    return _ai_marker(call)


def _fine_tuning_body(call: _Call) -> str | None:
    return "body training_file" if "training_file" in _dict(call.request) else None


def _function_call(call: _Call) -> str | None:
    body = _dict(call.request)
    if isinstance(body.get("name"), str) and isinstance(body.get("arguments"), dict | str):
        return "body function call"
    function = _dict(body.get("function"))
    if isinstance(function.get("name"), str) and "arguments" in function:
        return "body function call"
    if "tool_call_id" in body:
        return "body tool call id"
    return None


def _jsonrpc(message: Any) -> str | None:
    if isinstance(message, list):
        return next((r for r in map(_jsonrpc, message[:_FIRST]) if r), None)
    message = _dict(message)
    if message.get("jsonrpc") != "2.0":
        return None
    method = message.get("method")
    if isinstance(method, str) and (method in _MCP_METHODS or method.startswith(_MCP_PREFIXES)):
        return f"json-rpc {method}" if method != "ping" or "id" in message else None
    result = _dict(message.get("result"))
    if "protocolVersion" in result or "serverInfo" in result:
        return "json-rpc initialize result"
    if isinstance(result.get("tools"), list):
        return "json-rpc tools result"
    return None


def _mcp(call: _Call) -> str | None:
    reason = _jsonrpc(call.request) or _jsonrpc(call.response)
    if reason:
        return reason
    for name in call.headers:
        if name.lower() in ("mcp-session-id", "mcp-protocol-version"):
            return f"header {name.lower()}"
    return None


def _rule(pattern: str, kind: AIKind, confirm: _Confirm | None = None) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), kind, confirm)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A path pattern naming a kind; `confirm` is None when the path alone suffices."""

    pattern: re.Pattern[str]
    kind: AIKind
    confirm: _Confirm | None


_END = r"(?:/\{[^/]+\}|/[^/{}]+)?/?$"
_RULES = (
    _rule(r"/mcp/?$", AIKind.MCP),
    _rule(r"/(?:sse|messages)/?$", AIKind.MCP, _mcp),
    _rule(r"/\.well-known/ai-plugin\.json$", AIKind.TOOL),
    _rule(r"/chat/completions" + _END, AIKind.CHAT),
    _rule(r"/v1/completions/?$", AIKind.CHAT),
    _rule(r"/v1/responses" + _END, AIKind.CHAT),
    _rule(r"/v1/messages/(?:count_tokens|batches)", AIKind.CHAT),
    _rule(r"/v1/(?:messages|complete)/?$", AIKind.CHAT, lambda c: _chat_body(c) or _ai_marker(c)),
    _rule(r":(?:stream)?generateContent$|:countTokens$", AIKind.CHAT),
    _rule(r":(?:batch)?embedContents?$", AIKind.EMBEDDINGS),
    _rule(r"/api/(?:chat|generate)/?$", AIKind.CHAT, lambda c: _chat_body(c) or _ai_marker(c)),
    _rule(r"/generate(?:_stream)?/?$", AIKind.CHAT, _chat_body),
    _rule(r"/embeddings/?$", AIKind.EMBEDDINGS),
    _rule(r"/api/embed(?:dings)?/?$|/v[12]/embed/?$", AIKind.EMBEDDINGS, _ollama),
    _rule(r"/images/(?:generations|edits|variations)/?$", AIKind.IMAGES),
    _rule(r"/audio/(?:transcriptions|translations|speech)/?$", AIKind.AUDIO),
    _rule(r"/fine_tuning(?:/|$)|/fine-tunes(?:/|$)|/tunedModels(?:/|:|$)", AIKind.FINE_TUNING),
    _rule(r"/v1/(?:files|uploads)" + _END + r"|/v1/files/[^/]+/content$", AIKind.FILES, _files),
    _rule(r"/v1/batches" + _END + r"|/v1/batches/[^/]+/cancel$", AIKind.FILES, _files),
    _rule(r"/v1/vector_stores(?:/|$)", AIKind.VECTOR_STORE),
    _rule(r"/vectors/(?:upsert|delete|fetch|update|list)/?$", AIKind.VECTOR_STORE),
    _rule(r"/describe_index_stats/?$", AIKind.VECTOR_STORE),
    _rule(r"/v2/vectordb/entities/", AIKind.VECTOR_STORE),
    _rule(r"/collections/[^/]+/points(?:/[a-z_]+)?/?$", AIKind.VECTOR_STORE, _qdrant),
    _rule(
        r"/api/v[12]/.*collections/[^/]+/(?:add|query|upsert|get|update|delete)/?$",
        AIKind.VECTOR_STORE,
        _chroma,
    ),
    _rule(r"/v1/graphql/?$", AIKind.VECTOR_STORE, _vector_body),
    _rule(r"/v1/objects" + _END, AIKind.VECTOR_STORE, _weaviate_object),
    _rule(r"/query/?$", AIKind.VECTOR_STORE, _vector_body),
    _rule(r"/(?:rerank|retrieve|retrieval|rag|query|search)/?$", AIKind.RETRIEVAL, _retrieval),
    _rule(r"/v1(?:beta)?/models" + _END, AIKind.MODELS, _model_listing),
    _rule(r"/api/(?:tags|pull|push|delete|show|ps|create|copy)/?$", AIKind.MODELS, _ollama),
    _rule(r"/info/?$", AIKind.MODELS, _model_listing),
    _rule(r"/(?:load|unload)_(?:model|lora_adapter)/?$", AIKind.MODELS),
    _rule(r"/v2/repository/models/[^/]+/(?:load|unload)$", AIKind.MODELS),
)

# Body shapes, most specific first: a vector query also has a `query`, an image request
# a `prompt` and a `model`.
_SHAPES: tuple[tuple[AIKind, _Confirm], ...] = (
    (AIKind.VECTOR_STORE, _vector_body),
    (AIKind.EMBEDDINGS, _embeddings_body),
    (AIKind.IMAGES, _images_body),
    (AIKind.AUDIO, _speech_body),
    (AIKind.CHAT, _chat_body),
    (AIKind.RETRIEVAL, _retrieval_body),
    (AIKind.FINE_TUNING, _fine_tuning_body),
    (AIKind.TOOL, _function_call),
)


def _model(call: _Call) -> str | None:
    model = _dict(call.request).get("model")
    if isinstance(model, str) and model:
        return model
    if found := _GEMINI_MODEL.search(call.path):
        return found.group(1)
    model = _dict(call.response).get("model")
    return model if isinstance(model, str) and model else None


def classify(
    method: str,
    template: str,
    request_json: Any | None,
    response_json: Any | None,
    headers: Mapping[str, str] | None,
) -> EndpointKind | None:
    """The AI kind of one observed call, or None when it shows no AI shape.

    `template` is the path template (`/v1/models/{id}`), without query string; the bodies
    are parsed JSON (None when absent or not JSON); `headers` may be request or response
    headers, any case. Pure and cheap: it looks only at top-level keys and the first items
    of lists, so it is safe to call on every observation.
    """
    call = _Call(method.upper(), template, request_json, response_json, headers or {})
    result = _classify(call)
    if result is None:
        return None
    kind, evidence = result
    return EndpointKind(kind, evidence, _model(call))


def _classify(call: _Call) -> tuple[AIKind, str] | None:
    if reason := _mcp(call):
        return AIKind.MCP, reason
    for rule in _RULES:
        match = rule.pattern.search(call.path)
        if match is None:
            continue
        if rule.confirm is None:
            return rule.kind, f"path {match.group(0)}"
        if reason := rule.confirm(call):
            return rule.kind, f"path {match.group(0)} and {reason}"
    for kind, shape in _SHAPES:
        if reason := shape(call):
            return kind, reason
    return None
