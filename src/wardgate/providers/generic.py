"""Any HTTP API: plain problem details, and AI calls only where the operator says where.

Unconfigured, a generic route carries no AI calls. Configured with `GenericPaths`, any JSON
body is one: simple dotted paths (`messages[*].content`, `usage.input`) say where the
model, the prompt text, the output text and the usage sit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.providers.base import Problem, StreamParser
from wardgate.providers.body import as_int, load_request
from wardgate.providers.call import LLMCall, LLMOutput, Message, Origin, StreamDelta, Usage

__all__ = ["GenericAdapter", "GenericPaths", "GenericStreamParser"]

# A path is dotted keys, each followed by any number of `[n]` or `[*]` steps.
_PATH = re.compile(r"[^.\[\]]+(?:\[(?:\d+|\*)\])*(?:\.[^.\[\]]+(?:\[(?:\d+|\*)\])*)*")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")
_ANY = object()  # the `[*]` step

Step = str | int | object  # a key, an index, or `_ANY`


@dataclass(frozen=True, slots=True)
class GenericPaths:
    """Where an operator's AI API keeps what the checks read.

    Each value is a path like `model`, `input`, `messages[*].content` or
    `choices[0].text`; a path that matches nothing is simply absent.
    """

    model: str | None = None
    text: tuple[str, ...] = ()  # prompt text; each string match is one USER message
    max_tokens: str | None = None
    stream: str | None = None
    usage_input: str | None = None
    usage_output: str | None = None
    output_text: tuple[str, ...] = ()  # response text, in JSON and in each stream event

    def __post_init__(self) -> None:
        # A bad path fails when the policy loads, not on the first request.
        single = (self.model, self.max_tokens, self.stream, self.usage_input, self.usage_output)
        for path in (*single, *self.text, *self.output_text):
            if path is not None:
                _compile(path)


@functools.lru_cache(maxsize=256)
def _compile(path: str) -> tuple[Step, ...]:
    if not _PATH.fullmatch(path):
        raise ValueError(f"invalid JSON path {path!r} (expected e.g. messages[*].content)")
    steps: list[Step] = []
    for key, index in _STEP.findall(path):
        if key:
            steps.append(key)
        else:
            steps.append(_ANY if index == "*" else int(index))
    return tuple(steps)


def _matches(path: str | None, value: Any) -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) that `path` matches in `value`."""
    if path is None:
        return iter(())
    return _find(_compile(path), value, "")


def _first(path: str | None, value: Any) -> Any:
    return next((found for _, found in _matches(path, value)), None)


def _find(steps: tuple[Step, ...], value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if not steps:
        yield prefix, value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, str):
        if isinstance(value, dict) and step in value:
            yield from _find(rest, value[step], f"{prefix}.{step}" if prefix else step)
    elif isinstance(value, list):
        indexes = range(len(value)) if step is _ANY else [step]
        for index in indexes:
            if isinstance(index, int) and 0 <= index < len(value):
                yield from _find(rest, value[index], f"{prefix}[{index}]")


class GenericAdapter:
    name = "generic"

    def __init__(self, paths: GenericPaths | None = None) -> None:
        self.paths = paths

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {}

    def error_event(self, problem: Problem) -> bytes:
        return b"event: error\ndata: " + orjson.dumps(problem.as_dict()) + b"\n\n"

    def parse_request(self, path: str, body: bytes) -> LLMCall | None:
        paths = self.paths
        # An empty body (a GET, a health probe) carries nothing to check on any route.
        if paths is None or not body.strip():
            return None
        data = load_request(body, object_only=False)
        model = _first(paths.model, data)
        max_tokens = as_int(_first(paths.max_tokens, data))
        messages = [
            Message("user", Origin.USER, found, where)
            for text_path in paths.text
            for where, found in _matches(text_path, data)
            if isinstance(found, str)
        ]
        return LLMCall(
            operation="generic",
            model=model if isinstance(model, str) else None,
            messages=tuple(messages),
            stream=_first(paths.stream, data) is True,
            max_tokens=max_tokens if max_tokens is not None and max_tokens >= 0 else None,
        )

    def parse_response(self, call: LLMCall, body: bytes) -> LLMOutput:
        if self.paths is None:
            return LLMOutput()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return LLMOutput()
        return LLMOutput(text=_output_text(self.paths, data), usage=_usage(self.paths, data))

    def stream_parser(self, call: LLMCall) -> StreamParser:
        return GenericStreamParser(self.paths or GenericPaths())

    def with_stream_usage(self, call: LLMCall, body: bytes) -> bytes | None:
        return None

    def with_max_tokens(self, call: LLMCall, body: bytes, limit: int) -> bytes:
        """Sets every existing match; an unmatched plain path (no `[..]`) is created."""
        paths = self.paths
        if paths is None or paths.max_tokens is None:
            return body
        data = load_request(body, object_only=False)
        steps = _compile(paths.max_tokens)
        if not _assign(steps, data, limit) and all(isinstance(s, str) for s in steps):
            _create(steps, data, limit)
        return orjson.dumps(data)


def _output_text(paths: GenericPaths, data: Any) -> str:
    return "".join(
        found
        for text_path in paths.output_text
        for _, found in _matches(text_path, data)
        if isinstance(found, str)
    )


def _usage(paths: GenericPaths, data: Any) -> Usage | None:
    input_tokens = as_int(_first(paths.usage_input, data))
    output_tokens = as_int(_first(paths.usage_output, data))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens or 0, output_tokens or 0)


def _assign(steps: tuple[Step, ...], value: Any, limit: int) -> bool:
    """Replace every match of `steps` in place; whether there was any."""
    *parents, last = steps
    assigned = False
    for _, parent in _find(tuple(parents), value, ""):
        if isinstance(last, str) and isinstance(parent, dict) and last in parent:
            parent[last] = limit
            assigned = True
        elif isinstance(parent, list):
            indexes = range(len(parent)) if last is _ANY else [last]
            for index in indexes:
                if isinstance(index, int) and 0 <= index < len(parent):
                    parent[index] = limit
                    assigned = True
    return assigned


def _create(steps: tuple[Step, ...], value: Any, limit: int) -> None:
    """Create `a.b.c` (plain keys only) through objects, where none of it is in the way."""
    *parents, last = steps
    for step in parents:
        if not isinstance(value, dict):
            return
        value = value.setdefault(step, {})
    if isinstance(value, dict) and isinstance(last, str):
        value[last] = limit


class GenericStreamParser:
    """Each event's data read as JSON with the same paths; `[DONE]` ends the stream."""

    __slots__ = ("_paths",)

    def __init__(self, paths: GenericPaths) -> None:
        self._paths = paths

    def feed(self, data: str, event: str | None) -> StreamDelta:
        if data.strip() == "[DONE]":
            return StreamDelta(done=True)
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return StreamDelta()
        return StreamDelta(
            text=_output_text(self._paths, payload), usage=_usage(self._paths, payload)
        )
