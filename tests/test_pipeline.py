"""The pipeline: order, precedence, monitor mode, faults and time budgets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from wardgate.decision import Action, Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import BoundCheck, Mode, OnError, Pipeline

FINDING = Finding(kind="test.hit", rule="test.rule")


@dataclass
class FakeCheck:
    """A hand-written check: answers a fixed decision, or raises, or sleeps."""

    decision: Decision
    raises: bool = False
    sleep: float = 0.0
    calls: int = 0
    awaits_io: bool = True
    phases: frozenset[Phase] = frozenset({Phase.REQUEST_HEADERS})

    async def check_request(self, ex: Exchange) -> Decision:
        self.calls += 1
        if self.sleep:
            await asyncio.sleep(self.sleep)
        if self.raises:
            raise RuntimeError("broken check")
        return self.decision


def bound(
    check: FakeCheck,
    name: str = "c",
    mode: Mode = Mode.ENFORCE,
    on_error: OnError = OnError.BLOCK,
    timeout: float = 1.0,
) -> BoundCheck:
    return BoundCheck(name=name, check=check, mode=mode, on_error=on_error, timeout=timeout)


def exchange() -> Exchange:
    return Exchange(
        request_id="r", method="GET", path="/", query_string="", headers={}, client_ip="127.0.0.1"
    )


async def test_no_checks_is_a_free_pass() -> None:
    verdict = await Pipeline([]).run(Phase.REQUEST_HEADERS, exchange())
    assert verdict.action is Action.ALLOW and verdict.outcomes == ()


async def test_the_strongest_decision_wins_and_a_block_stops_the_phase() -> None:
    flag = FakeCheck(Decision.flag([FINDING]))
    block = FakeCheck(Decision.block(403, [FINDING]))
    after = FakeCheck(Decision.allow())
    ex = exchange()
    verdict = await Pipeline([bound(flag, "a"), bound(block, "b"), bound(after, "c")]).run(
        Phase.REQUEST_HEADERS, ex
    )
    assert verdict.action is Action.BLOCK and verdict.status == 403
    assert after.calls == 0  # nothing runs after a block
    assert [o.check for o in ex.outcomes] == ["a", "b"]


@pytest.mark.parametrize(
    ("mode", "action", "would_block"),
    [
        (Mode.ENFORCE, Action.BLOCK, False),  # enforced: blocks
        (Mode.MONITOR, Action.FLAG, True),  # monitored: recorded as a flag with would_block
    ],
)
async def test_monitor_mode_records_would_block(
    mode: Mode, action: Action, would_block: bool
) -> None:
    ex = exchange()
    verdict = await Pipeline([bound(FakeCheck(Decision.block(403, [FINDING])), mode=mode)]).run(
        Phase.REQUEST_HEADERS, ex
    )
    assert verdict.action is action
    assert ex.would_block is would_block
    assert ex.outcomes[0].decision.findings == (FINDING,)


async def test_off_checks_never_run() -> None:
    check = FakeCheck(Decision.block(403, [FINDING]))
    verdict = await Pipeline([bound(check, mode=Mode.OFF)]).run(Phase.REQUEST_HEADERS, exchange())
    assert verdict.action is Action.ALLOW and check.calls == 0


@pytest.mark.parametrize(
    ("check", "on_error", "action", "kind"),
    [
        (
            FakeCheck(Decision.allow(), raises=True),
            OnError.BLOCK,
            Action.BLOCK,
            "check.fault",
        ),  # fail closed
        (
            FakeCheck(Decision.allow(), raises=True),
            OnError.ALLOW,
            Action.FLAG,
            "check.fault",
        ),  # fail open
        (
            FakeCheck(Decision.allow(), sleep=0.5),
            OnError.BLOCK,
            Action.BLOCK,
            "check.timeout",
        ),  # over budget
        (FakeCheck(Decision.allow(), sleep=0.5), OnError.ALLOW, Action.FLAG, "check.timeout"),
    ],
)
async def test_faults_are_recorded_then_on_error_decides(
    check: FakeCheck, on_error: OnError, action: Action, kind: str
) -> None:
    ex = exchange()
    verdict = await Pipeline([bound(check, on_error=on_error, timeout=0.05)]).run(
        Phase.REQUEST_HEADERS, ex
    )
    assert verdict.action is action
    (outcome,) = ex.outcomes
    assert outcome.fault
    assert outcome.decision.findings[0].kind == kind
    if action is Action.BLOCK:
        assert verdict.status == 503


async def test_a_computing_check_over_budget_is_a_timeout_fault() -> None:
    slow = FakeCheck(Decision.allow(), awaits_io=False)
    slow.check_request = _busy  # type: ignore[method-assign]
    ex = exchange()
    verdict = await Pipeline([bound(slow, timeout=0.01)]).run(Phase.REQUEST_HEADERS, ex)
    assert verdict.action is Action.BLOCK
    assert ex.outcomes[0].decision.findings[0].kind == "check.timeout"


async def _busy(ex: Exchange) -> Decision:
    import time

    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:
        pass
    return Decision.allow()


async def test_checks_run_only_in_their_phases() -> None:
    check = FakeCheck(Decision.block(403, [FINDING]))
    pipeline = Pipeline([bound(check)])
    assert pipeline.has(Phase.REQUEST_HEADERS) and not pipeline.has(Phase.REQUEST_BODY)
    assert (await pipeline.run(Phase.REQUEST_BODY, exchange())).action is Action.ALLOW
    assert check.calls == 0


def test_a_check_without_the_hook_for_its_phase_is_refused_at_build_time() -> None:
    @dataclass
    class Confused:
        phases: frozenset[Phase] = frozenset({Phase.RESPONSE_BODY})

        async def check_request(self, ex: Exchange) -> Decision:
            return Decision.allow()

    with pytest.raises(TypeError, match="runs in response_body but has no hook"):
        BoundCheck("confused", Confused(), Mode.ENFORCE, OnError.BLOCK, 1.0)
