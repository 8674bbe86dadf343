"""Where the text is in an AI answer: whole responses and streamed events, every provider.

Response checks (unsafe output, leakage, sensitive data) read and rewrite the same places:
the answer texts and the tool-call arguments of OpenAI chat and completions, the OpenAI
Responses API and Anthropic messages. Whole answers yield `(holder, key, slot)` so a check
can rewrite `holder[key]` in place; streamed events yield `(answer index, text)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

__all__ = ["answer_texts", "argument_deltas", "call_arguments", "event_object", "text_deltas"]

Holder = tuple[dict[str, Any], str, str]


def event_object(data: str) -> dict[str, Any] | None:
    """One streamed event's data as a JSON object; None for `[DONE]`, text or garbage."""
    if not data or data == "[DONE]":
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def answer_texts(body: dict[str, Any]) -> Iterator[Holder]:
    """(holder, key, slot) of every answer text in a whole OpenAI or Anthropic response."""
    choices = body.get("choices")
    if isinstance(choices, list):
        for index, choice in enumerate(choices):
            message = choice.get("message") if isinstance(choice, dict) else None
            where = f"json:choices[{index}].message"
            if isinstance(message, dict):
                content = message.get("content")
                if isinstance(content, str):
                    yield message, "content", f"{where}.content"
                elif isinstance(content, list):  # content parts, as some upstreams answer
                    yield from _text_parts(content, f"{where}.content")
                if isinstance(message.get("refusal"), str):
                    yield message, "refusal", f"{where}.refusal"
            elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
                yield choice, "text", f"json:choices[{index}].text"
        return
    output = body.get("output")
    if isinstance(output, list):  # OpenAI responses
        for index, item in enumerate(output):
            parts = item.get("content") if isinstance(item, dict) else None
            if isinstance(parts, list):
                yield from _text_parts(parts, f"json:output[{index}].content")
        return
    content = body.get("content")
    if isinstance(content, list):
        for index, block in enumerate(content):
            text_block = isinstance(block, dict) and block.get("type") == "text"
            if text_block and isinstance(block.get("text"), str):
                yield block, "text", f"json:content[{index}].text"


def _text_parts(parts: list[Any], slot: str) -> Iterator[Holder]:
    for index, part in enumerate(parts):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            yield part, "text", f"{slot}[{index}].text"


def call_arguments(body: dict[str, Any]) -> Iterator[Holder]:
    """(holder, key, slot) of every tool call's arguments in a whole answer. `holder[key]`
    is JSON text (OpenAI) or the parsed arguments themselves (Anthropic `tool_use.input`)."""
    choices = body.get("choices")
    for index, choice in enumerate(choices if isinstance(choices, list) else []):
        message = choice.get("message") if isinstance(choice, dict) else None
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for number, call in enumerate(calls if isinstance(calls, list) else []):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                slot = f"json:choices[{index}].message.tool_calls[{number}].function.arguments"
                yield function, "arguments", slot
    for key in ("content", "output"):
        items = body.get(key)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "tool_use" and "input" in item:
                yield item, "input", f"json:{key}[{index}].input"
            elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
                yield item, "arguments", f"json:{key}[{index}].arguments"


def text_deltas(data: str) -> list[tuple[int, str]]:
    """(answer index, text) that one streamed event adds: OpenAI chat and completion
    chunks, OpenAI responses events and Anthropic deltas."""
    event = event_object(data)
    if event is None:
        return []
    choices = event.get("choices")
    if isinstance(choices, list):
        found = []
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            number = choice.get("index")
            number = number if isinstance(number, int) and 0 <= number < 128 else position
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for key in ("content", "refusal"):
                    if isinstance(delta.get(key), str) and delta[key]:
                        found.append((number, delta[key]))
            elif isinstance(choice.get("text"), str):
                found.append((number, choice["text"]))
        return found
    delta = event.get("delta")
    kind = event.get("type")
    if kind == "response.output_text.delta" and isinstance(delta, str):
        return [(0, delta)]
    if kind == "content_block_delta" and isinstance(delta, dict):
        text = delta.get("text")
        return [(0, text)] if isinstance(text, str) else []
    return []


def argument_deltas(data: str) -> list[tuple[int, str]]:
    """(answer index, argument text) one streamed event adds to tool calls."""
    event = event_object(data)
    if event is None:
        return []
    found: list[tuple[int, str]] = []
    choices = event.get("choices")
    for position, choice in enumerate(choices if isinstance(choices, list) else []):
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str) and arguments:
                found.append((position, arguments))
    delta = event.get("delta")
    if event.get("type") == "content_block_delta" and isinstance(delta, dict):
        partial = delta.get("partial_json")
        if isinstance(partial, str) and partial:
            found.append((0, partial))
    if event.get("type") == "response.function_call_arguments.delta" and isinstance(delta, str):
        found.append((0, delta))
    return found
