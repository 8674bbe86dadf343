"""Assemble and run one gateway process: policy, plan, events, listener, reloads, signals."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from wardgate.discovery.learner import TrafficLearner
from wardgate.observe.events import EventRecorder, EventSink
from wardgate.observe.jsonl_sink import JsonLinesSink
from wardgate.observe.sqlite_sink import SqliteEventStore
from wardgate.policy.load import load_policy
from wardgate.policy.model import EventSettings, Policy
from wardgate.proxy.gateway import Gateway
from wardgate.proxy.reload import PolicyWatcher, PoolRegistry
from wardgate.proxy.server import Listener
from wardgate.state import state_dir

__all__ = ["GatewayProcess", "build_sinks", "default_event_db", "run_gateway"]

log = logging.getLogger(__name__)


def default_event_db() -> Path:
    return state_dir() / "events.sqlite3"


def build_sinks(settings: EventSettings) -> list[EventSink]:
    sinks: list[EventSink] = []
    for sink in settings.sinks:
        if sink.type == "sqlite":
            sinks.append(SqliteEventStore(sink.path or default_event_db(), sink.retention_days))
        else:
            sinks.append(JsonLinesSink(sink.path))
    return sinks


@dataclass
class GatewayProcess:
    """A started gateway: stop it with `await process.stop()`."""

    gateway: Gateway
    listener: Listener
    watcher: PolicyWatcher | None
    pools: PoolRegistry
    events: EventRecorder
    learner: TrafficLearner | None = None

    @property
    def port(self) -> int:
        return self.listener.port

    async def stop(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
        await self.listener.stop()
        await self.pools.close()
        if self.learner is not None:
            await self.learner.close()
        await self.events.close()


async def start_gateway(
    policy: Policy,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    policy_path: Path | None = None,
    reuse_port: bool = False,
) -> GatewayProcess:
    """Start serving `policy`; with `policy_path`, reload when that file changes."""
    pools = PoolRegistry()
    plan = pools.compile(policy)
    events = EventRecorder(
        build_sinks(policy.events),
        policy.events.queue_size,
        policy.events.batch_size,
        dead_letter=state_dir() / "events-dead-letter.jsonl",
    )
    events.start()
    learner = None
    if policy.discovery.enabled:
        learner = TrafficLearner(
            policy.discovery, policy.discovery.store or str(state_dir() / "inventory.db")
        )
        learner.start()
    gateway = Gateway(plan, events, observers=(learner.observe,) if learner else ())
    listener = Listener(gateway)
    await listener.start(host, port, reuse_port=reuse_port)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # way, so collections only scan per-request objects.
    gc.collect()
    gc.freeze()
    watcher = None
    if policy_path is not None:
        watcher = PolicyWatcher(policy_path, gateway, pools)
        watcher.start()
    return GatewayProcess(gateway, listener, watcher, pools, events, learner)


async def run_gateway(
    policy_path: Path,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    on_started: Callable[[GatewayProcess], Awaitable[None] | None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; SIGHUP reloads the policy."""
    policy = await asyncio.to_thread(load_policy, policy_path)
    process = await start_gateway(
        policy, host, port, policy_path=policy_path, reuse_port=reuse_port
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    if process.watcher is not None:
        watcher = process.watcher
        reloads: set[asyncio.Task[bool]] = set()

        def on_sighup() -> None:
            task = loop.create_task(watcher.reload())
            reloads.add(task)  # keep a reference until it is done
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    if on_started is not None:
        result = on_started(process)
        if result is not None:
            await result
    await stopping.wait()
    log.info("shutting down: draining in-flight requests")
    await process.stop()
