"""OpenAI streams: chat and legacy completion chunks, and the responses API's typed events."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.providers.body import as_dict, as_int, as_list, as_str, load_event, usage_from
from wardgate.providers.call import StreamDelta, ToolCall

__all__ = ["ChatStreamParser", "ResponsesStreamParser", "tool_call_from"]

_EMPTY = StreamDelta()


def tool_call_from(raw: dict[str, Any]) -> ToolCall:
    """A whole tool call in any of OpenAI's shapes.

    Chat nests it under `function` (or `custom`); the responses API and the legacy
    `function_call` keep `name` and `arguments` (or a custom tool's `input`) flat.
    """
    inner = as_dict(raw.get("function")) or as_dict(raw.get("custom")) or raw
    arguments = inner.get("arguments", inner.get("input"))
    call_id = raw.get("call_id", raw.get("id"))
    return ToolCall(
        name=as_str(inner.get("name")),
        arguments=_arguments(arguments),
        id=call_id if isinstance(call_id, str) else None,
    )


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    # Some compatible servers send arguments as an object rather than its JSON text.
    return "" if value is None else orjson.dumps(value).decode()


class _PendingCall:
    """A streamed tool call whose arguments are still arriving."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.name = ""
        self.id: str | None = None
        self.arguments: list[str] = []

    def add(self, piece: dict[str, Any]) -> None:
        function = as_dict(piece.get("function"))
        # Name and id come whole in the first piece; only arguments arrive in fragments.
        self.name = self.name or as_str(function.get("name"))
        self.id = self.id or as_str(piece.get("id")) or None
        self.arguments.append(as_str(function.get("arguments")))

    def done(self) -> ToolCall:
        return ToolCall(self.name, "".join(self.arguments), self.id)


class ChatStreamParser:
    """Chat completion chunks (`delta.content`, `delta.tool_calls`) and legacy `text` ones.

    Tool calls are reported whole: when their choice finishes, or at `[DONE]` for a stream
    cut short of a finish reason.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        # Keyed by (choice index, tool call index): with n > 1 each choice has its own calls.
        self._pending: dict[tuple[int, int], _PendingCall] = {}

    def feed(self, data: str, event: str | None) -> StreamDelta:
        if data.strip() == "[DONE]":
            return StreamDelta(tool_calls=self._finish(None), done=True)
        chunk = load_event(data)
        if not chunk:
            return _EMPTY
        texts: list[str] = []
        finished: list[ToolCall] = []
        choices = chunk.get("choices")
        for raw in as_list(choices):
            choice = as_dict(raw)
            index = as_int(choice.get("index")) or 0
            delta = as_dict(choice.get("delta"))
            text = delta.get("content", choice.get("text"))
            if isinstance(text, str):
                texts.append(text)
            for piece in as_list(delta.get("tool_calls")):
                piece = as_dict(piece)
                self._pending_call(index, as_int(piece.get("index")) or 0).add(piece)
            legacy = delta.get("function_call")
            if isinstance(legacy, dict):
                # The legacy single function call streams like one tool call at index -1.
                self._pending_call(index, -1).add({"function": legacy})
            if isinstance(choice.get("finish_reason"), str):
                finished += self._finish(index)
        usage = usage_from(chunk.get("usage"), "prompt_tokens", "completion_tokens")
        return StreamDelta(
            text="".join(texts),
            tool_calls=tuple(finished),
            usage=usage,
            # The chunk `stream_options.include_usage` adds at the end: no choices at all.
            usage_only=usage is not None and choices == [],
        )

    def _pending_call(self, choice: int, index: int) -> _PendingCall:
        key = (choice, index)
        call = self._pending.get(key)
        if call is None:
            call = self._pending[key] = _PendingCall()
        return call

    def _finish(self, choice: int | None) -> tuple[ToolCall, ...]:
        keys = [key for key in self._pending if choice is None or key[0] == choice]
        return tuple(self._pending.pop(key).done() for key in keys)


class ResponsesStreamParser:
    """The responses API's typed events; each output item arrives whole when it is done."""

    __slots__ = ()

    def feed(self, data: str, event: str | None) -> StreamDelta:
        payload = load_event(data)
        kind = as_str(payload.get("type")) or event
        if kind == "response.output_text.delta":
            return StreamDelta(text=as_str(payload.get("delta")))
        if kind == "response.output_item.done":
            item = as_dict(payload.get("item"))
            if item.get("type") in ("function_call", "custom_tool_call"):
                return StreamDelta(tool_calls=(tool_call_from(item),))
            return _EMPTY
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = as_dict(payload.get("response"))
            usage = usage_from(response.get("usage"), "input_tokens", "output_tokens")
            return StreamDelta(usage=usage, done=True)
        return _EMPTY
