"""`tools`: which tools a model may call, and with which arguments (excessive agency).

A model asked to act can be talked into calling a tool it should not, or a permitted tool
with arguments that reach the internal network or a shell. This check judges every tool
call in the model's answer against the route's policy before the client (the agent that
would run it) sees it: in a whole answer the denied calls are removed or the answer is
refused, per policy; in a stream a denied call ends the stream, with the provider's error
event, before the event that names it (or completes its arguments) is released.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field

from wardgate.checks.base import CheckSettings, StrictModel
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

__all__ = ["Config", "ToolPolicy", "ToolsCheck"]

_ASSEMBLER = "tools.assembler"


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
        if ex.call is None or not ex.response_body or ex.status >= 300:
            return Decision.allow()
        try:
            body = orjson.loads(ex.response_body)
        except orjson.JSONDecodeError:
            return Decision.allow()
        if not isinstance(body, dict):
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
        if ex.call is None or not event.data or event.data == "[DONE]":
            return Decision.allow()
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return Decision.allow()
        if not isinstance(data, dict):
            return Decision.allow()
        assembler = ex.vault.get(_ASSEMBLER)
        if assembler is None:
            assembler = ex.vault[_ASSEMBLER] = ToolCallAssembler(self._config.max_argument_bytes)
        named, finished = _feed(assembler, data)
        if assembler.overflowed:
            return Decision.block(403, [_overflow()])
        findings: list[Finding] = []
        for call in assembler.complete():
            if call.index in finished:
                violations = self._rules.judge(call.name, call.arguments or "{}")
            elif call.index in named and self._rules.allowed is not None:
                # Refuse a name the moment it appears, before its event is released.
                violations = self._rules.judge(call.name, "{}")
                violations = [v for v in violations if v.rule == "tools.not_allowed"]
            else:
                continue
            findings.extend(v.finding() for v in violations)
        return Decision.block(403, findings) if findings else Decision.allow()


def _feed(assembler: ToolCallAssembler, data: dict[str, Any]) -> tuple[set[int], set[int]]:
    """Feed one event's tool-call fragments; the indexes named now and those now complete."""
    named: set[int] = set()
    finished: set[int] = set()
    choices = data.get("choices")
    if isinstance(choices, list):  # OpenAI chat completion chunks
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            for call in calls if isinstance(calls, list) else []:
                if not isinstance(call, dict) or not isinstance(call.get("index"), int):
                    continue
                function = call.get("function")
                function = function if isinstance(function, dict) else {}
                name = function.get("name")
                arguments = function.get("arguments")
                assembler.feed(
                    call["index"],
                    name if isinstance(name, str) else "",
                    arguments if isinstance(arguments, str) else "",
                )
                if isinstance(name, str) and name:
                    named.add(call["index"])
            if choice.get("finish_reason"):
                finished.update(c.index for c in assembler.complete())
        return named, finished
    kind = data.get("type")  # Anthropic message events
    index = data.get("index")
    if not isinstance(index, int):
        return named, finished
    if kind == "content_block_start":
        block = data.get("content_block")
        if isinstance(block, dict) and block.get("type") == "tool_use":
            name = block.get("name")
            assembler.feed(index, name if isinstance(name, str) else "", "")
            named.add(index)
    elif kind == "content_block_delta":
        delta = data.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
            partial = delta.get("partial_json")
            assembler.feed(index, "", partial if isinstance(partial, str) else "")
    elif kind == "content_block_stop" and index in {c.index for c in assembler.complete()}:
        finished.add(index)
    return named, finished


def _overflow() -> Finding:
    return Finding(
        kind="agency.tools",
        rule="tools.too_many_calls",
        severity="high",
        reason="more tool calls in one answer than are judged",
    )
