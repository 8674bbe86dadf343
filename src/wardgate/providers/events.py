"""Rewriting the answer text of one streamed event, in any provider's event shape.

A response check that neutralizes a span of a streamed answer (an exfiltration image
becomes its alt text) rewrites the events still held back. Each event is rebuilt with the
same fields and framing; only its text changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["CallArguments", "with_event_text"]


def with_event_text(raw: bytes, text: str) -> bytes | None:
    """`raw` (one SSE event) with its answer text replaced by `text`; None when the event
    is not one whose single text delta we know how to rewrite."""
    return _rewritten(raw, lambda event: _set_text(event, text))


def _rewritten(raw: bytes, change: Callable[[dict[str, Any]], bool]) -> bytes | None:
    """`raw` (one SSE event with one `data:` line of JSON) with `change` applied to its
    object, framing kept; None when it has no such line or `change` declines."""
    lines = raw.decode("utf-8", "replace").splitlines()
    data_lines = [i for i, line in enumerate(lines) if line.startswith("data:")]
    if len(data_lines) != 1:
        return None
    index = data_lines[0]
    try:
        event = orjson.loads(lines[index][5:].strip())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or not change(event):
        return None
    lines[index] = "data: " + orjson.dumps(event).decode()
    return ("\n".join(lines) + "\n\n").encode()


def _set_text(event: dict[str, Any], text: str) -> bool:
    choices = event.get("choices")
    if isinstance(choices, list):
        if len(choices) != 1 or not isinstance(choices[0], dict):
            return False
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            delta["content"] = text
            return True
        if isinstance(choice.get("text"), str):  # completions
            choice["text"] = text
            return True
        return False
    delta = event.get("delta")
    if event.get("type") == "response.output_text.delta" and isinstance(delta, str):
        event["delta"] = text
        return True
    if event.get("type") != "content_block_delta" or not isinstance(delta, dict):
        return False
    if delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str):
        return False
    delta["text"] = text  # Anthropic
    return True


class CallArguments:
    """Rewrites the streamed arguments of one OpenAI tool call `(choice, index)`: the first
    fragment carries the whole new text, the later ones become empty (clients join the
    fragments, so the call is the same). Only when the call's opening fragment (the one
    with its id and name) is among the events offered: otherwise part of it has been sent
    and nothing is changed. One instance per rewrite."""

    def __init__(self, choice: int, index: int, text: str) -> None:
        self._choice, self._index, self._text = choice, index, text
        self._placed = False
        self._abandoned = False

    def __call__(self, raw: bytes) -> bytes | None:
        return None if self._abandoned else _rewritten(raw, self._rewrite)

    def _rewrite(self, event: dict[str, Any]) -> bool:
        changed = False
        choices = event.get("choices")
        for number, choice in enumerate(choices if isinstance(choices, list) else []):
            if not isinstance(choice, dict) or choice.get("index", number) != self._choice:
                continue
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            for call in calls if isinstance(calls, list) else []:
                function = call.get("function") if isinstance(call, dict) else None
                if (
                    not isinstance(function, dict)
                    or call.get("index", 0) != self._index
                    or not isinstance(function.get("arguments"), str)
                ):
                    continue
                if not self._placed and not (call.get("id") or function.get("name")):
                    self._abandoned = True  # the opening fragment has left already
                    return False
                function["arguments"] = "" if self._placed else self._text
                self._placed = changed = True
        return changed
