"""Learning the inventory from live traffic without slowing it down.

The gateway hands every finished exchange to `TrafficLearner.observe` in its log phase:
a sampled exchange becomes an `Observation` (bodies cut to `max_body`) and joins a bounded
queue; nothing else happens on the request path. A task on the event loop learns from the
queue in slices of at most a millisecond and then sleeps long enough to stay within its
CPU budget (0.5 % of a core by default), so a burst of traffic fills the queue instead of
taking the loop; when the queue is full, the newest calls are skipped and counted. Every
`flush_seconds` the endpoints learned are merged into the inventory store in a worker
thread, shared with every other worker and machine pointed at the same store. The store
is opened when learning starts, so a first flush under load does not pay for creating it
and a misconfigured store shows in the log at once; a store that cannot be opened then
is tried again at each flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import deque
from urllib.parse import parse_qsl

from wardgate.discovery.fields import cookie_pairs
from wardgate.discovery.inventory import Inventory, merge_states
from wardgate.discovery.observation import Observation
from wardgate.discovery.store import EndpointKey, InventoryStore, open_store
from wardgate.exchange import Exchange
from wardgate.policy.model import DiscoverySettings

__all__ = ["TrafficLearner", "observation_of"]

log = logging.getLogger(__name__)

_SLICE_SECONDS = 0.001


class TrafficLearner:
    """One process's learning: a bounded queue, a budgeted task, periodic store merges."""

    def __init__(self, settings: DiscoverySettings, store_url: str) -> None:
        self._settings = settings
        self._store_url = store_url
        self._store: InventoryStore | None = None
        self._store_lock = threading.Lock()
        self._queue: deque[Observation] = deque()
        self._inventory = Inventory(max_templates_per_host=settings.max_endpoints_per_host)
        self._random = random.Random()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.learned = 0
        self.skipped = 0
        self.refused = 0

    def observe(self, ex: Exchange) -> None:
        """Called once per finished exchange, before its payloads are released."""
        settings = self._settings
        if settings.sample_rate < 1.0 and self._random.random() >= settings.sample_rate:
            return
        if len(self._queue) >= settings.queue_size:
            self.skipped += 1
            return
        self._queue.append(observation_of(ex, settings.max_body))
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._learn_forever(), name="wardgate-discovery")

    async def close(self) -> None:
        """Learn what is queued, write it to the store, stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._learn_slice(deadline=None)
        await self.flush()
        await asyncio.to_thread(self._close_store)

    async def flush(self) -> None:
        """Merge the endpoints learned so far into the store."""
        drained = self._inventory.drain()
        if not drained:
            return
        records = {EndpointKey(*key): state for key, state in drained}
        try:
            # Opened here too: `close` may cancel the opening at start before it ran.
            await asyncio.to_thread(self._open_store)
        except Exception:  # the delta is lost, as below
            log.exception(
                "discovery: could not open the inventory store (%d endpoints not written)",
                len(records),
            )
            return
        try:
            await asyncio.to_thread(self._merge, records)
        except Exception:  # a store outage must not stop learning; the delta is lost
            log.exception("discovery: could not write %d endpoints to the store", len(records))

    def _open_store(self) -> InventoryStore:
        # Worker threads: the opening at start may still run when the first flush or
        # `close` comes.
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self._store_url)
            return self._store

    def _close_store(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _merge(self, records: dict[EndpointKey, dict[str, object]]) -> None:
        result = self._open_store().merge(records, merge_states)
        self.refused += len(result.refused)

    async def _learn_forever(self) -> None:
        try:
            await asyncio.to_thread(self._open_store)
        except Exception:  # learning goes on; the next flush tries again
            log.exception("discovery: could not open the inventory store")
        budget = self._settings.cpu_budget
        next_flush = time.monotonic() + self._settings.flush_seconds
        while True:
            if not self._queue:
                self._wake.clear()
                timeout = max(0.0, next_flush - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            # The budget is of CPU time: on a busy core a slice's wall time includes time
            # other processes had, which learning must not charge to itself.
            cpu_started, wall_started = time.thread_time(), time.perf_counter()
            self._learn_slice(deadline=wall_started + _SLICE_SECONDS)
            spent = time.thread_time() - cpu_started
            if time.monotonic() >= next_flush:
                # Draining re-templates and serializes on the loop: learning's work too.
                # The whole wait counts, the store write in its thread included.
                started = time.perf_counter()
                await self.flush()
                spent += time.perf_counter() - started
                next_flush = time.monotonic() + self._settings.flush_seconds
            # Sleep so that learning takes at most `budget` of the time.
            await asyncio.sleep(max(0.0, spent / budget - (time.perf_counter() - wall_started)))

    def _learn_slice(self, deadline: float | None) -> None:
        queue = self._queue
        while queue and (deadline is None or time.perf_counter() < deadline):
            obs = queue.popleft()
            try:
                self._inventory.add(obs)
                self.learned += 1
            except Exception:  # one odd call must not stop learning
                log.exception("discovery: could not learn from a call")


def observation_of(ex: Exchange, max_body: int) -> Observation:
    """What discovery keeps of a finished exchange (bodies only where the gateway read
    them: a route with body checks, or a response a check buffered)."""
    headers = tuple((k.lower(), v) for k, v in ex.headers.items())
    response_headers = ex.response_headers or {}
    cookie = ex.headers.get("cookie", "")
    return Observation(
        method=ex.method,
        path=ex.path,
        scheme=ex.scheme,
        host=ex.host,
        query=_query(ex.query_string),
        headers=headers,
        cookies=cookie_pairs(cookie)[:32] if cookie else (),
        request_type=ex.headers.get("content-type", ""),
        request_body=(ex.body or b"")[:max_body],
        status=ex.status,
        response_type=response_headers.get("content-type", ""),
        response_body=(ex.response_body or b"")[:max_body],
        consumer=ex.identity.consumer if ex.identity is not None else "",
        model=ex.model or "",
        time=ex.started_at,
    )


def _query(query_string: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query_string, keep_blank_values=True)[:64]) if query_string else ()
