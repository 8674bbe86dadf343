"""AI endpoint classification: every kind by path and by body, and plain APIs as None."""

from __future__ import annotations

from typing import Any

import pytest

from wardgate.discovery.classify import AI_KINDS, AIKind, EndpointKind, classify

CHAT_BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
EMBED_RESPONSE = {"object": "list", "data": [{"object": "embedding", "embedding": [0.1, 0.2]}]}
JSONRPC_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}
OPENAI_MODELS = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "x"}]}
OLLAMA_MODELS = {"models": [{"name": "llama3:8b", "model": "llama3:8b", "digest": "abc"}]}
Row = tuple[str, str, Any, Any, dict[str, str] | None, AIKind]

POSITIVE: list[Row] = [
    # Chat by path: OpenAI, Azure, Responses, legacy completions, Gemini.
    ("POST", "/v1/chat/completions", None, None, None, AIKind.CHAT),
    ("POST", "/openai/deployments/{deployment}/chat/completions", None, None, None, AIKind.CHAT),
    ("POST", "/v1/responses", None, None, None, AIKind.CHAT),
    ("GET", "/v1/responses/{id}", None, None, None, AIKind.CHAT),
    ("POST", "/v1/completions", None, None, None, AIKind.CHAT),
    ("POST", "/v1beta/models/gemini-pro:generateContent", None, None, None, AIKind.CHAT),
    ("POST", "/v1beta/models/{model}:streamGenerateContent", None, None, None, AIKind.CHAT),
    ("POST", "/v1/messages/count_tokens", None, None, None, AIKind.CHAT),
    # Anthropic /v1/messages needs a chat body or its version header.
    ("POST", "/v1/messages", CHAT_BODY, None, None, AIKind.CHAT),
    ("POST", "/v1/messages", None, None, {"anthropic-version": "2023-06-01"}, AIKind.CHAT),
    # Ollama chat and generate with a model.
    ("POST", "/api/chat", {"model": "llama3", "messages": []}, None, None, AIKind.CHAT),
    ("POST", "/api/generate", {"model": "llama3", "prompt": "hi"}, None, None, AIKind.CHAT),
    # HF TGI generate.
    ("POST", "/generate", {"inputs": "hi", "parameters": {}}, None, None, AIKind.CHAT),
    # Chat by body shape on custom paths.
    ("POST", "/api/ask", CHAT_BODY, None, None, AIKind.CHAT),
    ("POST", "/bot", {"messages": [{"role": "system", "content": "x"}]}, None, None, AIKind.CHAT),
    (
        "POST",
        "/x",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        None,
        None,
        AIKind.CHAT,
    ),
    (
        "POST",
        "/x",
        {"model": "m", "input": [{"role": "user", "content": "x"}]},
        None,
        None,
        AIKind.CHAT,
    ),
    ("POST", "/x", {"model": "m", "prompt": "once upon"}, None, None, AIKind.CHAT),
    ("POST", "/x", None, {"choices": [{"index": 0, "message": {}}]}, None, AIKind.CHAT),
    (
        "POST",
        "/x",
        None,
        {"type": "message", "content": [], "role": "assistant"},
        None,
        AIKind.CHAT,
    ),
    # Embeddings by path.
    ("POST", "/v1/embeddings", None, None, None, AIKind.EMBEDDINGS),
    ("POST", "/v1beta/models/text-embedding-004:embedContent", None, None, None, AIKind.EMBEDDINGS),
    ("POST", "/v1beta/models/{model}:batchEmbedContents", None, None, None, AIKind.EMBEDDINGS),
    ("POST", "/api/embed", {"model": "nomic", "input": "x"}, None, None, AIKind.EMBEDDINGS),
    ("POST", "/api/embeddings", {"model": "nomic", "prompt": "x"}, None, None, AIKind.EMBEDDINGS),
    (
        "POST",
        "/v1/embed",
        {"texts": ["x"], "model": "embed-english-v3.0"},
        None,
        None,
        AIKind.EMBEDDINGS,
    ),
    # Embeddings by body and response shape.
    ("POST", "/vectorize", {"input": "x", "model": "m"}, EMBED_RESPONSE, None, AIKind.EMBEDDINGS),
    (
        "POST",
        "/x",
        {"input": ["a"], "model": "text-embedding-3-small"},
        None,
        None,
        AIKind.EMBEDDINGS,
    ),
    ("POST", "/x", None, {"embeddings": [[0.1, 0.2]]}, None, AIKind.EMBEDDINGS),
    ("POST", "/x", None, {"embedding": {"values": [0.1]}}, None, AIKind.EMBEDDINGS),
    ("POST", "/x", {"texts": ["a"], "input_type": "search_query"}, None, None, AIKind.EMBEDDINGS),
    # Images.
    ("POST", "/v1/images/generations", None, None, None, AIKind.IMAGES),
    ("POST", "/v1/images/edits", None, None, None, AIKind.IMAGES),
    ("POST", "/v1/images/variations", None, None, None, AIKind.IMAGES),
    ("POST", "/draw", {"prompt": "a cat", "size": "1024x1024"}, None, None, AIKind.IMAGES),
    ("POST", "/draw", None, {"data": [{"b64_json": "..."}]}, None, AIKind.IMAGES),
    # Audio.
    ("POST", "/v1/audio/transcriptions", None, None, None, AIKind.AUDIO),
    ("POST", "/v1/audio/translations", None, None, None, AIKind.AUDIO),
    ("POST", "/v1/audio/speech", None, None, None, AIKind.AUDIO),
    ("POST", "/tts", {"input": "hello", "voice": "alloy"}, None, None, AIKind.AUDIO),
    # Retrieval and rerank need a query with top k or documents.
    ("POST", "/retrieve", {"query": "refund policy", "top_k": 5}, None, None, AIKind.RETRIEVAL),
    ("POST", "/search", {"query": "x", "similarity_top_k": 3}, None, None, AIKind.RETRIEVAL),
    ("POST", "/v1/rerank", {"query": "x", "documents": ["a", "b"]}, None, None, AIKind.RETRIEVAL),
    ("POST", "/kb", {"question": "x", "k": 4}, None, None, AIKind.RETRIEVAL),
    (
        "POST",
        "/search",
        {"query": "x"},
        {"results": [{"score": 0.9, "text": "chunk"}]},
        None,
        AIKind.RETRIEVAL,
    ),
    (
        "POST",
        "/rag",
        {"query": "x"},
        {"documents": [{"page_content": "c"}]},
        None,
        AIKind.RETRIEVAL,
    ),
    # Vector stores: Pinecone, Qdrant, Weaviate, Chroma, Milvus, OpenAI.
    ("POST", "/vectors/upsert", None, None, None, AIKind.VECTOR_STORE),
    ("POST", "/query", {"vector": [0.1, 0.2], "topK": 3}, None, None, AIKind.VECTOR_STORE),
    (
        "PUT",
        "/collections/{collection_name}/points",
        {"points": [{"id": 1, "vector": [0.1]}]},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/collections/{collection_name}/points/search",
        {"vector": [0.1], "limit": 3},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/collections/{collection_name}/points/query",
        {"query": [0.1, 0.2]},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/collections/{name}/points/scroll",
        {},
        {"result": {}, "status": "ok", "time": 0},
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/v1/objects",
        {"class": "Doc", "properties": {"t": "x"}},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/v1/graphql",
        {"query": "{ Get { Doc(nearVector: {vector: [0.1]}) { t } } }"},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/api/v1/collections/{id}/add",
        {"ids": ["a"], "documents": ["x"]},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    (
        "POST",
        "/api/v1/collections/{id}/query",
        {"query_texts": ["x"], "n_results": 2},
        None,
        None,
        AIKind.VECTOR_STORE,
    ),
    ("POST", "/v2/vectordb/entities/search", None, None, None, AIKind.VECTOR_STORE),
    ("POST", "/v1/vector_stores", None, None, None, AIKind.VECTOR_STORE),
    ("GET", "/v1/vector_stores/{id}/files", None, None, None, AIKind.VECTOR_STORE),
    ("POST", "/x", {"vectors": [{"id": "a", "values": [0.1]}]}, None, None, AIKind.VECTOR_STORE),
    # Fine-tuning.
    ("POST", "/v1/fine_tuning/jobs", None, None, None, AIKind.FINE_TUNING),
    ("GET", "/v1/fine_tuning/jobs/{id}/events", None, None, None, AIKind.FINE_TUNING),
    ("POST", "/v1/fine-tunes", None, None, None, AIKind.FINE_TUNING),
    ("POST", "/train", {"training_file": "file-1", "model": "m"}, None, None, AIKind.FINE_TUNING),
    # Files, batches and uploads need AI evidence.
    ("POST", "/v1/files", None, {"object": "file", "purpose": "batch"}, None, AIKind.FILES),
    ("GET", "/v1/files/{id}/content", None, None, {"openai-organization": "o"}, AIKind.FILES),
    (
        "POST",
        "/v1/batches",
        {"input_file_id": "f", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        None,
        None,
        AIKind.FILES,
    ),
    ("POST", "/v1/uploads", {"purpose": "fine-tune", "bytes": 1}, None, None, AIKind.FILES),
    # Model listing and serving management.
    ("GET", "/v1/models", None, OPENAI_MODELS, None, AIKind.MODELS),
    ("GET", "/v1/models/{model}", None, {"id": "m", "object": "model"}, None, AIKind.MODELS),
    ("GET", "/api/tags", None, OLLAMA_MODELS, None, AIKind.MODELS),
    ("POST", "/api/pull", {"model": "llama3"}, None, None, AIKind.MODELS),
    ("DELETE", "/api/delete", {"model": "llama3"}, None, None, AIKind.MODELS),
    ("POST", "/api/show", {"model": "llama3"}, None, None, AIKind.MODELS),
    ("GET", "/api/ps", None, {"models": [{"name": "m", "size_vram": 1}]}, None, AIKind.MODELS),
    (
        "GET",
        "/info",
        None,
        {"model_id": "bigscience/bloom", "max_input_length": 1024},
        None,
        AIKind.MODELS,
    ),
    ("POST", "/v1/load_lora_adapter", None, None, None, AIKind.MODELS),
    ("POST", "/load_model", None, None, None, AIKind.MODELS),
    # Tools and plugins.
    ("GET", "/.well-known/ai-plugin.json", None, None, None, AIKind.TOOL),
    (
        "POST",
        "/tools/weather",
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
        None,
        None,
        AIKind.TOOL,
    ),
    ("POST", "/invoke", {"function": {"name": "f", "arguments": "{}"}}, None, None, AIKind.TOOL),
    # MCP by path, body on any path, response, batch and header.
    ("POST", "/mcp", None, None, None, AIKind.MCP),
    ("POST", "/messages", JSONRPC_CALL, None, None, AIKind.MCP),
    ("POST", "/rpc", {"jsonrpc": "2.0", "id": 0, "method": "initialize"}, None, None, AIKind.MCP),
    ("POST", "/rpc", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, None, None, AIKind.MCP),
    (
        "POST",
        "/rpc",
        {"jsonrpc": "2.0", "id": 1, "method": "resources/read"},
        None,
        None,
        AIKind.MCP,
    ),
    ("POST", "/rpc", {"jsonrpc": "2.0", "id": 1, "method": "prompts/get"}, None, None, AIKind.MCP),
    (
        "POST",
        "/rpc",
        [{"jsonrpc": "2.0", "method": "notifications/initialized"}],
        None,
        None,
        AIKind.MCP,
    ),
    (
        "POST",
        "/rpc",
        None,
        {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "x"}},
        None,
        AIKind.MCP,
    ),
    ("GET", "/sse", None, None, {"Mcp-Session-Id": "abc"}, AIKind.MCP),
]


@pytest.mark.parametrize(
    ("method", "path", "request_json", "response", "headers", "kind"), POSITIVE
)
def test_classifies(
    method: str,
    path: str,
    request_json: Any,
    response: Any,
    headers: dict[str, str] | None,
    kind: AIKind,
) -> None:
    found = classify(method, path, request_json, response, headers)
    assert found is not None
    assert found.kind is kind
    assert found.evidence


NEGATIVE: list[tuple[str, str, Any, Any, dict[str, str] | None]] = [
    # Plain REST resources.
    ("GET", "/users/{id}", None, {"id": 1, "name": "Ann"}, None),
    ("POST", "/users", {"name": "Ann", "email": "a@example.com"}, None, None),
    ("GET", "/", None, None, None),
    # Search on an e-commerce API: a query is not retrieval without top k or chunks.
    ("GET", "/search", None, {"results": [{"id": 1, "name": "shoe", "score": 3}]}, None),
    ("POST", "/search", {"query": "shoes", "limit": 10}, {"results": [{"sku": "1"}]}, None),
    ("POST", "/query", {"sql": "select 1"}, {"rows": []}, None),
    # Paths an AI API shares with plain ones, without AI evidence.
    ("POST", "/v1/messages", {"to": "bob", "text": "hi"}, {"id": 1}, None),
    ("GET", "/api/tags", None, [{"id": 1, "name": "python"}], None),
    ("POST", "/api/generate", {"report": "sales"}, None, None),
    ("POST", "/api/chat", {"text": "hello", "room": "r1"}, None, None),
    ("POST", "/v1/files", None, {"id": "f1", "size": 10}, None),
    ("GET", "/v1/models/{id}", None, {"make": "Toyota", "model": "Corolla"}, None),
    ("POST", "/v1/models", {"model": "Corolla"}, None, None),
    ("GET", "/info", None, {"version": "1.2"}, None),
    ("POST", "/v1/graphql", {"query": "{ users { id } }"}, None, None),
    ("POST", "/v1/objects", {"name": "x"}, None, None),
    ("GET", "/loyalty/collections/{id}/points", None, {"points": 10}, None),
    ("GET", "/embed", None, {"html": "<iframe>"}, None),
    ("GET", "/sse", None, None, {"accept": "text/event-stream"}),
    ("POST", "/messages", {"jsonrpc": "2.0", "id": 1, "method": "getUser"}, None, None),
    # Look-alike bodies.
    ("POST", "/quiz", None, {"choices": [{"id": 1, "label": "A"}]}, None),
    ("POST", "/chat", {"messages": [{"author": "bob", "text": "hi"}]}, None, None),
    ("POST", "/chat", {"messages": [{"role": "admin", "content": "x"}]}, None, None),
    ("POST", "/x", {"name": "a", "value": 1}, None, None),
    ("POST", "/x", "not an object", ["a", 1], None),
]


@pytest.mark.parametrize(("method", "path", "request_json", "response", "headers"), NEGATIVE)
def test_not_ai(
    method: str, path: str, request_json: Any, response: Any, headers: dict[str, str] | None
) -> None:
    assert classify(method, path, request_json, response, headers) is None


@pytest.mark.parametrize(
    ("path", "request_json", "response", "model"),
    [
        ("/v1/chat/completions", CHAT_BODY, {"model": "gpt-4o-2024"}, "gpt-4o"),  # request wins
        ("/v1/chat/completions", None, {"model": "gpt-4o-2024"}, "gpt-4o-2024"),
        ("/v1beta/models/gemini-1.5-pro:generateContent", {"contents": []}, None, "gemini-1.5-pro"),
        ("/v1beta/models/{model}:generateContent", None, None, None),  # a placeholder
        ("/v1/embeddings", {"model": "", "input": "x"}, None, None),
        ("/v1/audio/speech", {"model": 3}, None, None),
    ],
)
def test_model(path: str, request_json: Any, response: Any, model: str | None) -> None:
    found = classify("POST", path, request_json, response, None)
    assert found is not None
    assert found.model == model


def test_result_is_a_frozen_value_with_evidence() -> None:
    found = classify("POST", "/api/ask", CHAT_BODY, None, None)
    assert found == EndpointKind(AIKind.CHAT, "body messages with roles", "gpt-4o")
    with pytest.raises(AttributeError):
        found.kind = AIKind.MCP  # type: ignore[misc]
    assert classify("post", "/v1/embeddings", None, None, None) == EndpointKind(
        AIKind.EMBEDDINGS, "path /embeddings", None
    )


def test_ai_kinds() -> None:
    assert AI_KINDS == (
        "chat",
        "embeddings",
        "images",
        "audio",
        "retrieval",
        "vector_store",
        "fine_tuning",
        "files",
        "models",
        "tool",
        "mcp",
    )
    assert str(AIKind.CHAT) == "chat"


def test_large_bodies_are_read_shallowly() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}] * 100_000}
    found = classify("POST", "/x", body, None, None)
    assert found is not None
    assert found.kind is AIKind.CHAT
    batch = [{"jsonrpc": "2.0", "id": i, "method": "x"} for i in range(100_000)]
    assert classify("POST", "/rpc", batch, None, None) is None
