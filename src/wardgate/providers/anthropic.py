"""Anthropic wire format (messages API)."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.errors import MalformedRequest
from wardgate.providers.base import Problem, StreamParser
from wardgate.providers.body import (
    as_dict,
    as_int,
    as_list,
    as_str,
    content_messages,
    load_event,
    load_request,
    load_response,
    require_bool,
    require_count,
    require_list,
    require_object,
    require_str,
)
from wardgate.providers.call import (
    LLMCall,
    LLMOutput,
    Message,
    Origin,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = ["AnthropicAdapter", "AnthropicStreamParser"]

_IMAGE_BLOCKS = frozenset({"image"})

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}

# The messages API knows only these two roles; anything else the upstream refuses, and
# until then it counts as the end user's text (never as trusted system text).
_ROLE_ORIGINS = {"user": Origin.USER, "assistant": Origin.ASSISTANT}
_EMPTY = StreamDelta()


class AnthropicAdapter:
    name = "anthropic"

    def _error(self, problem: Problem) -> dict[str, Any]:
        return {
            "type": _ERROR_TYPES.get(problem.status, "api_error"),
            "message": f"{problem.title} (request id {problem.request_id})",
        }

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {"error": self._error(problem)}

    def error_event(self, problem: Problem) -> bytes:
        body = orjson.dumps({"type": "error", "error": self._error(problem)})
        return b"event: error\ndata: " + body + b"\n\n"

    def parse_request(self, path: str, body: bytes) -> LLMCall | None:
        # `/v1/messages/count_tokens` and `/v1/messages/batches` end otherwise: not calls.
        if not path.partition("?")[0].rstrip("/").endswith("/messages") or not body.strip():
            return None
        data = load_request(body)
        stream = require_bool(data, "stream")
        messages = _system(data.get("system"))
        tool_calls: list[ToolCall] = []
        for index, raw in enumerate(require_list(data.get("messages"), "messages")):
            where = f"messages[{index}]"
            message = require_object(raw, where)
            role = message.get("role")
            if not isinstance(role, str):
                raise MalformedRequest(f"{where}.role must be a string")
            messages += _content(message.get("content"), f"{where}.content", role, tool_calls)
        return LLMCall(
            operation="messages",
            model=require_str(data, "model"),
            messages=tuple(messages),
            tools=tuple(_tools(data.get("tools"))),
            tool_calls=tuple(tool_calls),
            stream=stream,
            # Anthropic streams always carry usage (message_start and message_delta).
            stream_usage=stream,
            max_tokens=require_count(data, "max_tokens", 0),
        )

    def parse_response(self, call: LLMCall, body: bytes) -> LLMOutput:
        data = load_response(body)
        texts: list[str] = []
        calls: list[ToolCall] = []
        for raw in as_list(data.get("content")):
            block = as_dict(raw)
            kind = block.get("type")
            if kind == "text":
                texts.append(as_str(block.get("text")))
            elif kind in ("tool_use", "server_tool_use"):
                calls.append(_tool_use(block))
        return LLMOutput(
            text="".join(texts),
            tool_calls=tuple(calls),
            usage=_message_usage(data.get("usage")),
            finish_reason=as_str(data.get("stop_reason")) or None,
        )

    def stream_parser(self, call: LLMCall) -> StreamParser:
        return AnthropicStreamParser()

    def with_stream_usage(self, call: LLMCall, body: bytes) -> bytes | None:
        return None

    def with_max_tokens(self, call: LLMCall, body: bytes, limit: int) -> bytes:
        data = load_request(body)
        data["max_tokens"] = limit
        return orjson.dumps(data)


def _system(value: Any) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", Origin.SYSTEM, value, "system")]
    messages = []
    for index, raw in enumerate(require_list(value, "system")):
        text = require_object(raw, f"system[{index}]").get("text")
        if isinstance(text, str):
            messages.append(Message("system", Origin.SYSTEM, text, f"system[{index}].text"))
    return messages


def _content(value: Any, where: str, role: str, tool_calls: list[ToolCall]) -> list[Message]:
    """One message's content; its replayed `tool_use` blocks go to `tool_calls`."""
    origin = _ROLE_ORIGINS.get(role, Origin.USER)
    if value is None:
        return []
    if isinstance(value, str):
        return [Message(role, origin, value, where)]
    messages = []
    for index, raw in enumerate(require_list(value, where)):
        path = f"{where}[{index}]"
        block = require_object(raw, path)
        kind = block.get("type")
        if kind == "tool_use" or kind == "server_tool_use":
            tool_calls.append(_tool_use(block))
        elif kind == "tool_result" or kind == "search_result":
            # Tool output is where indirect injection comes in; search results are
            # retrieved documents in all but name.
            result_origin = Origin.TOOL_RESULT if kind == "tool_result" else Origin.DOCUMENT
            messages += _nested(block.get("content"), f"{path}.content", role, result_origin)
        elif kind == "document":
            messages += _document(block, path, role)
        elif kind in _IMAGE_BLOCKS:
            messages.append(Message(role, origin, "", path, images=1))
        elif isinstance(block.get("text"), str):
            # Text blocks, and any future block type with text: none may bypass the checks.
            messages.append(Message(role, origin, block["text"], f"{path}.text"))
    return messages


def _nested(value: Any, where: str, role: str, origin: Origin) -> list[Message]:
    """A tool result's or search result's content: a string or text and image blocks."""
    return content_messages(value, where, role, origin, _IMAGE_BLOCKS)


def _document(block: dict[str, Any], path: str, role: str) -> list[Message]:
    """Plain-text and content-block documents; PDFs and URLs carry no text we can read."""
    source = as_dict(block.get("source"))
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return [Message(role, Origin.DOCUMENT, source["data"], f"{path}.source.data")]
    if kind == "content":
        return _nested(source.get("content"), f"{path}.source.content", role, Origin.DOCUMENT)
    return []


def _tools(value: Any) -> list[ToolSpec]:
    if value is None:
        return []
    specs = []
    for index, raw in enumerate(require_list(value, "tools")):
        tool = require_object(raw, f"tools[{index}]")
        # Server tools (web search, code execution) have a name too, and no schema.
        specs.append(
            ToolSpec(
                name=as_str(tool.get("name")) or as_str(tool.get("type")),
                description=as_str(tool.get("description")),
                parameters=as_dict(tool.get("input_schema")),
            )
        )
    return specs


def _tool_use(block: dict[str, Any]) -> ToolCall:
    call_id = block.get("id")
    return ToolCall(
        name=as_str(block.get("name")),
        arguments=orjson.dumps(block.get("input", {})).decode(),
        id=call_id if isinstance(call_id, str) else None,
    )


class _PendingToolUse:
    __slots__ = ("call_id", "input", "name", "pieces")

    def __init__(self, block: dict[str, Any]) -> None:
        call_id = block.get("id")
        self.name = as_str(block.get("name"))
        self.call_id = call_id if isinstance(call_id, str) else None
        self.input = block.get("input", {})
        self.pieces: list[str] = []

    def done(self) -> ToolCall:
        return ToolCall(self.name, self._arguments(), self.call_id)

    def _arguments(self) -> str:
        if not self.pieces:
            return orjson.dumps(self.input).decode()
        joined = "".join(self.pieces)
        # Re-serialized, streamed arguments read exactly as a non-streamed `input` does.
        try:
            return orjson.dumps(orjson.loads(joined)).decode()
        except orjson.JSONDecodeError:
            return joined


class AnthropicStreamParser:
    """Message stream events; usage is reported as learnt, input and output combined."""

    __slots__ = ("_input_tokens", "_output_tokens", "_pending")

    def __init__(self) -> None:
        self._pending: dict[int, _PendingToolUse] = {}
        self._input_tokens = 0
        self._output_tokens = 0

    def feed(self, data: str, event: str | None) -> StreamDelta:
        payload = load_event(data)
        kind = as_str(payload.get("type")) or event
        if kind == "content_block_delta":
            delta = as_dict(payload.get("delta"))
            if delta.get("type") == "text_delta":
                return StreamDelta(text=as_str(delta.get("text")))
            pending = self._pending.get(as_int(payload.get("index")) or 0)
            if delta.get("type") == "input_json_delta" and pending is not None:
                pending.pieces.append(as_str(delta.get("partial_json")))
            return _EMPTY
        if kind == "content_block_start":
            block = as_dict(payload.get("content_block"))
            if block.get("type") in ("tool_use", "server_tool_use"):
                self._pending[as_int(payload.get("index")) or 0] = _PendingToolUse(block)
            if block.get("type") == "text" and as_str(block.get("text")):
                return StreamDelta(text=block["text"])
            return _EMPTY
        if kind == "content_block_stop":
            pending = self._pending.pop(as_int(payload.get("index")) or 0, None)
            return _EMPTY if pending is None else StreamDelta(tool_calls=(pending.done(),))
        if kind == "message_start":
            return self._usage(as_dict(payload.get("message")).get("usage"))
        if kind == "message_delta":
            return self._usage(payload.get("usage"))
        if kind == "message_stop":
            # A block left open by a cut-short stream is still a call the model asked for.
            calls = tuple(pending.done() for pending in self._pending.values())
            self._pending.clear()
            return StreamDelta(tool_calls=calls, done=True)
        return _EMPTY

    def _usage(self, value: Any) -> StreamDelta:
        """Both counts are cumulative; an event may update either one."""
        usage = as_dict(value)
        input_tokens = _input_tokens(usage)
        output_tokens = as_int(usage.get("output_tokens"))
        if input_tokens is None and output_tokens is None:
            return _EMPTY
        if input_tokens is not None:
            self._input_tokens = input_tokens
        if output_tokens is not None:
            self._output_tokens = output_tokens
        return StreamDelta(usage=Usage(self._input_tokens, self._output_tokens))


# Prompt-cache writes and reads are input the provider processed (and bills): a call must
# not look cheap because its prompt was cached.
_CACHE_FIELDS = ("cache_creation_input_tokens", "cache_read_input_tokens")


def _input_tokens(usage: dict[str, Any]) -> int | None:
    counts = [as_int(usage.get(k)) for k in ("input_tokens", *_CACHE_FIELDS)]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _message_usage(value: Any) -> Usage | None:
    usage = as_dict(value)
    input_tokens = _input_tokens(usage)
    output_tokens = as_int(usage.get("output_tokens"))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens or 0, output_tokens or 0)
