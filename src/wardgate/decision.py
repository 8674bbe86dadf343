"""Detections as values: `Finding`, `Decision` and the pipeline's `Verdict`.

A detector returns findings; a check turns them into one `Decision`; the pipeline folds the
decisions of a phase into a `Verdict` with one precedence rule: block > modify > flag > allow.
None of these raise for a detection, and none carries a raw matched value: evidence is a
length and a short hash, so events can be stored and shared.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "ALLOW",
    "Action",
    "CheckOutcome",
    "Decision",
    "Edit",
    "Evidence",
    "Finding",
    "Location",
    "Verdict",
]


class Action(IntEnum):
    """What a decision asks for; the integer order is the precedence."""

    ALLOW = 0
    FLAG = 1
    MODIFY = 2
    BLOCK = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was matched, without the matched value: its length and a short digest."""

    length: int
    digest: str

    @classmethod
    def of(cls, value: str | bytes) -> Evidence:
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        return cls(length=len(value), digest=hashlib.sha256(raw).hexdigest()[:12])


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding was made: a slot (`header:user-agent`, `body`, `message[2]`) and a span."""

    slot: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: `kind` is dotted (`attack.sqli`, `pii.email`, `access.ip_denied`)."""

    kind: str
    rule: str
    severity: str = "medium"
    score: float = 1.0
    location: Location | None = None
    evidence: Evidence | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace `slot[start:end]` by `replacement`; applied by the provider adapter."""

    slot: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A check's answer for one phase. Build it with the constructors, never positionally."""

    action: Action
    findings: tuple[Finding, ...] = ()
    edits: tuple[Edit, ...] = ()
    status: int | None = None
    # Response headers a block asks for (Retry-After, RateLimit, WWW-Authenticate).
    headers: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def allow() -> Decision:
        return ALLOW

    @staticmethod
    def flag(findings: tuple[Finding, ...] | list[Finding]) -> Decision:
        return Decision(Action.FLAG, tuple(findings))

    @staticmethod
    def modify(
        edits: tuple[Edit, ...] | list[Edit], findings: tuple[Finding, ...] | list[Finding]
    ) -> Decision:
        return Decision(Action.MODIFY, tuple(findings), tuple(edits))

    @staticmethod
    def block(
        status: int,
        findings: tuple[Finding, ...] | list[Finding],
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Decision:
        return Decision(Action.BLOCK, tuple(findings), status=status, headers=headers)


ALLOW = Decision(Action.ALLOW)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What one check decided in one phase, as recorded in the event.

    `would_block` is set when a check in monitor mode asked to block: the request went on,
    and the block is recorded as a flag. `fault` is set when the check raised or timed out.
    """

    check: str
    phase: str
    decision: Decision
    would_block: bool = False
    fault: bool = False
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of running one phase: the strongest decision and every outcome."""

    action: Action = Action.ALLOW
    status: int | None = None
    edits: tuple[Edit, ...] = ()
    outcomes: tuple[CheckOutcome, ...] = field(default=())
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK
