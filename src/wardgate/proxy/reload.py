"""Hot reload: load, validate, compile, swap; the last good plan stays on any failure.

A reload is triggered by SIGHUP or by a change of the policy file (polled once a second:
cheap, and it works on every filesystem). Upstream pools whose configuration did not change
are reused, so warm keep-alive connections survive the swap; retired pools are closed once
the requests still using them have finished.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from wardgate.errors import PolicyError
from wardgate.observe.metrics import METRICS
from wardgate.policy.compile import Plan, compile_policy
from wardgate.policy.load import load_policy
from wardgate.policy.model import CounterSettings, Policy, Upstream
from wardgate.proxy.gateway import Gateway
from wardgate.proxy.upstream import UpstreamPool
from wardgate.stores.counters import CounterStore
from wardgate.stores.open import open_counter_store

__all__ = ["PolicyWatcher", "PoolRegistry"]

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class PoolRegistry:
    """Upstream pools by (name, configuration): the same upstream gets the same pool.

    It also keeps the counter store, so limits and budgets survive a reload; a reload that
    changes `stores.counters` starts a fresh store (its counters start from zero)."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str], UpstreamPool] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._counters: tuple[str, CounterStore] | None = None
        self._old_counters: list[CounterStore] = []

    def counters_for(self, settings: CounterSettings) -> CounterStore:
        key = settings.model_dump_json()
        if self._counters is not None and self._counters[0] == key:
            return self._counters[1]
        if self._counters is not None:
            self._old_counters.append(self._counters[1])
        store = open_counter_store(settings)
        self._counters = (key, store)
        return store

    def pool_for(self, name: str, config: Upstream) -> UpstreamPool:
        key = (name, config.model_dump_json())
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = UpstreamPool(name, config)
        return pool

    def compile(self, policy: Policy) -> Plan:
        return compile_policy(policy, self.pool_for, self.counters_for(policy.stores.counters))

    def retire_unused(self, plan: Plan, grace_seconds: float) -> None:
        used = plan.pools
        for key, pool in list(self._pools.items()):
            if pool not in used:
                del self._pools[key]
                grace = max(grace_seconds, pool.config.timeouts.total)
                task = asyncio.get_running_loop().create_task(_close_when_idle(pool, grace))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))
        self._pools.clear()
        stores = [*self._old_counters, *([self._counters[1]] if self._counters else [])]
        await asyncio.gather(*(store.close() for store in stores), return_exceptions=True)
        self._counters = None
        self._old_counters.clear()


async def _close_when_idle(pool: UpstreamPool, grace_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    try:
        while pool.in_flight and loop.time() < deadline:  # noqa: ASYNC110 - polls a counter
            await asyncio.sleep(0.1)
    finally:
        await pool.close()


class PolicyWatcher:
    """Reloads the gateway's policy on SIGHUP or when the file changes."""

    def __init__(self, path: Path, gateway: Gateway, pools: PoolRegistry) -> None:
        self.path = path
        self.gateway = gateway
        self.pools = pools
        self._stamp = self._read_stamp()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _read_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="wardgate-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            stamp = self._read_stamp()
            if stamp is not None and stamp != self._stamp:
                self._stamp = stamp
                await self.reload()

    async def reload(self) -> bool:
        """Load and swap; returns whether the new policy is now active."""
        async with self._lock:
            try:
                policy = await asyncio.to_thread(load_policy, self.path)
                plan = self.pools.compile(policy)
            except PolicyError as exc:
                METRICS.reload_failures += 1
                log.error("policy reload failed; keeping the current policy:\n%s", exc)
                return False
            except Exception:  # a reload must never take the watcher (or the gateway) down
                METRICS.reload_failures += 1
                log.exception("policy reload failed unexpectedly; keeping the current policy")
                return False
            current = self.gateway.plan.policy
            for section in ("server", "events"):
                if getattr(policy, section) != getattr(current, section):
                    log.warning("policy reload: `%s` settings take effect on restart", section)
            self.gateway.install(plan)
            METRICS.reloads += 1
            grace = max(r.timeout.total or 0.0 for r in plan.routes) if plan.routes else 0.0
            self.pools.retire_unused(plan, grace_seconds=max(grace, 30.0))
            log.info("policy reloaded from %s", self.path)
            return True
