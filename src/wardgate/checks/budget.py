"""`budget`: a cost ceiling per day or month, in USD, from the policy's price table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import KeyParts, limit_key, period_window, too_many
from wardgate.checks.reservations import Reservation, estimated_usage, settle
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["BudgetCheck", "Config"]

MICROS = 1_000_000


class Config(CheckSettings):
    """At most `usd` spent per calendar `period` (UTC), counted per `key`.

    A call reserves the price of its worst case (prompt estimate plus output allowance)
    before it is forwarded and is charged its reported usage after; a call that would pass
    the budget is refused with 429 before the upstream is called. A model without a price
    in `prices` is refused (403) unless `unpriced: allow`.
    """

    type: Literal["budget"] = "budget"
    usd: float = Field(gt=0, description="Budget in US dollars per period.")
    period: Literal["day", "month"] = Field(default="day", description="Calendar period, UTC.")
    key: KeyParts = Field(default_factory=lambda: ["consumer"])
    assume_output_tokens: int = Field(
        default=1024, ge=0, description="Output tokens priced for a call that sets no limit."
    )
    unpriced: Literal["block", "allow"] = Field(
        default="block", description="What to do with a model that has no price."
    )


class BudgetCheck:
    awaits_io = True
    phases = frozenset({Phase.REQUEST_BODY, Phase.LOG})
    needs_call = True

    def __init__(self, config: Config, context: CheckContext) -> None:
        self._config = config
        self._store = context.counters
        self._prices = context.prices
        self._name = config.name or config.type
        self._limit = round(config.usd * MICROS)
        self._vault_key = f"reservation:{self._name}"

    async def check_request(self, ex: Exchange) -> Decision:
        call = ex.call
        if call is None:
            return Decision.allow()
        config = self._config
        worst = estimated_usage(call, config.assume_output_tokens)
        cost = self._prices.cost_micros(call.model, worst.input_tokens, worst.output_tokens)
        if cost is None:
            if config.unpriced == "allow":
                return Decision.allow()
            finding = Finding(kind="budget.unpriced_model", rule=self._name, reason="no price")
            return Decision.block(403, [finding])
        period, ttl = period_window(config.period)
        slot = f"budget:{self._name}:{limit_key(config.key, ex)}:{period}"
        admission = await self._store.reserve(slot, cost, self._limit, ttl + 3600)
        if admission.allowed:
            ex.vault[self._vault_key] = Reservation(slot, cost, ttl + 3600)
            return Decision.allow()
        finding = Finding(
            kind="limit.budget",
            rule=self._name,
            severity="low",
            reason=f"call priced up to {cost / MICROS:.6f} USD would pass the "
            f"{config.usd:g} USD {config.period} budget",
        )
        return too_many(
            finding,
            policy_name=self._name,
            quota=self._limit,
            window=86400 if config.period == "day" else 86400 * 31,
            remaining=admission.remaining,
            retry_after=ttl,
            reset_after=ttl,
        )

    async def check_log(self, ex: Exchange) -> Decision:
        reservation = ex.vault.pop(self._vault_key, None)
        if reservation is not None:
            usage = ex.usage
            actual = (
                self._prices.cost_micros(ex.model, usage.input_tokens, usage.output_tokens)
                if usage is not None
                else None
            )
            await settle(self._store, ex, reservation, actual)
        return Decision.allow()
