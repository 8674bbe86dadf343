"""Counters in Redis, shared by every worker and machine: each operation is one Lua script,
so it is atomic and costs one round trip.

When Redis fails, operations raise `StoreError` (the check's `on_error` then decides: fail
open or closed). After a failure the store answers `StoreError` at once for a short
cool-down instead of waiting on a dead server for every request, then tries again: the
gateway recovers by itself when Redis returns.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from wardgate.errors import StoreError
from wardgate.stores.counters import Admission

__all__ = ["RedisCounterStore"]

_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if used + amount > limit then
  return {0, used}
end
local new = redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, new}
"""

_ADD = """
local new = redis.call('INCRBY', KEYS[1], ARGV[1])
if new < 0 then
  new = 0
  redis.call('SET', KEYS[1], 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return new
"""

# The same arithmetic as counters.gcra_step, on the server's clock so that every gateway
# agrees on "now". Floats are returned as strings: Lua numbers become integers in replies.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local base = math.max(tat, now)
local new_tat = base + interval * cost
local allow_at = new_tat - period
if now < allow_at - 1e-6 then
  return {0, 0, tostring(allow_at - now), tostring(base - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil((new_tat - now) * 1000)))
return {1, math.floor((now - allow_at) / interval + 1e-3), '0', tostring(new_tat - now)}
"""


# Slots are members of a sorted set scored by their expiry (server clock): expired ones are
# dropped before counting, so each lease ends on its own whatever else happens.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisCounterStore:
    name = "redis"

    def __init__(
        self, url: str, *, prefix: str = "wardgate:", timeout: float = 0.25, cooldown: float = 1.0
    ) -> None:
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # fail fast; on_error decides, the next call retries
            health_check_interval=0,
        )
        self._prefix = prefix
        self._cooldown = cooldown
        self._down_until = 0.0
        self._reserve = self._client.register_script(_RESERVE)
        self._add = self._client.register_script(_ADD)
        self._gcra = self._client.register_script(_GCRA)
        self._acquire = self._client.register_script(_ACQUIRE)

    async def _run(
        self, script: Any, key: str, *args: object, during_cooldown: bool = False
    ) -> Any:
        if not during_cooldown and self._down_until and time.monotonic() < self._down_until:
            raise StoreError("redis unavailable (cooling down after a failure)")
        try:
            result = await script(keys=[self._prefix + key], args=list(args))
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self._cooldown
            raise StoreError(f"redis: {type(exc).__name__}") from None
        self._down_until = 0.0
        return result

    async def reserve(self, key: str, amount: int, limit: int, ttl: float) -> Admission:
        allowed, used = await self._run(self._reserve, key, amount, limit, _ms(ttl))
        used = int(used)
        if not allowed:
            return Admission(False, used=used, remaining=max(0, limit - used))
        return Admission(True, used=used, remaining=max(0, limit - used))

    async def add(self, key: str, delta: int, ttl: float) -> int:
        # Settlements and releases are tried even while cooling down: losing one would leave
        # a counter wrong after the outage.
        return int(await self._run(self._add, key, delta, _ms(ttl), during_cooldown=True))

    async def gcra(self, key: str, limit: int, period: float, cost: int = 1) -> Admission:
        allowed, remaining, retry_after, reset_after = await self._run(
            self._gcra, key, limit, period, cost
        )
        return Admission(
            bool(allowed),
            remaining=int(remaining),
            retry_after=float(retry_after),
            reset_after=float(reset_after),
        )

    async def acquire(self, key: str, member: str, limit: int, lease: float) -> bool:
        return bool(await self._run(self._acquire, key, member, limit, _ms(lease)))

    async def release(self, key: str, member: str) -> None:
        # Tried even while cooling down, as `add` is: a lost release would hold a slot.
        try:
            await self._client.zrem(self._prefix + key, member)
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self._cooldown
            raise StoreError(f"redis: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
