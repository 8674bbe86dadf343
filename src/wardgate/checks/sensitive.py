"""`sensitive`: personal data and credentials, found and handled both ways.

Requests: what a prompt or a tool result would carry to the upstream (often a third-party
AI service) is handled per entity type: `flag` records it, `mask` replaces it with its type
(`<EMAIL_ADDRESS>`), `hash` with a keyed digest (`<EMAIL:3f9a...>`, the same value gives the
same digest, so joins still work), `block` refuses the request, and `pseudonymize` replaces
it with a numbered placeholder (`<EMAIL_1>`) kept in the request's own vault.

Responses: placeholders the model repeats are restored to the request's values (in answer
text and tool-call arguments, whole or streamed), and what the model itself produced is
handled with the response actions (by default credentials are masked, personal data is
flagged). On plain REST routes the policy can strip or mask named response fields
(`password_hash`, `ssn`: excessive data exposure) and scan every string value.

Streams: the check asks the route to hold back `stream_window` characters, so a value or a
placeholder split across events is whole before the first of its characters is released;
spans are rewritten in the held events. Findings keep a keyed digest and a length, never
the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import Field, model_validator

from wardgate.checks.base import CheckSettings, answer_json
from wardgate.decision import Action as DecisionAction, Decision, Edit, Evidence, Finding, Location
from wardgate.detect.sensitive import (
    PseudonymVault,
    SensitiveMatch,
    find_sensitive,
    keyed_digest,
    label,
)
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import StreamEvent
from wardgate.providers.answers import answer_texts, call_arguments, event_object, text_deltas

__all__ = ["Config", "SensitiveCheck"]

Action = Literal["flag", "mask", "hash", "block", "pseudonymize"]
FieldAction = Literal["strip", "mask", "hash"]

_VAULT = "sensitive.vault"
_STREAM = "sensitive.stream"
_ARGUMENTS = "sensitive.arguments"
_MAX_ARGUMENTS = 256 * 1024  # characters of one streamed call's arguments kept
# Keys of an AI request whose values are the application's own machinery, not content.
_NOT_CONTENT = frozenset(
    {
        "model",
        "role",
        "type",
        "id",
        "tool_call_id",
        "object",
        "finish_reason",
        "tools",
        "functions",
        "tool_choice",
        "response_format",
        "stop",
        "service_tier",
        "reasoning_effort",
    }
)
# Text kept before the undecided part of a stream, for context words ("SSN:", "call").
_CONTEXT = 48
_FINAL_EVENTS = frozenset(
    {"message_stop", "content_block_stop", "response.output_text.done", "response.completed"}
)


def _actions(**actions: Action) -> dict[str, Action]:
    return actions


class Config(CheckSettings):
    """PII and secrets in prompts, tool results, model answers and REST responses."""

    type: Literal["sensitive"] = "sensitive"
    request: dict[str, Action] = Field(
        default_factory=lambda: _actions(default="mask"),
        description="Action per entity type for what goes upstream: an exact type "
        "(`EMAIL_ADDRESS`, `SECRET.aws`), a family (`SECRET`) or `default`.",
    )
    response: dict[str, Action] = Field(
        default_factory=lambda: _actions(default="flag", SECRET="mask"),
        description="Action per entity type for what the model or API answers "
        "(`pseudonymize` is a request action; its placeholders are always restored).",
    )
    min_score: float = Field(
        default=0.5, ge=0, le=1, description="Findings less certain than this are ignored."
    )
    types: list[str] | None = Field(
        default=None, description="Only these entity types (or families); default: all."
    )
    plain_requests: bool = Field(
        default=False,
        description="Also scan every JSON string of requests that are not AI calls.",
    )
    plain_responses: bool = Field(
        default=False,
        description="Also scan every JSON string of responses to requests that are not AI "
        "calls, with the response actions.",
    )
    response_fields: dict[str, FieldAction] = Field(
        default_factory=dict,
        description="JSON response fields (by key name, any depth; case, `-` and `_` "
        "ignored) to strip, mask or hash on any route: `password_hash: strip`.",
    )
    learned_fields: str | None = Field(
        default=None,
        description="An inventory store discovery learned into (SQLite path or "
        "postgresql:// URL): response fields where it saw personal data or credentials are "
        "handled with `learned_action`, as if listed in `response_fields` (read at load).",
    )
    learned_action: FieldAction = Field(
        default="mask", description="What to do with the fields `learned_fields` names."
    )
    hash_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the key of `hash`; without it each "
        "process draws its own key (digests then differ between processes).",
    )
    stream_window: int = Field(
        default=64,
        ge=0,
        le=65536,
        description="Characters of a streamed answer held back so a split value or "
        "placeholder is whole before any of it is released.",
    )
    max_values: int = Field(
        default=1000, ge=1, description="Most values one request's vault holds."
    )

    @model_validator(mode="after")
    def _response_cannot_pseudonymize(self) -> Config:
        if "pseudonymize" in self.response.values():
            raise ValueError("`pseudonymize` is a request action; answers get `mask` or `hash`")
        return self


@dataclass(slots=True)
class _Stream:
    """What one streamed answer has shown so far, from absolute offset `base`."""

    text: str = ""
    base: int = 0
    done: int = 0  # absolute end of the last span handled


class SensitiveCheck:
    needs_call = True

    def __init__(self, config: Config) -> None:
        self._config = config
        key = os.environ.get(config.hash_key_env, "") if config.hash_key_env else ""
        self._hash_key = key.encode() if key else os.urandom(32)
        # Evidence digests are keyed too: an SSN has 10^9 values, a plain hash gives it away.
        self._evidence_key = os.urandom(32)
        learned = _learned_fields(config.learned_fields) if config.learned_fields else set()
        self._fields = {_field_key(name): config.learned_action for name in learned}
        self._fields.update(
            {_field_key(name): action for name, action in config.response_fields.items()}
        )
        self.stream_window = config.stream_window
        self.phases = frozenset({Phase.REQUEST_BODY, Phase.RESPONSE_BODY, Phase.RESPONSE_CHUNK})

    # -- requests -------------------------------------------------------------------------

    async def check_request(self, ex: Exchange) -> Decision:
        if not ex.body or (ex.call is None and not self._config.plain_requests):
            return Decision.allow()
        try:
            document = orjson.loads(ex.body)
        except orjson.JSONDecodeError:
            return Decision.allow()  # not JSON: the adapter or the attacks check answers it
        findings: list[Finding] = []
        blocked = changed = False
        vault = self._vault(ex)
        for holder, key, slot in _strings(document, "json:", ex.call is not None):
            text = holder[key]
            handled = self._handle(text, slot, self._config.request, vault)
            findings.extend(handled.findings)
            blocked |= handled.blocked
            if handled.text != text:
                holder[key] = handled.text
                changed = True
        if blocked:
            return Decision.block(403, findings)
        if changed:
            ex.body = orjson.dumps(document)
            return Decision.modify([], findings)
        return Decision.flag(findings) if findings else Decision.allow()

    def _vault(self, ex: Exchange) -> PseudonymVault:
        vault: PseudonymVault | None = ex.vault.get(_VAULT)
        if vault is None:
            vault = ex.vault[_VAULT] = PseudonymVault(self._config.max_values)
        return vault

    # -- whole responses -----------------------------------------------------------------

    async def check_response(self, ex: Exchange) -> Decision:
        body = answer_json(ex)
        if body is not None:
            return self._answer(ex, body)
        if ex.status >= 300 or not ex.response_body:
            return Decision.allow()
        if not (self._fields or (self._config.plain_responses and ex.call is None)):
            return Decision.allow()
        try:
            document = orjson.loads(ex.response_body)
        except orjson.JSONDecodeError:
            return Decision.allow()
        findings = self._strip_fields(document, "json:")
        changed, blocked = bool(findings), False
        if self._config.plain_responses and ex.call is None:
            for holder, key, slot in _strings(document, "json:", ai=False):
                handled = self._handle(holder[key], slot, self._config.response, None)
                findings.extend(handled.findings)
                blocked |= handled.blocked
                if handled.text != holder[key]:
                    holder[key], changed = handled.text, True
        if blocked:
            return Decision.block(403, findings)
        if changed:
            ex.response_body = orjson.dumps(document)
            return Decision.modify([], findings)
        return Decision.flag(findings) if findings else Decision.allow()

    def _answer(self, ex: Exchange, body: dict[str, Any]) -> Decision:
        vault: PseudonymVault | None = ex.vault.get(_VAULT)
        findings = self._strip_fields(body, "json:") if self._fields else []
        blocked = changed = False
        for holder, key, slot in answer_texts(body):
            text = holder[key]
            handled = self._handle(text, slot, self._config.response, None, restore=vault)
            findings.extend(handled.findings)
            blocked |= handled.blocked
            if handled.text != text:
                holder[key], changed = handled.text, True
        for holder, key, slot in call_arguments(body):
            arguments = holder[key]
            if isinstance(arguments, str):
                handled = self._handle(
                    arguments, slot, self._config.response, None, restore=vault, in_json=True
                )
                findings.extend(handled.findings)
                blocked |= handled.blocked
                if handled.text != arguments:
                    holder[key], changed = handled.text, True
            elif vault is not None and len(vault):
                for inner, name, _ in _strings(arguments, slot, ai=False):
                    restored = vault.restore(inner[name])
                    if restored != inner[name]:
                        inner[name], changed = restored, True
        if blocked:
            return Decision.block(403, findings)
        if changed or any(f.kind.startswith("sensitive.field") for f in findings):
            ex.response_body = orjson.dumps(body)
            return Decision.modify([], findings)
        return Decision.flag(findings) if findings else Decision.allow()

    def _strip_fields(self, node: Any, slot: str) -> list[Finding]:
        """Strip, mask or hash the configured fields anywhere in `node`, in place."""
        findings: list[Finding] = []
        stack: list[tuple[Any, str]] = [(node, slot)]
        while stack:
            current, where = stack.pop()
            if isinstance(current, dict):
                for key in list(current):
                    here = f"{where}.{key}" if not where.endswith(":") else f"{where}{key}"
                    action = self._fields.get(_field_key(key)) if isinstance(key, str) else None
                    if action is None:
                        stack.append((current[key], here))
                        continue
                    findings.append(
                        Finding(
                            kind="sensitive.field",
                            rule=f"field.{action}",
                            severity="medium",
                            location=Location(here),
                            reason=f"response field listed as sensitive ({action})",
                        )
                    )
                    value = current[key]
                    if action == "strip":
                        del current[key]
                    elif action == "hash":
                        current[key] = f"<{keyed_digest(self._hash_key, _plain(value))}>"
                    else:
                        current[key] = "<REDACTED>" if isinstance(value, str) else None
            elif isinstance(current, list):
                stack.extend((item, f"{where}[{i}]") for i, item in enumerate(current))
        return findings

    # -- the one place values are judged and replaced ---------------------------------------

    def _handle(
        self,
        text: str,
        slot: str,
        actions: dict[str, Action],
        vault: PseudonymVault | None,
        *,
        restore: PseudonymVault | None = None,
        in_json: bool = False,
    ) -> _Handled:
        """`text` with placeholders restored and every finding handled by its action."""
        edits: list[tuple[int, int, str]] = []
        if restore is not None and len(restore):
            escape = _json_escape if in_json else None
            edits = [(s, e, escape(v) if escape else v) for s, e, v in restore.find(text)]
        findings: list[Finding] = []
        blocked = False
        for match in self._matches(text):
            if any(match.start < e and s < match.end for s, e, _ in edits):
                continue  # a placeholder being restored is the request's own value
            action = _action(actions, match.type)
            findings.append(self._finding(match, text, slot, action))
            if action == "block":
                blocked = True
            replacement = self._replacement(match, text, action, vault)
            if replacement is not None:
                edits.append((match.start, match.end, replacement))
        return _Handled(_apply(text, edits), findings, blocked)

    def _matches(self, text: str) -> list[SensitiveMatch]:
        config = self._config
        return [
            m
            for m in find_sensitive(text)
            if m.score >= config.min_score
            and (config.types is None or _listed(m.type, config.types))
        ]

    def _replacement(
        self, match: SensitiveMatch, text: str, action: str, vault: PseudonymVault | None
    ) -> str | None:
        value = text[match.start : match.end]
        if action == "pseudonymize" and vault is not None:
            placeholder = vault.placeholder(match.type, value)
            if placeholder is not None:
                return placeholder
            action = "mask"  # the vault is full: never send the value
        if action == "mask":
            return f"<{match.type}>"
        if action == "hash":
            return f"<{label(match.type)}:{keyed_digest(self._hash_key, value)}>"
        return None

    def _finding(self, match: SensitiveMatch, text: str, slot: str, action: str) -> Finding:
        value = text[match.start : match.end]
        family, _, kind = match.type.partition(".")
        secret = family == "SECRET"
        return Finding(
            kind=f"secret.{kind or 'generic'}" if secret else f"pii.{match.type.lower()}",
            rule=match.type,
            severity="high" if secret else "medium",
            score=round(match.score, 3),
            location=Location(slot, match.start, match.end),
            evidence=Evidence(len(value), keyed_digest(self._evidence_key, value)),
            reason=f"{match.type} ({action})",
        )

    # -- streams --------------------------------------------------------------------------

    async def check_chunk(self, ex: Exchange, event: StreamEvent) -> Decision:
        if ex.call is None or not event.data:
            return Decision.allow()
        state: _Stream | None = ex.vault.get(_STREAM)
        if state is None:
            state = ex.vault[_STREAM] = _Stream()
        deltas = text_deltas(event.data)
        final = not deltas and _is_final(event.data)
        restored = self._streamed_arguments(ex, event.data, final)
        if any(choice != 0 for choice, _ in deltas):
            # Offsets interleave when several answers stream side by side: judge, never edit.
            return self._judge_only(deltas)
        for _, piece in deltas:
            state.text += piece
        decision = self._advance(ex, state, final=final)
        if restored and decision.action is not DecisionAction.BLOCK:
            edits = [*decision.edits, *restored]
            return Decision.modify(edits, list(decision.findings))
        return decision

    def _streamed_arguments(self, ex: Exchange, data: str, final: bool) -> list[Edit]:
        """Tool-call arguments gathered per call; at the end of the answer, one edit per call
        whose arguments hold placeholders, with the values put back (JSON escaped)."""
        vault: PseudonymVault | None = ex.vault.get(_VAULT)
        if vault is None or not len(vault):
            return []
        calls: dict[tuple[int, int], str] = ex.vault.setdefault(_ARGUMENTS, {})
        for key, piece in _argument_pieces(data):
            if len(calls.get(key, "")) < _MAX_ARGUMENTS:
                calls[key] = calls.get(key, "") + piece
        if not final:
            return []
        edits = []
        for (choice, index), arguments in sorted(calls.items()):
            restored = vault.restore(arguments, escape=_json_escape)
            if restored != arguments:
                edits.append(Edit("stream.arguments", choice, index, restored))
        calls.clear()
        return edits

    def _advance(self, ex: Exchange, state: _Stream, *, final: bool) -> Decision:
        end = state.base + len(state.text)
        vault: PseudonymVault | None = ex.vault.get(_VAULT)
        edits: list[Edit] = []
        findings: list[Finding] = []
        blocked = False
        for start, stop, replacement, finding, action in self._spans(state, vault):
            if stop == end and not final:
                break  # may still grow with the next event
            if finding is not None:
                findings.append(finding)
                blocked |= action == "block"
            if replacement is not None:
                edits.append(Edit("stream", start, stop, replacement))
            state.done = max(state.done, stop)
        # Keep what can still matter: the held window, undecided text, a little context.
        keep_from = min(state.done, end - self._config.stream_window) - _CONTEXT
        if keep_from > state.base:
            state.text = state.text[keep_from - state.base :]
            state.base = keep_from
        if blocked:
            return Decision.block(403, findings)
        if edits:
            return Decision.modify(edits, findings)
        return Decision.flag(findings) if findings else Decision.allow()

    def _spans(
        self, state: _Stream, vault: PseudonymVault | None
    ) -> list[tuple[int, int, str | None, Finding | None, str]]:
        """Placeholders to restore and findings to handle that end past `state.done`, in
        order, with absolute offsets."""
        text, base, done = state.text, state.base, state.done
        spans: list[tuple[int, int, str | None, Finding | None, str]] = []
        if vault is not None and len(vault):
            spans += [
                (base + s, base + e, v, None, "restore")
                for s, e, v in vault.find(text)
                if base + e > done
            ]
        for match in self._matches(text):
            start, stop = base + match.start, base + match.end
            if stop <= done or any(start < e and s < stop for s, e, *_ in spans):
                continue
            action = _action(self._config.response, match.type)
            finding = self._finding(match, text, "stream", action)
            replacement = self._replacement(match, text, action, None)
            spans.append((start, stop, replacement, finding, action))
        return sorted(spans, key=lambda span: span[0])

    def _judge_only(self, deltas: list[tuple[int, str]]) -> Decision:
        findings = []
        blocked = False
        for _, piece in deltas:
            for match in self._matches(piece):
                action = _action(self._config.response, match.type)
                if action != "flag":
                    action = "block"  # cannot be rewritten in place: never let it through
                    blocked = True
                findings.append(self._finding(match, piece, "stream", action))
        if blocked:
            return Decision.block(403, findings)
        return Decision.flag(findings) if findings else Decision.allow()


@dataclass(frozen=True, slots=True)
class _Handled:
    text: str
    findings: list[Finding]
    blocked: bool


def _learned_fields(store_url: str) -> set[str]:
    """Names of the response fields discovery saw personal data or credentials in
    (`response $.user.email` -> `email`); array steps and wildcards are not names."""
    from wardgate.discovery.inventory import load_store

    names = set()
    for endpoint in load_store(store_url).endpoints():
        for where in endpoint.sensitive:
            side, _, path = where.partition(" ")
            last = re.split(r"[.\[]", path)[-1].strip("]'\"*")
            if side == "response" and last and last != "$":
                names.add(last)
    return names


def _action(actions: dict[str, Action], entity_type: str) -> Action:
    """The action for `entity_type`: its own, then its family's (`SECRET`), then default."""
    family = entity_type.partition(".")[0]
    return actions.get(entity_type) or actions.get(family) or actions.get("default", "flag")


def _listed(entity_type: str, types: list[str]) -> bool:
    return entity_type in types or entity_type.partition(".")[0] in types


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    pieces: list[str] = []
    position = 0
    for start, end, replacement in sorted(edits):
        if start < position:
            continue
        pieces += [text[position:start], replacement]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _json_escape(value: str) -> str:
    """`value` as it must appear inside a JSON string (tool-call arguments are JSON text)."""
    return orjson.dumps(value).decode()[1:-1]


_SEPARATORS = str.maketrans("", "", "-_")


def _field_key(name: str) -> str:
    """A field name compared without case, `-`, `_` or whitespace (runs on every key of a
    response with `response_fields`: no regex)."""
    return "".join(name.split()).translate(_SEPARATORS).lower()


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _strings(node: Any, slot: str, ai: bool) -> Iterator[tuple[Any, Any, str]]:
    """(holder, key, slot) of every string below `node`; in AI requests the keys that are
    machinery (`model`, `role`, tool definitions) are skipped. Iterative: depth is bounded
    by the parser, not by the stack."""
    stack: list[tuple[Any, str]] = [(node, slot)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if ai and key in _NOT_CONTENT:
                    continue
                here = f"{where}.{key}" if not where.endswith(":") else f"{where}{key}"
                if isinstance(value, str):
                    if not (ai and value.startswith("data:")):  # inline images and files
                        yield current, key, here
                else:
                    stack.append((value, here))
        elif isinstance(current, list):
            for index, value in enumerate(current):
                if isinstance(value, str):
                    yield current, index, f"{where}[{index}]"
                else:
                    stack.append((value, f"{where}[{index}]"))


def _argument_pieces(data: str) -> list[tuple[tuple[int, int], str]]:
    """((answer, call index), argument text) of the tool-call fragments in one OpenAI
    chat event."""
    event = event_object(data)
    choices = event.get("choices") if event is not None else None
    found = []
    for number, choice in enumerate(choices if isinstance(choices, list) else []):
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        answer = choice.get("index", number) if isinstance(choice, dict) else number
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            index = call.get("index", 0) if isinstance(call, dict) else 0
            if isinstance(arguments, str) and isinstance(index, int) and isinstance(answer, int):
                found.append(((answer, index), arguments))
    return found


def _is_final(data: str) -> bool:
    """Whether an event ends the answer text: `[DONE]`, a finish reason, a stop event."""
    if data == "[DONE]":
        return True
    event = event_object(data)
    if event is None:
        return False
    if event.get("type") in _FINAL_EVENTS:
        return True
    choices = event.get("choices")
    return isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") for c in choices
    )
