"""`tools`: which tools a model may call, and with which arguments (excessive agency).

A model asked to act can be talked into calling a tool it should not, or a permitted tool
with arguments that reach the internal network or a shell. This check judges every tool
call in the model's answer against the route's policy before the client (the agent that
would run it) sees it: in a whole answer the denied calls are removed or the answer is
refused, per policy; in a stream a denied call ends the stream, with the provider's error
event, before the event that names it (or completes its arguments) is released.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
from pydantic import Field

from wardgate.checks.base import CheckSettings, StrictModel, answer_json
from wardgate.decision import Decision, Finding
from wardgate.detect.tools import (
    ToolCallAssembler,
    ToolRules,
    ToolViolation,
    filter_anthropic_content,
    filter_openai_message,
)
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import StreamEvent
from wardgate.providers.answers import event_object

__all__ = ["Config", "ToolPolicy", "ToolsCheck"]

_ASSEMBLER = "tools.assembler"
_JUDGED = "tools.judged"
_CALLS_PER_CHOICE = 1024
_MAX_CHOICES = 128
_LEGACY_INDEX = _CALLS_PER_CHOICE - 1  # the pre-tools `function_call` of a choice


class ToolPolicy(StrictModel):
    """What one tool may be called with."""

    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="JSON Schema its arguments must satisfy (draft 4, 6 or 7; remote $refs "
        "are refused).",
    )
    shell: bool = Field(
        default=False,
        description="Its arguments reach a shell: no shell syntax, no leading `-` options.",
    )


class Config(CheckSettings):
    """Tool-call policy for AI routes (OpenAI tool calls, Anthropic tool_use blocks)."""

    type: Literal["tools"] = "tools"
    allowed: list[str] | None = Field(
        default=None,
        description="Tool names the model may call; omit to allow any name (the argument "
        "checks still apply).",
    )
    tools: dict[str, ToolPolicy] = Field(
        default_factory=dict, description="Per-tool argument policy, by tool name."
    )
    internal_urls: bool = Field(
        default=True,
        description="Deny calls whose arguments point at loopback, private, link-local or "
        "metadata addresses, or use dangerous URL schemes (SSRF through tools).",
    )
    max_argument_bytes: int = Field(
        default=65_536, gt=0, description="Largest arguments (UTF-8 JSON) accepted."
    )
    on_violation: Literal["remove", "block"] = Field(
        default="remove",
        description="A denied call in a whole answer: remove it (the rest of the answer is "
        "delivered) or refuse the answer (403). A stream always ends at a denied call.",
    )


class ToolsCheck:
    phases = frozenset({Phase.RESPONSE_BODY, Phase.RESPONSE_CHUNK})
    needs_call = True

    def __init__(self, config: Config) -> None:
        self._config = config
        self._rules = ToolRules(
            allowed=frozenset(config.allowed) if config.allowed is not None else None,
            schemas={n: t.schema_ for n, t in config.tools.items() if t.schema_ is not None},
            shell_tools=frozenset(n for n, t in config.tools.items() if t.shell),
            url_arguments=config.internal_urls,
            max_argument_bytes=config.max_argument_bytes,
        )

    async def check_response(self, ex: Exchange) -> Decision:
        body = answer_json(ex)
        if body is None:
            return Decision.allow()
        filtered, violations = self._filter(body)
        if not violations:
            return Decision.allow()
        findings = [v.finding() for v in violations]
        if self._config.on_violation == "block":
            return Decision.block(403, findings)
        ex.response_body = orjson.dumps(filtered)
        return Decision.modify([], findings)

    def _filter(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[ToolViolation]]:
        violations: list[ToolViolation] = []
        choices = body.get("choices")
        if isinstance(choices, list):
            kept = []
            for choice in choices:
                message = choice.get("message") if isinstance(choice, dict) else None
                if isinstance(message, dict):
                    result = filter_openai_message(message, self._rules)
                    if result.violations:
                        violations.extend(result.violations)
                        choice = {**choice, "message": result.value}
                        if choice.get("finish_reason") == "tool_calls" and not result.value.get(
                            "tool_calls"
                        ):
                            choice["finish_reason"] = "stop"
                kept.append(choice)
            return {**body, "choices": kept}, violations
        output = body.get("output")
        if isinstance(output, list):  # OpenAI responses: calls are output items
            kept_items = []
            for position, item in enumerate(output):
                kind = item.get("type") if isinstance(item, dict) else None
                if kind in ("function_call", "custom_tool_call"):
                    arguments = item.get("arguments", item.get("input", ""))
                    found = self._rules.judge(
                        str(item.get("name", "")),
                        arguments if isinstance(arguments, str) else "",
                    )
                    if found:
                        violations.extend(replace(v, index=position) for v in found)
                        continue
                kept_items.append(item)
            return {**body, "output": kept_items}, violations
        content = body.get("content")
        if body.get("type") == "message" and isinstance(content, list):
            blocks = filter_anthropic_content(content, self._rules)
            if blocks.violations:
                violations.extend(blocks.violations)
                body = {**body, "content": blocks.value}
                if body.get("stop_reason") == "tool_use" and not any(
                    isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks.value
                ):
                    body["stop_reason"] = "end_turn"
        return body, violations

    async def check_chunk(self, ex: Exchange, event: StreamEvent) -> Decision:
        if ex.call is None or not event.data:
            return Decision.allow()
        assembler = ex.vault.get(_ASSEMBLER)
        if assembler is None:
            assembler = ex.vault[_ASSEMBLER] = ToolCallAssembler(self._config.max_argument_bytes)
            ex.vault[_JUDGED] = set()
        judged: set[int] = ex.vault[_JUDGED]
        if event.data == "[DONE]":
            # A stream that ended without a finish reason: judge what is still open.
            return self._judge(assembler, set(), set(assembler.indexes) - judged, judged)
        data = event_object(event.data)
        if data is None:
            return Decision.allow()
        step = _feed(assembler, data)
        if assembler.overflowed or step.unreadable:
            return Decision.block(403, [_OVERFLOW if assembler.overflowed else _UNREADABLE])
        return self._judge(assembler, step.named, step.finished - judged, judged)

    def _judge(
        self, assembler: ToolCallAssembler, named: set[int], finished: set[int], judged: set[int]
    ) -> Decision:
        findings: list[Finding] = []
        for index in sorted(named | finished):
            call = assembler.call(index)
            if index in finished:
                judged.add(index)
                violations = self._rules.judge(call.name, call.arguments or "{}")
            elif self._rules.allowed is not None:
                # Refuse a name the moment it appears, before its event is released.
                violations = [
                    v for v in self._rules.judge(call.name, "{}") if v.rule == "tools.not_allowed"
                ]
            else:
                continue
            findings.extend(v.finding() for v in violations)
        return Decision.block(403, findings) if findings else Decision.allow()


@dataclass
class _Step:
    """What one event did to the calls: the ones it named and the ones it completed."""

    named: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    unreadable: bool = False


def _key(choice: int, index: int) -> int:
    """One assembler index per (choice, call): `n > 1` answers stream calls side by side."""
    return choice * _CALLS_PER_CHOICE + index


def _feed(assembler: ToolCallAssembler, data: dict[str, Any]) -> _Step:
    """Feed one event's tool-call fragments (OpenAI chat, OpenAI responses, Anthropic)."""
    step = _Step()
    choices = data.get("choices")
    if isinstance(choices, list):
        for position, choice in enumerate(choices):
            if isinstance(choice, dict):
                _feed_choice(assembler, choice, position, step)
        return step
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("response."):
        _feed_response_event(assembler, data, kind, step)
        return step
    index = data.get("index")
    if not isinstance(index, int):
        return step
    if kind == "content_block_start":
        block = data.get("content_block")
        if isinstance(block, dict) and block.get("type") == "tool_use":
            name = block.get("name")
            assembler.feed(index, name if isinstance(name, str) else "", "")
            step.named.add(index)
    elif kind == "content_block_delta":
        delta = data.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
            partial = delta.get("partial_json")
            assembler.feed(index, "", partial if isinstance(partial, str) else "")
    elif kind == "content_block_stop" and index in assembler.indexes:
        step.finished.add(index)
    return step


def _feed_choice(
    assembler: ToolCallAssembler, choice: dict[str, Any], position: int, step: _Step
) -> None:
    number = choice.get("index")
    number = number if isinstance(number, int) and 0 <= number < _MAX_CHOICES else position
    delta = choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    calls = delta.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        step.unreadable = True
    legacy = delta.get("function_call")
    items = list(calls) if isinstance(calls, list) else []
    if isinstance(legacy, dict):
        items.append({"index": _LEGACY_INDEX, "function": legacy})
    for call in items:
        index = call.get("index") if isinstance(call, dict) else None
        if not isinstance(index, int) or not 0 <= index < _CALLS_PER_CHOICE:
            step.unreadable = True  # a call we cannot place is a call we cannot judge
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        arguments = function.get("arguments")
        key = _key(number, index)
        assembler.feed(
            key,
            name if isinstance(name, str) else "",
            arguments if isinstance(arguments, str) else "",
        )
        if isinstance(name, str) and name:
            step.named.add(key)
    if choice.get("finish_reason"):
        low, high = _key(number, 0), _key(number + 1, 0)
        step.finished.update(i for i in assembler.indexes if low <= i < high)


def _feed_response_event(
    assembler: ToolCallAssembler, data: dict[str, Any], kind: str, step: _Step
) -> None:
    """OpenAI Responses API events: function calls are output items."""
    index = data.get("output_index")
    if not isinstance(index, int):
        return
    item = data.get("item")
    if kind == "response.output_item.added" and isinstance(item, dict):
        if item.get("type") in ("function_call", "custom_tool_call"):
            name = item.get("name")
            assembler.feed(index, name if isinstance(name, str) else "", "")
            step.named.add(index)
    elif kind == "response.function_call_arguments.delta":
        delta = data.get("delta")
        assembler.feed(index, "", delta if isinstance(delta, str) else "")
    elif kind == "response.output_item.done" and index in assembler.indexes:
        step.finished.add(index)


def _refusal(rule: str, reason: str) -> Finding:
    return Finding(kind="agency.tools", rule=rule, severity="high", reason=reason)


_UNREADABLE = _refusal(
    "tools.unreadable_call", "a streamed tool call of a shape that cannot be judged"
)
_OVERFLOW = _refusal("tools.too_many_calls", "more tool calls in one answer than are judged")
