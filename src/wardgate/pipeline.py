"""Run a route's checks for one phase: order, time budget, mode and fault handling.

The pipeline knows the check protocols and nothing about any particular check. It is built
once per route when a policy is compiled and is immutable afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from wardgate.decision import Action, CheckOutcome, Decision, Edit, Finding, Verdict
from wardgate.exchange import Exchange
from wardgate.observe.metrics import METRICS
from wardgate.phases import REQUEST_PHASES, Phase

__all__ = [
    "PASS",
    "AwaitsIO",
    "BoundCheck",
    "Check",
    "ChunkCheck",
    "LogCheck",
    "Mode",
    "OnError",
    "Pipeline",
    "RequestCheck",
    "ResponseCheck",
    "StreamEvent",
]

log = logging.getLogger(__name__)
PASS = Verdict()
FAULT_STATUS = 503


class Mode(StrEnum):
    OFF = "off"
    MONITOR = "monitor"
    ENFORCE = "enforce"


class OnError(StrEnum):
    """What a fault (exception or timeout) in a check means for the request."""

    ALLOW = "allow"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One server-sent event of a streamed response, as relayed to the client."""

    data: str
    event: str | None = None
    index: int = 0


class Check(Protocol):
    """What every check is: a named object that declares the phases it runs in.

    A check also implements one or more of the hook protocols below. It is built from its
    validated config, shared by all requests and immutable afterwards: per-request state
    goes in the `Exchange`.
    """

    phases: frozenset[Phase]


class AwaitsIO(Protocol):
    """Optional: a check that waits on I/O (a store, a service) sets `awaits_io = True`.

    Its time budget is then enforced by cancelling the call. A check that only computes
    cannot be interrupted on the event loop, so its budget is checked when it returns.
    """

    awaits_io: bool


@runtime_checkable
class RequestCheck(Protocol):
    """Called in `request_headers` and/or `request_body`, as declared in `phases`."""

    async def check_request(self, ex: Exchange) -> Decision: ...


@runtime_checkable
class ResponseCheck(Protocol):
    """Called in `response_headers` and/or `response_body`, as declared in `phases`."""

    async def check_response(self, ex: Exchange) -> Decision: ...


@runtime_checkable
class ChunkCheck(Protocol):
    """Called once per streamed event in `response_chunk`."""

    async def check_chunk(self, ex: Exchange, event: StreamEvent) -> Decision: ...


@runtime_checkable
class LogCheck(Protocol):
    """Called in `log`, after the response, for blocked and failed requests too.

    Its decision is recorded, never enforced: the response has already been sent.
    """

    async def check_log(self, ex: Exchange) -> Decision: ...


Hook = Callable[..., Awaitable[Decision]]


@dataclass(frozen=True, slots=True)
class BoundCheck:
    """A check instance with the settings the pipeline applies around it.

    The hooks are looked up once here, not per request: protocol `isinstance` checks cost
    microseconds each.
    """

    name: str
    check: Check
    mode: Mode
    on_error: OnError
    timeout: float
    interruptible: bool = field(init=False)
    hooks: dict[Phase, Hook] = field(init=False)

    def __post_init__(self) -> None:
        hooks: dict[Phase, Hook] = {}
        for phase in self.check.phases:
            hook = _hook_for(self.check, phase)
            if hook is None:
                raise TypeError(f"check {self.name!r} runs in {phase.value} but has no hook for it")
            hooks[phase] = hook
        object.__setattr__(self, "hooks", hooks)
        object.__setattr__(self, "interruptible", bool(getattr(self.check, "awaits_io", False)))


def _hook_for(check: Check, phase: Phase) -> Hook | None:
    if phase is Phase.RESPONSE_CHUNK:
        return check.check_chunk if isinstance(check, ChunkCheck) else None
    if phase in REQUEST_PHASES:
        return check.check_request if isinstance(check, RequestCheck) else None
    if phase is Phase.LOG:
        return check.check_log if isinstance(check, LogCheck) else None
    return check.check_response if isinstance(check, ResponseCheck) else None


class Pipeline:
    """The ordered checks of one route, grouped by phase."""

    __slots__ = ("_by_phase", "active")

    def __init__(self, checks: Iterable[BoundCheck]) -> None:
        active = [c for c in checks if c.mode is not Mode.OFF]
        self._by_phase: dict[Phase, tuple[BoundCheck, ...]] = {
            phase: tuple(c for c in active if phase in c.check.phases) for phase in Phase
        }
        self.active = frozenset(phase for phase, checks in self._by_phase.items() if checks)

    def has(self, phase: Phase) -> bool:
        return bool(self._by_phase[phase])

    async def run(self, phase: Phase, ex: Exchange, event: StreamEvent | None = None) -> Verdict:
        """Run the checks of `phase` in order; the first effective block stops the phase."""
        checks = self._by_phase[phase]
        if not checks:
            return PASS
        outcomes: list[CheckOutcome] = []
        edits: list[Edit] = []
        strongest = Action.ALLOW
        for bound in checks:
            outcome = await _run_one(bound, phase, ex, event)
            decision = outcome.decision
            if decision.action is not Action.ALLOW or decision.findings:
                outcomes.append(outcome)
                ex.outcomes.append(outcome)
            strongest = max(strongest, decision.action)
            edits.extend(decision.edits)
            if decision.action is Action.BLOCK:
                return Verdict(Action.BLOCK, decision.status, (), tuple(outcomes), decision.headers)
        if not outcomes:
            return PASS
        return Verdict(strongest, None, tuple(edits), tuple(outcomes))


async def _run_one(
    bound: BoundCheck, phase: Phase, ex: Exchange, event: StreamEvent | None
) -> CheckOutcome:
    started = time.perf_counter()
    fault = False
    # A check in monitor mode reports what it would do and changes nothing: bodies it
    # rewrote (a clamped max_tokens, a neutralized answer) are put back.
    monitored = bound.mode is Mode.MONITOR
    bodies = (ex.body, ex.response_body) if monitored else None
    try:
        hook = bound.hooks[phase]
        args = (ex,) if event is None else (ex, event)
        if bound.interruptible:
            async with asyncio.timeout(bound.timeout):
                decision = await hook(*args)
        else:
            decision = await hook(*args)
            if time.perf_counter() - started > bound.timeout:
                raise TimeoutError("check ran past its time budget")
    except Exception as exc:  # a fault in a check must never take the request down
        fault = True
        decision = _fault_decision(bound, exc)
    would_block = decision.action is Action.BLOCK and monitored
    if bodies is not None:
        ex.body, ex.response_body = bodies
        if decision.action is not Action.ALLOW:
            decision = Decision.flag(decision.findings)
    return CheckOutcome(
        check=bound.name,
        phase=phase.value,
        decision=decision,
        would_block=would_block,
        fault=fault,
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
    )


def _fault_decision(bound: BoundCheck, exc: Exception) -> Decision:
    kind = "check.timeout" if isinstance(exc, TimeoutError) else "check.fault"
    METRICS.check_faults[bound.name] += 1
    log.warning("check %s faulted (%s): %s", bound.name, kind, type(exc).__name__)
    finding = Finding(kind=kind, rule=bound.name, severity="high", reason=type(exc).__name__)
    if bound.on_error is OnError.BLOCK:
        return Decision.block(FAULT_STATUS, [finding])
    return Decision.flag([finding])
