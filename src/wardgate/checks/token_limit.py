"""`token_limit`: tokens per window, reserved before forwarding and reconciled after."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import Duration, KeyParts, fixed_window, limit_key, scope_of
from wardgate.checks.reservations import ReservingCheck, estimated_usage
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange

__all__ = ["Config", "TokenLimitCheck"]


class Config(CheckSettings):
    """At most `tokens` (input + output) per `per`, counted per `key`.

    Each call reserves its prompt estimate plus its output allowance (`max_tokens`, or
    `assume_output_tokens` when the call sets none) times `n`; the reservation is settled
    with the usage the upstream reports. Over the limit: 429 before the upstream is called.
    """

    type: Literal["token_limit"] = "token_limit"
    tokens: int = Field(gt=0, description="Tokens allowed per window.")
    per: Duration = Field(description="The window: seconds, or `1m`, `1h`, `1d`.")
    key: KeyParts = Field(default_factory=lambda: ["consumer"])
    assume_output_tokens: int = Field(
        default=1024, ge=0, description="Output tokens reserved for a call that sets no limit."
    )


class TokenLimitCheck(ReservingCheck):
    def __init__(self, config: Config, context: CheckContext) -> None:
        super().__init__(config.name or config.type, context)
        self._config = config
        self._scope = scope_of(config.tokens, config.per)

    async def check_request(self, ex: Exchange) -> Decision:
        call = ex.call
        if call is None:
            return Decision.allow()  # not an AI call: nothing to count
        config = self._config
        amount = estimated_usage(call, config.assume_output_tokens).total_tokens
        window, ttl = fixed_window(config.per)
        finding = Finding(
            kind="limit.tokens",
            rule=self._name,
            severity="low",
            reason=f"{amount} tokens would pass {config.tokens} per {config.per:g}s",
        )
        slot = f"tokens:{self._name}:{self._scope}:{limit_key(config.key, ex)}:{window}"
        return await self._reserve(ex, slot, amount, config.tokens, ttl + 1, finding, config.per)

    def _actual(self, ex: Exchange) -> int | None:
        return ex.usage.total_tokens if ex.usage is not None else None
