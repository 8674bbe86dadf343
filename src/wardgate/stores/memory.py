"""Counters in this process's memory: exact for one process, per process for several.

Every operation runs to completion without awaiting, so it is atomic on the event loop.
Expired keys are swept as they are touched and in a periodic pass, so memory stays
bounded by the keys active within their windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from wardgate.stores.counters import Admission, gcra_step

__all__ = ["MemoryCounterStore"]

SWEEP_EVERY = 4096  # operations between two sweeps of expired keys


class MemoryCounterStore:
    name = "memory"

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._now = clock or time.monotonic
        # key -> [value, expires_at]; GCRA keys hold their theoretical arrival time.
        self._values: dict[str, list[float]] = {}
        self._slots: dict[str, dict[str, float]] = {}  # key -> member -> expires_at
        self._operations = 0

    def _get(self, key: str, now: float) -> float | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._values[key]
            return None
        return entry[0]

    def _tick(self, now: float) -> None:
        self._operations += 1
        if self._operations % SWEEP_EVERY == 0:
            expired = [k for k, (_, expires) in self._values.items() if expires <= now]
            for key in expired:
                del self._values[key]

    async def reserve(self, key: str, amount: int, limit: int, ttl: float) -> Admission:
        now = self._now()
        self._tick(now)
        used = int(self._get(key, now) or 0)
        if used + amount > limit:
            return Admission(False, used=used, remaining=max(0, limit - used))
        self._values[key] = [float(used + amount), now + ttl]
        return Admission(True, used=used + amount, remaining=limit - used - amount)

    async def add(self, key: str, delta: int, ttl: float) -> int:
        now = self._now()
        self._tick(now)
        value = max(0, int(self._get(key, now) or 0) + delta)
        self._values[key] = [float(value), now + ttl]
        return value

    async def gcra(self, key: str, limit: int, period: float, cost: int = 1) -> Admission:
        now = self._now()
        self._tick(now)
        admission, new_tat = gcra_step(self._get(key, now), now, limit, period, cost)
        if new_tat is not None:
            self._values[key] = [new_tat, new_tat]
        return admission

    async def acquire(self, key: str, member: str, limit: int, lease: float) -> bool:
        now = self._now()
        slots = self._slots.setdefault(key, {})
        for expired in [m for m, expires in slots.items() if expires <= now]:
            del slots[expired]
        if len(slots) >= limit:
            return False
        slots[member] = now + lease
        return True

    async def release(self, key: str, member: str) -> None:
        slots = self._slots.get(key)
        if slots is not None:
            slots.pop(member, None)
            if not slots:
                del self._slots[key]

    async def close(self) -> None:
        self._values.clear()
        self._slots.clear()
