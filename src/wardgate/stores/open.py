"""Open the store a policy names."""

from __future__ import annotations

from wardgate.policy.model import CounterSettings, RedisCounters
from wardgate.stores.counters import CounterStore
from wardgate.stores.memory import MemoryCounterStore

__all__ = ["open_counter_store"]


def open_counter_store(settings: CounterSettings) -> CounterStore:
    if isinstance(settings, RedisCounters):
        from wardgate.stores.redis import RedisCounterStore  # only deployments with Redis

        return RedisCounterStore(settings.url, prefix=settings.prefix, timeout=settings.timeout)
    return MemoryCounterStore()
