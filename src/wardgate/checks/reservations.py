"""Reserve before forwarding, reconcile after: the part token limits and budgets share.

A request reserves its worst case (the prompt estimate plus the output it may ask for)
with one atomic `reserve`, so concurrent requests can never overspend. When the answer
reports usage, the difference is given back or charged; a request that was refused or could
not reach the upstream gets its whole reservation back; one that reached it without
reported usage, or timed out there, keeps it (the safe side).
"""

from __future__ import annotations

from dataclasses import dataclass

from wardgate.checks.base import CheckContext
from wardgate.checks.limiting import too_many
from wardgate.decision import Decision, Finding
from wardgate.detect.tokens import estimate_messages
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.providers.call import LLMCall, Usage
from wardgate.stores.counters import CounterStore

__all__ = ["Reservation", "ReservingCheck", "estimated_usage", "settle"]


# OpenAI prices a high-detail 1024x1024 image at 765 tokens, Anthropic about 1,600 for the
# largest it accepts whole: reserve the larger.
IMAGE_TOKENS = 1600


@dataclass(frozen=True, slots=True)
class Reservation:
    slot: str
    amount: int
    ttl: float


def estimated_usage(call: LLMCall, assume_output_tokens: int) -> Usage:
    """The most a call may consume: its prompt estimate and its whole output allowance.

    Images are priced at a high-detail image's tokens and token-id inputs count as sent, so
    neither slips through a budget as free."""
    prompt = estimate_messages(m.text for m in call.messages)
    prompt += sum(IMAGE_TOKENS * m.images + m.tokens for m in call.messages)
    if call.operation == "embeddings":
        return Usage(prompt, 0)
    output = call.max_tokens if call.max_tokens is not None else assume_output_tokens
    choices = max(call.n, call.best_of or 1)
    return Usage(prompt, output * choices)


async def settle(
    store: CounterStore, ex: Exchange, reservation: Reservation, actual: int | None
) -> None:
    """Charge what the call cost.

    - No answer (refused, or the upstream unreachable) and no timeout: nothing was consumed.
    - The upstream refused the call (status >= 400) and reported no usage: nothing either.
    - The answer was cut (client gone, stream broken): the usage seen so far may be partial,
      so the worst case stays charged unless more was reported.
    - Otherwise: the reported usage; unknown usage keeps the worst case.
    """
    if ex.upstream is None and ex.error != "upstream-timeout":
        delta = -reservation.amount
    elif actual is None:
        if ex.upstream is not None and ex.status >= 400 and ex.error is None:
            delta = -reservation.amount
        else:
            return
    else:
        actual = max(0, actual)  # usage comes from the upstream: never let it mint credit
        if ex.error is not None:
            actual = max(actual, reservation.amount)
        delta = actual - reservation.amount
    if delta:
        await store.add(reservation.slot, delta, reservation.ttl)


class ReservingCheck:
    """The shape of `token_limit` and `budget`: reserve in `request_body`, settle in `log`.

    Subclasses price a call (`amount`, `actual`) and name its counter (`slot`)."""

    awaits_io = True
    phases = frozenset({Phase.REQUEST_BODY, Phase.LOG})
    needs_call = True

    def __init__(self, name: str, context: CheckContext) -> None:
        self._name = name
        self._store = context.counters
        self._vault_key = f"reservation:{name}"

    async def _reserve(
        self,
        ex: Exchange,
        slot: str,
        amount: int,
        limit: int,
        ttl: float,
        finding: Finding,
        window: float,
    ) -> Decision:
        # At least 1: a call estimated at nothing must still not pass a full counter.
        admission = await self._store.reserve(slot, max(1, amount), limit, ttl)
        if admission.allowed:
            ex.vault[self._vault_key] = Reservation(slot, max(1, amount), ttl)
            return Decision.allow()
        return too_many(
            finding,
            policy_name=self._name,
            quota=limit,
            window=window,
            remaining=admission.remaining,
            retry_after=ttl,
            reset_after=ttl,
        )

    def _actual(self, ex: Exchange) -> int | None:
        """What the call really cost, in the counter's unit (None: unknown)."""
        raise NotImplementedError

    async def check_log(self, ex: Exchange) -> Decision:
        reservation = ex.vault.pop(self._vault_key, None)
        if reservation is not None:
            await settle(self._store, ex, reservation, self._actual(ex))
        return Decision.allow()
