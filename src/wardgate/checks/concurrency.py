"""`concurrency`: requests (and streams) in flight at once, per consumer or any key.

A slot (named by the request id) is taken before forwarding and given back in the log
phase, whatever happened. A client over its limit may wait in a bounded queue
(`queue_seconds`) instead of getting 429 at once. Each slot expires on its own after
`lease_seconds`, so one a crashed process never gave back frees itself.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.checks.limiting import KeyParts, limit_key, too_many
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.stores.counters import CounterStore

__all__ = ["ConcurrencyCheck", "Config"]

POLL_SECONDS = (0.005, 0.01, 0.02, 0.05, 0.1)


class Config(CheckSettings):
    """At most `max_requests` requests and `max_streams` streamed calls in flight per `key`."""

    type: Literal["concurrency"] = "concurrency"
    max_requests: int | None = Field(default=None, gt=0, description="Requests in flight.")
    max_streams: int | None = Field(
        default=None, gt=0, description="Streamed AI calls in flight (needs the parsed call)."
    )
    key: KeyParts = Field(default_factory=lambda: ["consumer"])
    queue_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="How long a request over the limit waits for a slot before 429; 0 answers "
        "at once. Keep it under the check's `timeout`.",
    )
    lease_seconds: float = Field(
        default=900.0, gt=0, description="Longest a slot is held if it is never given back."
    )

    @model_validator(mode="after")
    def _something_limited(self) -> Config:
        if self.max_requests is None and self.max_streams is None:
            raise ValueError("set max_requests, max_streams or both")
        return self


class ConcurrencyCheck:
    awaits_io = True

    def __init__(self, config: Config, context: CheckContext) -> None:
        self._config = config
        self._store = context.counters
        self._name = config.name or config.type
        self._vault_key = f"slots:{self._name}"
        first = Phase.REQUEST_BODY if config.max_streams else Phase.REQUEST_HEADERS
        self.phases = frozenset({first, Phase.LOG})
        self.needs_call = config.max_streams is not None

    async def check_request(self, ex: Exchange) -> Decision:
        config = self._config
        key = limit_key(config.key, ex)
        wanted: list[tuple[str, int]] = []
        if config.max_requests is not None:
            wanted.append((f"inflight:{self._name}:{key}", config.max_requests))
        if config.max_streams is not None and ex.call is not None and ex.call.stream:
            wanted.append((f"streams:{self._name}:{key}", config.max_streams))
        # (Slots are counted against each request's own limit, so checks sharing a name
        # with different limits still never hold more than the smallest allows.)
        taken: list[str] = []
        ex.vault[self._vault_key] = taken
        for slot, limit in wanted:
            if not await _acquire(self._store, slot, ex.request_id, limit, config):
                finding = Finding(
                    kind="limit.concurrency",
                    rule=self._name,
                    severity="low",
                    reason=f"{limit} {'streams' if slot.startswith('streams') else 'requests'} "
                    "already in flight",
                )
                return too_many(
                    finding,
                    policy_name=self._name,
                    quota=limit,
                    window=1,
                    remaining=0,
                    retry_after=1,
                    reset_after=1,
                )
            taken.append(slot)
        return Decision.allow()

    async def check_log(self, ex: Exchange) -> Decision:
        for slot in ex.vault.pop(self._vault_key, ()):
            await self._store.release(slot, ex.request_id)
        return Decision.allow()


async def _acquire(store: CounterStore, slot: str, member: str, limit: int, config: Config) -> bool:
    if await store.acquire(slot, member, limit, config.lease_seconds):
        return True
    if not config.queue_seconds:
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.queue_seconds
    attempt = 0
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)]))
        attempt += 1
        if await store.acquire(slot, member, limit, config.lease_seconds):
            return True
    return False
