"""Generic adapter: no AI calls unless configured; configured, paths say where things are."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from wardgate.errors import MalformedRequest
from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.call import LLMCall, LLMOutput, Message, Origin, StreamDelta, Usage
from wardgate.providers.generic import GenericAdapter, GenericPaths
from wardgate.providers.registry import ADAPTERS, adapter_for, get_adapter

PATHS = GenericPaths(
    model="model",
    text=("messages[*].content", "context.documents[*]"),
    max_tokens="parameters.max_new_tokens",
    stream="stream",
    usage_input="usage.prompt",
    usage_output="usage.generated",
    output_text=("choices[*].text",),
)
ADAPTER = GenericAdapter(PATHS)
CALL = LLMCall(operation="generic", model=None)


@pytest.mark.parametrize(
    "path",
    [
        "model",
        "messages[*].content",
        "choices[0].text",
        "a.b.c",
        "rows[*][*]",  # nested lists
        "x-y_z.key with spaces",
    ],
)
def test_paths_accepted(path: str) -> None:
    GenericPaths(model=path, text=(path,))


@pytest.mark.parametrize(
    "path",
    ["", ".model", "model.", "a..b", "[*]", "messages[x]", "messages[*", "messages[-1]"],
)
def test_paths_rejected(path: str) -> None:
    with pytest.raises(ValueError, match=r"invalid JSON path .* \(expected e.g. messages"):
        GenericPaths(text=(path,))


def test_unconfigured_is_not_an_ai_call() -> None:
    assert GenericAdapter().parse_request("/v1/chat/completions", b'{"model": "m"}') is None
    assert GenericAdapter().parse_request("/x", b"not json") is None


def test_parse_request() -> None:
    body = {
        "model": "llama-3-70b",
        "messages": [
            {"role": "system", "content": "Hello"},
            {"role": "user", "content": ["not", "a string"]},  # not a string: skipped
            {"role": "user", "content": "World"},
        ],
        "context": {"documents": ["doc one", 7]},
        "parameters": {"max_new_tokens": 200},
        "stream": True,
    }
    assert ADAPTER.parse_request("/generate", orjson.dumps(body)) == LLMCall(
        operation="generic",
        model="llama-3-70b",
        messages=(
            Message("user", Origin.USER, "Hello", "messages[0].content"),
            Message("user", Origin.USER, "World", "messages[2].content"),
            Message("user", Origin.USER, "doc one", "context.documents[0]"),
        ),
        stream=True,
        max_tokens=200,
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[1, 2]", LLMCall(operation="generic", model=None)),  # any JSON is a call
        (b'"just a string"', LLMCall(operation="generic", model=None)),
        # wrong types where the paths point are simply not read
        (
            b'{"model": 5, "stream": "yes", "parameters": {"max_new_tokens": true}}',
            LLMCall(operation="generic", model=None),
        ),
        (b'{"parameters": {"max_new_tokens": -4}}', LLMCall(operation="generic", model=None)),
    ],
)
def test_lenient_bodies(body: bytes, expected: LLMCall) -> None:
    assert ADAPTER.parse_request("/generate", body) == expected


def test_empty_body_is_not_a_call() -> None:
    assert ADAPTER.parse_request("/health", b"") is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{oops", "body is not valid JSON"),
        (b"\x80", "body is not valid JSON"),
        (b"[" * 65 + b"]" * 65, "deeper than 64"),
    ],
)
def test_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        ADAPTER.parse_request("/generate", body)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


# Strings full of brackets, quotes and backslashes: what could fool a depth count on bytes.
TRICKY = st.text(alphabet='[]{}"\\ab', max_size=6)


@st.composite
def nested(draw: st.DrawFn, levels: int) -> object:
    """A value exactly `levels` deep, with tricky strings beside the deepest branch."""
    value: object = draw(TRICKY)
    for _ in range(levels):
        side = draw(st.lists(TRICKY, max_size=2))
        if draw(st.booleans()):
            value = [*side, value]
        else:
            value = {**{f"k{i}{text}": text for i, text in enumerate(side)}, draw(TRICKY): value}
    return value


@given(value=st.integers(60, 68).flatmap(nested))
def test_depth_limit_is_exact(value: object) -> None:
    body = orjson.dumps(value)
    if _depth(value) > 64:
        with pytest.raises(MalformedRequest, match="deeper than 64"):
            ADAPTER.parse_request("/x", body)
    else:
        assert ADAPTER.parse_request("/x", body) is not None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["model", "messages", "content", "choices", "text", "usage"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300)
@given(value=JSON)
def test_fuzz(value: object) -> None:
    raw = orjson.dumps(value)
    assert isinstance(ADAPTER.parse_request("/x", raw), LLMCall)
    assert isinstance(ADAPTER.parse_response(CALL, raw), LLMOutput)
    assert isinstance(ADAPTER.stream_parser(CALL).feed(raw.decode(), None), StreamDelta)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"choices": [{"text": "Hel"}, {"text": "lo"}], "usage": {"prompt": 5, "generated": 2}},
            LLMOutput("Hello", usage=Usage(5, 2)),
        ),
        ({"usage": {"generated": 2}}, LLMOutput(usage=Usage(0, 2))),
        ({"choices": "nope"}, LLMOutput()),
    ],
)
def test_parse_response(body: dict[str, Any], expected: LLMOutput) -> None:
    assert ADAPTER.parse_response(CALL, orjson.dumps(body)) == expected


def test_parse_response_not_json() -> None:
    assert ADAPTER.parse_response(CALL, b"<html>") == LLMOutput()


def test_stream() -> None:
    parser = ADAPTER.stream_parser(CALL)
    assert parser.feed('{"choices": [{"text": "Hi"}]}', None) == StreamDelta(text="Hi")
    assert parser.feed("plain text event", "message") == StreamDelta()
    assert parser.feed('{"usage": {"prompt": 3, "generated": 9}}', None) == StreamDelta(
        usage=Usage(3, 9)
    )
    assert parser.feed("[DONE]", None) == StreamDelta(done=True)


@pytest.mark.parametrize(
    ("paths", "body", "expected"),
    [
        # the configured field is replaced
        (PATHS, {"parameters": {"max_new_tokens": 900}}, {"parameters": {"max_new_tokens": 10}}),
        # absent: created along a plain path
        (PATHS, {"prompt": "x"}, {"prompt": "x", "parameters": {"max_new_tokens": 10}}),
        # something else in the way: left alone rather than clobbered
        (PATHS, {"parameters": "fast"}, {"parameters": "fast"}),
        # wildcards replace every match
        (
            GenericPaths(max_tokens="requests[*].max_tokens"),
            {"requests": [{"max_tokens": 5}, {"max_tokens": 50}, {}]},
            {"requests": [{"max_tokens": 10}, {"max_tokens": 10}, {}]},
        ),
        # not configured: the body is unchanged
        (GenericPaths(model="model"), {"max_tokens": 5}, {"max_tokens": 5}),
    ],
)
def test_with_max_tokens(paths: GenericPaths, body: dict[str, Any], expected: object) -> None:
    adapter = GenericAdapter(paths)
    call = adapter.parse_request("/x", orjson.dumps(body))
    assert call is not None
    assert orjson.loads(adapter.with_max_tokens(call, orjson.dumps(body), 10)) == expected
    assert adapter.with_stream_usage(call, orjson.dumps(body)) is None


def test_adapter_for() -> None:
    configured = adapter_for("generic", PATHS)
    assert isinstance(configured, GenericAdapter)
    assert configured.paths == PATHS
    assert adapter_for("generic") is ADAPTERS["generic"]  # the shared, unconfigured one
    assert adapter_for("anthropic") is get_adapter("anthropic")
    assert adapter_for("anthropic", PATHS) is get_adapter("anthropic")  # paths are generic's
    assert isinstance(adapter_for("anthropic"), AnthropicAdapter)
    with pytest.raises(KeyError, match="unknown provider 'nope'"):
        adapter_for("nope")
