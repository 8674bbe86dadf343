"""However the upstream's writes cut a stream, the parsers see the same text, calls and usage.

Raw SSE bytes go through the proxy's `SseSplitter` and `parse_event`, then an adapter's
stream parser, once whole and once cut at arbitrary points, with `\\n` and `\\r\\n` line ends.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given, strategies as st

from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.base import ProviderAdapter
from wardgate.providers.call import LLMCall, ToolCall, Usage
from wardgate.providers.openai import OpenAIAdapter
from wardgate.proxy.sse import SseSplitter, parse_event


def _sse(*events: tuple[str | None, object]) -> bytes:
    lines = []
    for name, data in events:
        if name is not None:
            lines.append(f"event: {name}\n")
        text = data if isinstance(data, str) else orjson.dumps(data).decode()
        lines.append(f"data: {text}\n\n")
    return "".join(lines).encode()


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1_720_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


def _tool(index: int, arguments: str, call_id: str = "", name: str = "") -> dict[str, object]:
    piece: dict[str, object] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        piece |= {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return {"tool_calls": [piece]}


# An OpenAI chat stream with `stream_options.include_usage`: text (multi-byte characters
# included), two tool calls whose arguments interleave, the usage-only chunk and [DONE].
OPENAI_STREAM = _sse(
    (None, _chunk({"role": "assistant", "content": "", "refusal": None})),
    (None, _chunk({"content": "Grüße aus "})),
    (None, _chunk({"content": "Köln 🌧️, "})),
    (None, _chunk({"content": "checking…"})),
    (None, _chunk(_tool(0, "", "call_AAA", "get_weather"))),
    (None, _chunk(_tool(0, '{"city": "Kö'))),
    (None, _chunk(_tool(1, "", "call_BBB", "get_time"))),
    (None, _chunk(_tool(0, 'ln", "unit": "c"}'))),
    (None, _chunk(_tool(1, '{"tz": "Europe/Berlin"}'))),
    (None, _chunk({}, "tool_calls")),
    (
        None,
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1_720_000_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [],
            "usage": {"prompt_tokens": 112, "completion_tokens": 58, "total_tokens": 170},
        },
    ),
    (None, "[DONE]"),
)


def _block_delta(index: int, delta: dict[str, object]) -> tuple[str, dict[str, object]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


# An Anthropic messages stream: text, then a tool_use block with partial JSON, ping events,
# and usage in message_start and (cumulative) message_delta.
ANTHROPIC_STREAM = _sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2},
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    _block_delta(0, {"type": "text_delta", "text": "Okay, let me check "}),
    _block_delta(0, {"type": "text_delta", "text": "the weather in São Paulo ☀️."}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    _block_delta(1, {"type": "input_json_delta", "partial_json": ""}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": '{"location": "São'}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": ' Paulo", "unit": "c"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)


@dataclass
class Result:
    """What a whole stream added up to."""

    text: str
    tool_calls: list[ToolCall]
    usage: Usage | None
    usage_only_events: int
    done: bool


def _run(adapter: ProviderAdapter, call: LLMCall, pieces: list[bytes]) -> Result:
    splitter = SseSplitter()
    parser = adapter.stream_parser(call)
    result = Result("", [], None, 0, False)
    raws = [raw for piece in pieces for raw in splitter.feed(piece)]
    assert splitter.rest() == b""
    for index, raw in enumerate(raws):
        event = parse_event(raw, index)
        delta = parser.feed(event.data, event.event)
        result.text += delta.text
        result.tool_calls += delta.tool_calls
        result.usage = delta.usage or result.usage
        result.usage_only_events += delta.usage_only
        result.done = result.done or delta.done
    return result


def _cut(raw: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(points), len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(bounds)]


CASES = [
    (
        OpenAIAdapter(),
        LLMCall(operation="chat", model="gpt-4o-mini", stream=True, stream_usage=True),
        OPENAI_STREAM,
        Result(
            "Grüße aus Köln 🌧️, checking…",
            [
                ToolCall("get_weather", '{"city": "Köln", "unit": "c"}', "call_AAA"),
                ToolCall("get_time", '{"tz": "Europe/Berlin"}', "call_BBB"),
            ],
            Usage(112, 58),
            1,
            True,
        ),
    ),
    (
        AnthropicAdapter(),
        LLMCall(operation="messages", model="claude-sonnet-4-5", stream=True),
        ANTHROPIC_STREAM,
        Result(
            "Okay, let me check the weather in São Paulo ☀️.",
            [ToolCall("get_weather", '{"location":"São Paulo","unit":"c"}', "toolu_01T1x")],
            Usage(472, 89),
            0,
            True,
        ),
    ),
]
IDS = ["openai", "anthropic"]
LINE_ENDS = pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])


@pytest.mark.parametrize(("adapter", "call", "raw", "expected"), CASES, ids=IDS)
@LINE_ENDS
def test_whole_stream(
    adapter: ProviderAdapter, call: LLMCall, raw: bytes, expected: Result, crlf: bool
) -> None:
    raw = raw.replace(b"\n", b"\r\n") if crlf else raw
    assert _run(adapter, call, [raw]) == expected


@pytest.mark.parametrize(("adapter", "call", "raw", "expected"), CASES, ids=IDS)
@LINE_ENDS
@given(data=st.data())
def test_split_anywhere(
    adapter: ProviderAdapter,
    call: LLMCall,
    raw: bytes,
    expected: Result,
    crlf: bool,
    data: st.DataObject,
) -> None:
    raw = raw.replace(b"\n", b"\r\n") if crlf else raw
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    assert _run(adapter, call, _cut(raw, points)) == expected


@pytest.mark.parametrize(("adapter", "call", "raw", "expected"), CASES, ids=IDS)
def test_byte_by_byte(
    adapter: ProviderAdapter, call: LLMCall, raw: bytes, expected: Result
) -> None:
    assert _run(adapter, call, [raw[i : i + 1] for i in range(len(raw))]) == expected
