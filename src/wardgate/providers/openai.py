"""OpenAI wire format: chat completions, responses, legacy completions and embeddings.

The operation is read from the end of the path, so the same adapter serves
`/v1/chat/completions`, Azure's `/openai/deployments/x/chat/completions?api-version=...`
and a bare `/chat/completions`.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.errors import MalformedRequest
from wardgate.providers.base import Problem, StreamParser
from wardgate.providers.body import (
    as_dict,
    as_list,
    as_str,
    content_messages,
    load_request,
    load_response,
    require_bool,
    require_count,
    require_list,
    require_object,
    require_str,
    usage_from,
)
from wardgate.providers.call import LLMCall, LLMOutput, Message, Origin, ToolCall, ToolSpec
from wardgate.providers.openai_stream import (
    ChatStreamParser,
    ResponsesStreamParser,
    tool_call_from,
)

__all__ = ["OpenAIAdapter"]

# OpenAI's SDKs map status codes to exceptions and read `error.message`/`type`/`code`.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}

# Checked in this order: `/chat/completions` also ends with `/completions`.
_OPERATIONS = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/responses", "responses"),
    ("/embeddings", "embeddings"),
)

# Roles a caller may not know yet (a new one, or a compatible server's own) count as the
# end user's: the least trusted origin that still reads as first-hand input.
_ROLE_ORIGINS = {
    "system": Origin.SYSTEM,
    "developer": Origin.SYSTEM,
    "user": Origin.USER,
    "assistant": Origin.ASSISTANT,
    "tool": Origin.TOOL_RESULT,
    "function": Origin.TOOL_RESULT,
}
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def _operation(path: str) -> str | None:
    path = path.partition("?")[0].rstrip("/")
    for ending, operation in _OPERATIONS:
        if path.endswith(ending):
            return operation
    return None


class OpenAIAdapter:
    name = "openai"

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {
            "error": {
                "message": f"{problem.title} (request id {problem.request_id})",
                "type": _ERROR_TYPES.get(problem.status, "api_error"),
                "param": None,
                "code": problem.slug,
            }
        }

    def error_event(self, problem: Problem) -> bytes:
        body = orjson.dumps({**self.error_member(problem), "request_id": problem.request_id})
        return b"data: " + body + b"\n\ndata: [DONE]\n\n"

    def parse_request(self, path: str, body: bytes) -> LLMCall | None:
        operation = _operation(path)
        # No body is no call: `GET /v1/chat/completions` lists stored completions.
        if operation is None or not body.strip():
            return None
        data = load_request(body)
        if operation == "chat":
            return _chat_call(data)
        if operation == "responses":
            return _responses_call(data)
        if operation == "completions":
            return _completions_call(data)
        return _embeddings_call(data)

    def parse_response(self, call: LLMCall, body: bytes) -> LLMOutput:
        data = load_response(body)
        if call.operation == "responses":
            return _responses_output(data)
        if call.operation == "embeddings":
            return LLMOutput(
                usage=usage_from(data.get("usage"), "prompt_tokens", "completion_tokens")
            )
        return _choices_output(data)

    def stream_parser(self, call: LLMCall) -> StreamParser:
        if call.operation == "responses":
            return ResponsesStreamParser()
        return ChatStreamParser()

    def with_stream_usage(self, call: LLMCall, body: bytes) -> bytes | None:
        # The responses API always ends its stream with usage; embeddings do not stream.
        if call.operation not in ("chat", "completions") or not call.stream or call.stream_usage:
            return None
        data = load_request(body)
        options = data.get("stream_options")
        data["stream_options"] = {**as_dict(options), "include_usage": True}
        return orjson.dumps(data)

    def with_max_tokens(self, call: LLMCall, body: bytes, limit: int) -> bytes:
        if call.operation == "embeddings":
            return body
        data = load_request(body)
        if call.operation == "responses":
            data["max_output_tokens"] = limit
        elif call.operation == "chat" and data.get("max_completion_tokens") is not None:
            data["max_completion_tokens"] = limit
            # Both set is unusual; lowering both leaves no reading of the body over the limit.
            if data.get("max_tokens") is not None:
                data["max_tokens"] = limit
        elif call.operation == "chat" and data.get("max_tokens") is None:
            # Reasoning models refuse `max_tokens`; every chat model takes this one.
            data["max_completion_tokens"] = limit
        else:
            data["max_tokens"] = limit
        return orjson.dumps(data)


# --- requests ----------------------------------------------------------------------------


def _chat_call(data: dict[str, Any]) -> LLMCall:
    messages: list[Message] = []
    tool_calls: list[ToolCall] = []
    for index, raw in enumerate(require_list(data.get("messages"), "messages")):
        where = f"messages[{index}]"
        message = require_object(raw, where)
        role = message.get("role")
        if not isinstance(role, str):
            raise MalformedRequest(f"{where}.role must be a string")
        origin = _ROLE_ORIGINS.get(role, Origin.USER)
        messages += _content(message.get("content"), f"{where}.content", role, origin)
        if role == "assistant":
            tool_calls += _replayed_tool_calls(message, where)
    tools = _tool_specs(data, "tools") + _tool_specs(data, "functions")
    max_completion_tokens = require_count(data, "max_completion_tokens", 0)
    max_tokens = require_count(data, "max_tokens", 0)
    return LLMCall(
        operation="chat",
        model=require_str(data, "model"),
        messages=tuple(messages),
        tools=tuple(tools),
        tool_calls=tuple(tool_calls),
        stream=require_bool(data, "stream"),
        stream_usage=_stream_usage(data),
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        n=require_count(data, "n", 1) or 1,
    )


def _responses_call(data: dict[str, Any]) -> LLMCall:
    messages: list[Message] = []
    tool_calls: list[ToolCall] = []
    instructions = require_str(data, "instructions")
    if instructions is not None:
        messages.append(Message("system", Origin.SYSTEM, instructions, "instructions"))
    stream = require_bool(data, "stream")
    items = data.get("input")
    if isinstance(items, str):
        messages.append(Message("user", Origin.USER, items, "input"))
    elif items is not None:
        if not isinstance(items, list):
            raise MalformedRequest("input must be a string or a list")
        for index, raw in enumerate(require_list(items, "input")):
            where = f"input[{index}]"
            item = require_object(raw, where)
            kind, role = item.get("type"), item.get("role")
            if isinstance(role, str) and kind in (None, "message"):
                origin = _ROLE_ORIGINS.get(role, Origin.USER)
                messages += _content(item.get("content"), f"{where}.content", role, origin)
            elif kind in ("function_call", "custom_tool_call"):
                tool_calls.append(tool_call_from(item))
            elif _is_tool_output(kind) and isinstance(item.get("output"), (str, list)):
                output = item["output"]
                messages += _content(output, f"{where}.output", "tool", Origin.TOOL_RESULT)
    return LLMCall(
        operation="responses",
        model=require_str(data, "model"),
        messages=tuple(messages),
        tools=tuple(_tool_specs(data, "tools")),
        tool_calls=tuple(tool_calls),
        stream=stream,
        # The responses API ends every stream with `response.completed`, usage included.
        stream_usage=stream,
        max_tokens=require_count(data, "max_output_tokens", 0),
    )


def _is_tool_output(kind: Any) -> bool:
    """`function_call_output`, `local_shell_call_output`, ... and MCP calls with results."""
    return isinstance(kind, str) and (kind.endswith("_output") or kind == "mcp_call")


def _completions_call(data: dict[str, Any]) -> LLMCall:
    messages = _texts(data.get("prompt"), "prompt")
    suffix = require_str(data, "suffix")
    if suffix is not None:
        messages.append(Message("user", Origin.USER, suffix, "suffix"))
    return LLMCall(
        operation="completions",
        model=require_str(data, "model"),
        messages=tuple(messages),
        stream=require_bool(data, "stream"),
        stream_usage=_stream_usage(data),
        max_tokens=require_count(data, "max_tokens", 0),
        n=require_count(data, "n", 1) or 1,
        best_of=require_count(data, "best_of", 1),
    )


def _embeddings_call(data: dict[str, Any]) -> LLMCall:
    return LLMCall(
        operation="embeddings",
        model=require_str(data, "model"),
        messages=tuple(_texts(data.get("input"), "input")),
    )


def _texts(value: Any, where: str) -> list[Message]:
    """A prompt or embedding input: a string, or a list of strings and token arrays."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("user", Origin.USER, value, where)]
    if not isinstance(value, list):
        raise MalformedRequest(f"{where} must be a string or a list")
    messages = []
    token_ids = 0
    for index, item in enumerate(require_list(value, where)):
        if isinstance(item, str):
            messages.append(Message("user", Origin.USER, item, f"{where}[{index}]"))
        elif not isinstance(item, (int, list)) or isinstance(item, bool):
            # Token ids carry no text we could read; anything else is not an input.
            raise MalformedRequest(f"{where}[{index}] must be a string or tokens")
        else:
            token_ids += 1 if isinstance(item, int) else len(item)
    if token_ids:
        # Unreadable, but countable: limits and budgets see them.
        messages.append(Message("user", Origin.USER, "", where, tokens=token_ids))
    return messages


def _content(value: Any, where: str, role: str, origin: Origin) -> list[Message]:
    """A message's content: a string, or parts each giving one Message."""
    if value is not None and not isinstance(value, str | list):
        raise MalformedRequest(f"{where} must be a string or a list")
    return content_messages(value, where, role, origin, _IMAGE_PARTS)


def _replayed_tool_calls(message: dict[str, Any], where: str) -> list[ToolCall]:
    calls = []
    raw_calls = message.get("tool_calls")
    if raw_calls is not None:
        for index, raw in enumerate(require_list(raw_calls, f"{where}.tool_calls")):
            calls.append(tool_call_from(require_object(raw, f"{where}.tool_calls[{index}]")))
    legacy = message.get("function_call")
    if legacy is not None:
        calls.append(tool_call_from(require_object(legacy, f"{where}.function_call")))
    return calls


def _tool_specs(data: dict[str, Any], key: str) -> list[ToolSpec]:
    """`tools` (chat: nested under `function`; responses: flat) or legacy `functions`."""
    value = data.get(key)
    if value is None:
        return []
    specs = []
    for index, raw in enumerate(require_list(value, key)):
        tool = require_object(raw, f"{key}[{index}]")
        kind = tool.get("type")
        if key == "functions":
            specs.append(_spec(tool))
        elif kind in ("function", "custom"):
            specs.append(_spec(as_dict(tool.get(kind)) or tool))
        elif isinstance(kind, str):
            # Built-in tools (web search, MCP servers, code interpreter) are named by type,
            # so a tool policy can still see and refuse them.
            specs.append(ToolSpec(kind))
    return specs


def _spec(tool: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=as_str(tool.get("name")),
        description=as_str(tool.get("description")),
        parameters=as_dict(tool.get("parameters")),
    )


def _stream_usage(data: dict[str, Any]) -> bool:
    options = data.get("stream_options")
    if options is None:
        return False
    return require_object(options, "stream_options").get("include_usage") is True


# --- responses ---------------------------------------------------------------------------


def _choices_output(data: dict[str, Any]) -> LLMOutput:
    """Chat completions (`message.content`) and legacy completions (`text`)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    finish_reason = None
    for raw in as_list(data.get("choices")):
        choice = as_dict(raw)
        message = as_dict(choice.get("message"))
        text = message.get("content") if message else choice.get("text")
        if isinstance(text, str):
            texts.append(text)
        calls += [tool_call_from(as_dict(call)) for call in as_list(message.get("tool_calls"))]
        if isinstance(message.get("function_call"), dict):
            calls.append(tool_call_from(message["function_call"]))
        finish_reason = finish_reason or as_str(choice.get("finish_reason")) or None
    return LLMOutput(
        text="\n".join(texts),
        tool_calls=tuple(calls),
        usage=usage_from(data.get("usage"), "prompt_tokens", "completion_tokens"),
        finish_reason=finish_reason,
    )


def _responses_output(data: dict[str, Any]) -> LLMOutput:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for raw in as_list(data.get("output")):
        item = as_dict(raw)
        kind = item.get("type")
        if kind == "message":
            for part in as_list(item.get("content")):
                part = as_dict(part)
                if part.get("type") == "output_text":
                    texts.append(as_str(part.get("text")))
        elif kind in ("function_call", "custom_tool_call"):
            calls.append(tool_call_from(item))
    # "incomplete" says little on its own; the reason (e.g. max_output_tokens) says why.
    reason = as_str(as_dict(data.get("incomplete_details")).get("reason"))
    return LLMOutput(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=usage_from(data.get("usage"), "input_tokens", "output_tokens"),
        finish_reason=reason or as_str(data.get("status")) or None,
    )
