"""OpenAI streams: chat chunks as OpenAI sends them, and the responses API's events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from wardgate.providers.call import LLMCall, StreamDelta, ToolCall, Usage
from wardgate.providers.openai import OpenAIAdapter

ADAPTER = OpenAIAdapter()


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        **extra,
    }
    ChatCompletionChunk.model_validate(body)  # the fixture is a real chunk shape
    return orjson.dumps(body).decode()


def tool_piece(index: int, arguments: str, **first: str) -> dict[str, Any]:
    function = {"arguments": arguments} | ({"name": first["name"]} if first else {})
    piece: dict[str, Any] = {"index": index, "function": function}
    if first:
        piece |= {"id": first["id"], "type": "function"}
    return {"tool_calls": [piece]}


def test_chat_stream() -> None:
    parser = ADAPTER.stream_parser(LLMCall(operation="chat", model="m"))
    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Checking"}),
        chunk(tool_piece(0, "", id="call_a", name="get_weather")),
        chunk(tool_piece(0, '{"loca')),
        chunk(tool_piece(1, "", id="call_b", name="get_time")),
        chunk(tool_piece(0, 'tion":"Rome"}')),
        chunk(tool_piece(1, "{}")),
        chunk(finish="tool_calls"),
        chunk(
            None,
            choices=[],
            usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
        ),
        "[DONE]",
    ]
    deltas = [parser.feed(data, None) for data in events]
    assert "".join(d.text for d in deltas) == "Checking"
    # Reported once each, whole, when the choice finishes.
    assert deltas[7].tool_calls == (
        ToolCall("get_weather", '{"location":"Rome"}', "call_a"),
        ToolCall("get_time", "{}", "call_b"),
    )
    assert [d.tool_calls for d in deltas[:7]] == [()] * 7
    assert deltas[8] == StreamDelta(usage=Usage(9, 4), usage_only=True)
    assert deltas[9] == StreamDelta(done=True)


def test_chat_stream_cut_short_reports_tool_calls_at_done() -> None:
    parser = ADAPTER.stream_parser(LLMCall(operation="chat", model="m"))
    parser.feed(chunk(tool_piece(0, '{"a":1}', id="call_x", name="f")), None)
    assert parser.feed("[DONE]", None) == StreamDelta(
        tool_calls=(ToolCall("f", '{"a":1}', "call_x"),), done=True
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # usage on every chunk (include_usage): null until the end
        (chunk({"content": "x"}, usage=None), StreamDelta(text="x")),
        # Azure's first chunk: no choices, no usage: not a usage-only event
        ('{"choices": [], "prompt_filter_results": []}', StreamDelta()),
        # a compatible server's usage beside content: usage, but not usage-only
        (
            chunk(
                {"content": "y"},
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            ),
            StreamDelta(text="y", usage=Usage(1, 1)),
        ),
        # legacy completions
        ('{"choices": [{"text": "z", "index": 0}]}', StreamDelta(text="z")),
        ("", StreamDelta()),
        ("{broken", StreamDelta()),
        ('{"choices": [{"delta": {"tool_calls": [7]}}]}', StreamDelta()),
    ],
)
def test_chat_stream_events(data: str, expected: StreamDelta) -> None:
    parser = ADAPTER.stream_parser(LLMCall(operation="chat", model="m"))
    assert parser.feed(data, None) == expected


def test_responses_stream() -> None:
    parser = ADAPTER.stream_parser(LLMCall(operation="responses", model="m"))
    item = {"type": "function_call", "call_id": "call_3", "name": "f", "arguments": '{"x":1}'}
    events = [
        ("response.created", {"type": "response.created", "response": {"status": "in_progress"}}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hel"}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "lo"}),
        ("response.output_item.done", {"type": "response.output_item.done", "item": item}),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {"usage": {"input_tokens": 5, "output_tokens": 2}},
            },
        ),
    ]
    deltas = [parser.feed(orjson.dumps(body).decode(), name) for name, body in events]
    assert "".join(d.text for d in deltas) == "Hello"
    assert deltas[3].tool_calls == (ToolCall("f", '{"x":1}', "call_3"),)
    assert deltas[4] == StreamDelta(usage=Usage(5, 2), done=True)
