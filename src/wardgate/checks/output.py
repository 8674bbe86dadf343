"""`output`: what a model's answer must not do to the client that renders it or to the app.

Three output risks, in whole answers and in streams:
- exfiltration (OWASP LLM05): a markdown image or a link that carries data to a host the
  route does not allow; renderers fetch images unasked, so an injected instruction can make
  the model leak the conversation in a URL. Whole answers get them neutralized (an image
  becomes its alt text, a link its text); a stream ends before the construct is released.
- active HTML (script, event handlers, `javascript:` URLs) for clients that render HTML:
  flagged, escaped or refused, per route.
- system-prompt leakage (OWASP LLM07): a canary token added to the system prompt of every
  call, or a long verbatim span of the system prompt, appearing in the answer ends it.

In a stream a violation is found when the event that completes it arrives; the route's
`stream_holdback` (characters) keeps the newest text back until then, so with a hold-back
at least as long as the construct none of it reaches the client.
"""

from __future__ import annotations

import os
from typing import Literal

import orjson
from pydantic import Field

from wardgate.checks.base import CheckSettings, answer_json
from wardgate.decision import Decision, Edit, Evidence, Finding, Location
from wardgate.detect.leakage import (
    CanaryPattern,
    PromptIndex,
    VerbatimStream,
    canary_instruction,
    find_canary,
    make_canary,
    verbatim_leak,
)
from wardgate.detect.output import (
    ACTIVE_HTML,
    EXFILTRATION,
    LEAKAGE,
    HostAllowlist,
    OutputFinding,
    StreamScanner,
    escape_html,
    find_active_html,
    find_exfiltration,
    neutralize,
)
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import StreamEvent
from wardgate.providers.answers import answer_texts, argument_deltas, call_arguments, text_deltas
from wardgate.providers.call import Origin

__all__ = ["Config", "OutputCheck"]

_CANARY = "output.canary"
_SYSTEM = "output.system_prompt"
_SCANNER = "output.scanner"
_ARGUMENTS = "output.arguments"
_MANY_ANSWERS = "output.many_answers"
# How much argument text is kept to find a canary split across events.
_CANARY_TAIL = 256


class Config(CheckSettings):
    """Unsafe output and system-prompt leakage in AI answers."""

    type: Literal["output"] = "output"
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts answers may show images from and link to with data: exact names "
        "or `*.example.com` (subdomains). Everything else is neutralized.",
    )
    all_links: bool = Field(
        default=False,
        description="Neutralize every link to a host not allowed, not only those carrying data.",
    )
    exfiltration: Literal["neutralize", "block"] = Field(
        default="neutralize",
        description="An exfiltrating image or link in a whole answer: neutralize it or refuse "
        "the answer. A stream always ends before it.",
    )
    html: Literal["allow", "flag", "escape", "block"] = Field(
        default="flag",
        description="Script and active HTML in answers: allow, flag (record), escape (for "
        "clients that render HTML; whole answers only, a stream is ended) or block.",
    )
    canary: bool = Field(
        default=False,
        description="Add a per-request canary token to the system prompt and end any answer "
        "that repeats it.",
    )
    system_prompt_leak: bool = Field(
        default=True,
        description="End answers that repeat a long verbatim span of the system prompt.",
    )
    min_leak_chars: int = Field(
        default=60, ge=20, description="Shortest verbatim span of the system prompt reported."
    )


class OutputCheck:
    needs_call = True

    def __init__(self, config: Config) -> None:
        self._config = config
        self._allow = HostAllowlist.of(config.allowed_hosts)
        # Canaries are HMACs of the request id under a key only this process knows.
        self._key = os.urandom(32)
        wants_prompt = config.canary or config.system_prompt_leak
        self.phases = frozenset(
            {Phase.RESPONSE_BODY, Phase.RESPONSE_CHUNK}
            | ({Phase.REQUEST_BODY} if wants_prompt else set())
        )

    async def check_request(self, ex: Exchange) -> Decision:
        if ex.call is None:
            return Decision.allow()
        system = "\n".join(m.text for m in ex.call.messages if m.origin is Origin.SYSTEM)
        if system and self._config.system_prompt_leak:
            ex.vault[_SYSTEM] = system
        if self._config.canary and ex.body:
            canary = make_canary(self._key, ex.request_id)
            anthropic = ex.provider is not None and ex.provider.name == "anthropic"
            rewritten = _with_system_line(ex.body, canary_instruction(canary), anthropic=anthropic)
            if rewritten is not None:
                ex.body = rewritten
                ex.vault[_CANARY] = canary
        return Decision.allow()

    async def check_response(self, ex: Exchange) -> Decision:
        body = answer_json(ex)
        if body is None:
            return Decision.allow()
        findings: list[Finding] = []
        for holder, key, slot in call_arguments(body):
            arguments = holder[key]
            text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
            findings.extend(self._leaks(ex, text, slot))
        blocking = bool(findings)
        changed = False
        for holder, key, slot in answer_texts(body):
            text = holder[key]
            leaks = self._leaks(ex, text, slot)
            if leaks:
                findings.extend(leaks)
                blocking = True
                continue
            exfil = find_exfiltration(text, self._allow, all_links=self._config.all_links)
            active = find_active_html(text) if self._config.html != "allow" else []
            findings.extend(f.finding(slot) for f in [*exfil, *active])
            if exfil and self._config.exfiltration == "block":
                blocking = True
            if active and self._config.html == "block":
                blocking = True
            if exfil and not blocking:
                text = neutralize(text, exfil)
                changed = True
            if active and self._config.html == "escape":
                text = escape_html(text)
                changed = True
            holder[key] = text
        if blocking:
            return Decision.block(403, findings)
        if changed:
            ex.response_body = orjson.dumps(body)
            return Decision.modify([], findings)
        return Decision.flag(findings) if findings else Decision.allow()

    def _leaks(self, ex: Exchange, text: str, slot: str) -> list[Finding]:
        """The canary, or long verbatim spans of the system prompt, in one answer text."""
        spans: list[tuple[str, int, int]] = []
        canary = ex.vault.get(_CANARY)
        if canary and (found := find_canary(text, canary)) is not None:
            spans.append(("output.canary", found.start, found.end))
        system = ex.vault.get(_SYSTEM)
        if system:
            for span in verbatim_leak(text, system, min_chars=self._config.min_leak_chars):
                spans.append(("output.system_prompt_verbatim", span.start, span.end))
        return [
            Finding(
                kind=LEAKAGE,
                rule=rule,
                severity="high",
                location=Location(slot, start, end),
                evidence=Evidence.of(text[start:end]),
                reason="the answer repeats the system prompt",
            )
            for rule, start, end in spans
        ]

    async def check_chunk(self, ex: Exchange, event: StreamEvent) -> Decision:
        if ex.call is None or not event.data or event.data == "[DONE]":
            return Decision.allow()
        findings: list[Finding] = []
        for choice, piece in argument_deltas(event.data):
            findings.extend(self._argument_leaks(ex, choice, piece))
        if findings:
            return Decision.block(403, findings)
        violations: list[OutputFinding] = []
        choices = set()
        for choice, delta in text_deltas(event.data):
            violations.extend(self._scanner(ex, choice).feed(delta).violations)
            choices.add(choice)
        if choices - {0}:
            ex.vault[_MANY_ANSWERS] = True
        if not violations:
            return Decision.allow()
        findings = [_stream_finding(v) for v in violations]
        if self._config.html == "flag" and all(v.kind == ACTIVE_HTML for v in violations):
            return Decision.flag(findings)
        neutralizable = (
            self._config.exfiltration == "neutralize"
            # Offsets are per answer; the held events interleave answers when n > 1.
            and not ex.vault.get(_MANY_ANSWERS)
            and all(v.kind == EXFILTRATION and v.replacement is not None for v in violations)
        )
        if neutralizable:
            # Rewritten in the events still held back; where some of it has already left,
            # the gateway ends the stream instead.
            edits = [Edit("stream", v.start, v.end, v.replacement or "") for v in violations]
            return Decision.modify(edits, findings)
        return Decision.block(403, findings)

    def _argument_leaks(self, ex: Exchange, choice: int, piece: str) -> list[Finding]:
        """The canary or the system prompt streamed into a tool call's arguments."""
        streams: dict[int, _ArgumentStream] = ex.vault.setdefault(_ARGUMENTS, {})
        stream = streams.get(choice)
        if stream is None:
            system = ex.vault.get(_SYSTEM)
            stream = streams[choice] = _ArgumentStream(
                ex.vault.get(_CANARY),
                VerbatimStream(PromptIndex.build(system), min_chars=self._config.min_leak_chars)
                if system
                else None,
            )
        return [
            Finding(
                kind=LEAKAGE,
                rule=rule,
                severity="high",
                location=Location("stream:tool_arguments"),
                reason="a tool call repeats the system prompt",
            )
            for rule in stream.feed(piece)
        ]

    def _scanner(self, ex: Exchange, choice: int) -> StreamScanner:
        """One scanner per answer: with `n > 1` choices stream side by side."""
        scanners: dict[int, StreamScanner] = ex.vault.setdefault(_SCANNER, {})
        scanner = scanners.get(choice)
        if scanner is None:
            config = self._config
            scanner = scanners[choice] = StreamScanner(
                allowed_hosts=self._allow,
                all_links=config.all_links,
                active_html=config.html != "allow",
                canary=ex.vault.get(_CANARY),
                system_prompt=ex.vault.get(_SYSTEM),
                min_chars=config.min_leak_chars,
            )
        return scanner


def _stream_finding(found: OutputFinding) -> Finding:
    return found.finding("stream")


def _with_system_line(body: bytes, line: str, *, anthropic: bool) -> bytes | None:
    """`body` with `line` appended to its system prompt (added when there is none)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    messages = document.get("messages")
    if anthropic:
        system = document.get("system") or ""
        if isinstance(system, str):
            document["system"] = f"{system}\n\n{line}" if system else line
        elif isinstance(system, list):
            document["system"] = [*system, {"type": "text", "text": line}]
        else:
            return None
    elif isinstance(document.get("instructions"), str):  # OpenAI responses
        document["instructions"] = f"{document['instructions']}\n\n{line}"
    elif "input" in document and not isinstance(messages, list):
        document["instructions"] = line
    elif isinstance(messages, list):  # OpenAI chat
        # The application's own instructions: the first system or developer message.
        first = next(
            (
                m
                for m in messages
                if isinstance(m, dict) and m.get("role") in ("system", "developer")
            ),
            None,
        )
        if first is not None:
            position = messages.index(first)
            content = first.get("content")
            if isinstance(content, str):
                messages[position] = {**first, "content": f"{content}\n\n{line}"}
            elif isinstance(content, list):
                messages[position] = {
                    **first,
                    "content": [*content, {"type": "text", "text": line}],
                }
            else:
                return None
        else:
            messages.insert(0, {"role": "system", "content": line})
    else:
        return None
    return orjson.dumps(document)


class _ArgumentStream:
    """Leak detection over one answer's streamed tool-call arguments (no rendering there, so
    no link or HTML checks): the canary in a bounded tail, verbatim spans incrementally."""

    def __init__(self, canary: str | None, verbatim: VerbatimStream | None) -> None:
        self._canary = CanaryPattern.of(canary) if canary else None
        self._verbatim = verbatim
        self._tail = ""

    def feed(self, piece: str) -> list[str]:
        rules = []
        if self._canary is not None:
            self._tail = (self._tail + piece)[-_CANARY_TAIL:]
            if self._canary.find(self._tail) is not None:
                rules.append("output.canary")
                self._canary = None  # reported once
        if self._verbatim is not None and self._verbatim.feed(piece):
            rules.append("output.system_prompt_verbatim")
        return rules
