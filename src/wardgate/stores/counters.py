"""The counter store protocol: the atomic operations every limit and budget is built on.

Two primitives cover them all:
- `reserve` adds an amount to a counter only if the result stays within a limit (token and
  cost budgets, concurrency), and `add` adjusts it afterwards (reconcile, release);
- `gcra` is the generic cell rate algorithm for request rates: one timestamp per key, exact
  under concurrency, and a precise `retry_after`.
- `acquire`/`release` hold named slots for concurrency limits; each slot expires on its
  own after its lease, so a slot a crashed process never gave back frees itself.
All are atomic in every backend, so N concurrent requests can never overspend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Admission", "CounterStore", "gcra_step"]


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer of a counter: allowed or not, and what the client may be told about it.

    `used` is the counter after the operation (before it, when refused); `retry_after` is
    0 when allowed; for `gcra`, `remaining` and `reset_after` follow the IETF RateLimit
    header fields' meaning.
    """

    allowed: bool
    used: int = 0
    remaining: int = 0
    retry_after: float = 0.0
    reset_after: float = 0.0


class CounterStore(Protocol):
    """Atomic counters; every method raises `StoreError` when the backend fails."""

    name: str

    async def reserve(self, key: str, amount: int, limit: int, ttl: float) -> Admission:
        """Add `amount` to `key` if the total stays <= `limit`; the key then lives `ttl`
        more seconds."""
        ...

    async def add(self, key: str, delta: int, ttl: float) -> int:
        """Add `delta` (may be negative; the value never goes below 0) unconditionally; the
        key then lives `ttl` more seconds. Returns the new value."""
        ...

    async def gcra(self, key: str, limit: int, period: float, cost: int = 1) -> Admission:
        """Allow `limit` units per `period` seconds (bursting up to `limit`)."""
        ...

    async def acquire(self, key: str, member: str, limit: int, lease: float) -> bool:
        """Hold slot `member` of `key` if fewer than `limit` unexpired slots are held."""
        ...

    async def release(self, key: str, member: str) -> None: ...

    async def close(self) -> None: ...


def gcra_step(
    tat: float | None, now: float, limit: int, period: float, cost: int
) -> tuple[Admission, float | None]:
    """One GCRA decision: the admission and the new theoretical arrival time (None: unchanged).

    `tat` is the stored theoretical arrival time. The Redis backend runs the same arithmetic
    in Lua; this is the reference both are tested against.
    """
    interval = period / limit
    base = max(tat if tat is not None else now, now)
    new_tat = base + interval * cost
    allow_at = new_tat - period
    if now < allow_at - 1e-6:
        return Admission(False, retry_after=allow_at - now, reset_after=base - now), None
    # The epsilon absorbs float error on epoch-sized clocks (Redis TIME).
    remaining = max(0, int((now - allow_at) / interval + 1e-3))
    return Admission(True, remaining=remaining, reset_after=new_tat - now), new_tat
