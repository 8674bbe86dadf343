"""`budget`: a cost ceiling per day or month, in USD, from the policy's price table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import KeyParts, limit_key, period_window, scope_of
from wardgate.checks.reservations import ReservingCheck, estimated_usage
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange

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


class BudgetCheck(ReservingCheck):
    def __init__(self, config: Config, context: CheckContext) -> None:
        super().__init__(config.name or config.type, context)
        self._config = config
        self._prices = context.prices
        self._limit = round(config.usd * MICROS)
        self._scope = scope_of(self._limit, config.period)

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
        finding = Finding(
            kind="limit.budget",
            rule=self._name,
            severity="low",
            reason=f"call priced up to {cost / MICROS:.6f} USD would pass the "
            f"{config.usd:g} USD {config.period} budget",
        )
        slot = f"budget:{self._name}:{self._scope}:{limit_key(config.key, ex)}:{period}"
        window = 86400.0 if config.period == "day" else 86400.0 * 31
        return await self._reserve(ex, slot, cost, self._limit, ttl + 3600, finding, window)

    def _actual(self, ex: Exchange) -> int | None:
        usage = ex.usage
        if usage is None:
            return None
        return self._prices.cost_micros(ex.model, usage.input_tokens, usage.output_tokens)
