"""`token_limit`: tokens per window, reserved before forwarding and reconciled after."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import Duration, KeyParts, fixed_window, limit_key, too_many
from wardgate.checks.reservations import Reservation, estimated_usage, settle
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase

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


class TokenLimitCheck:
    awaits_io = True
    phases = frozenset({Phase.REQUEST_BODY, Phase.LOG})
    needs_call = True

    def __init__(self, config: Config, context: CheckContext) -> None:
        self._config = config
        self._store = context.counters
        self._name = config.name or config.type
        self._vault_key = f"reservation:{self._name}"

    async def check_request(self, ex: Exchange) -> Decision:
        call = ex.call
        if call is None:
            return Decision.allow()  # not an AI call: nothing to count
        config = self._config
        amount = estimated_usage(call, config.assume_output_tokens).total_tokens
        window, ttl = fixed_window(config.per)
        slot = f"tokens:{self._name}:{limit_key(config.key, ex)}:{window}"
        admission = await self._store.reserve(slot, amount, config.tokens, ttl + 1)
        if admission.allowed:
            ex.vault[self._vault_key] = Reservation(slot, amount, ttl + 1)
            return Decision.allow()
        finding = Finding(
            kind="limit.tokens",
            rule=self._name,
            severity="low",
            reason=f"{amount} tokens would pass {config.tokens} per {config.per:g}s",
        )
        return too_many(
            finding,
            policy_name=self._name,
            quota=config.tokens,
            window=config.per,
            remaining=admission.remaining,
            retry_after=ttl,
            reset_after=ttl,
        )

    async def check_log(self, ex: Exchange) -> Decision:
        reservation = ex.vault.pop(self._vault_key, None)
        if reservation is not None:
            actual = ex.usage.total_tokens if ex.usage is not None else None
            await settle(self._store, ex, reservation, actual)
        return Decision.allow()
