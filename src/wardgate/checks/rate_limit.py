"""`rate_limit`: requests per window, per consumer (or any key), with GCRA.

GCRA lets a client use its whole quota in a burst and then spaces requests evenly; it keeps
one timestamp per key, is exact under concurrency in both stores, and yields a precise
Retry-After.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import (
    Duration,
    KeyParts,
    limit_key,
    needs_call,
    scope_of,
    too_many,
)
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["Config", "RateLimitCheck"]


class Config(CheckSettings):
    """At most `requests` per `per`, counted per `key`; over it: 429 with Retry-After.

    Checks with the same name share their counters across routes (a global limit)."""

    type: Literal["rate_limit"] = "rate_limit"
    requests: int = Field(gt=0, description="Requests allowed per window.")
    per: Duration = Field(description="The window: seconds, or `10s`, `1m`, `1h`, `1d`.")
    key: KeyParts = Field(default_factory=lambda: ["consumer"])


class RateLimitCheck:
    awaits_io = True

    def __init__(self, config: Config, context: CheckContext) -> None:
        self._config = config
        self._store = context.counters
        self._name = config.name or config.type
        self._scope = scope_of(config.requests, config.per)
        self.phases = frozenset(
            {Phase.REQUEST_BODY if needs_call(config.key) else Phase.REQUEST_HEADERS}
        )

    async def check_request(self, ex: Exchange) -> Decision:
        config = self._config
        key = f"rate:{self._name}:{self._scope}:{limit_key(config.key, ex)}"
        admission = await self._store.gcra(key, config.requests, config.per)
        if admission.allowed:
            return Decision.allow()
        finding = Finding(
            kind="limit.rate",
            rule=f"{self._name}",
            severity="low",
            reason=f"over {config.requests} requests per {config.per:g}s",
        )
        return too_many(
            finding,
            policy_name=self._name,
            quota=config.requests,
            window=config.per,
            remaining=admission.remaining,
            retry_after=admission.retry_after,
            reset_after=admission.reset_after,
        )
