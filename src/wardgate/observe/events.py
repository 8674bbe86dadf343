"""Per-request audit events: built from the Exchange, redacted, queued, written in batches.

The request path only enqueues the finished Exchange. A writer task drains the queue in
batches and hands each batch to the sinks on one dedicated thread, so SQLite and file I/O
never block the event loop. The queue is bounded: when it is full, the request's log phase
waits for room (backpressure). An event is never dropped; a failing sink is retried.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import orjson

from wardgate.decision import CheckOutcome, Finding
from wardgate.errors import StoreError
from wardgate.exchange import Exchange
from wardgate.observe.metrics import METRICS

__all__ = [
    "COLUMNS",
    "EventRecorder",
    "EventSink",
    "event_columns",
    "event_detail",
    "event_record",
    "event_values",
]

log = logging.getLogger(__name__)
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
# How long the writer lets a small batch grow: fewer, larger transactions cost far less per
# event, and an event still reaches the store within this time.
LINGER_SECONDS = 0.025
CLOSE_SECONDS = 30.0


class EventSink(Protocol):
    """Stores batches of events in two steps.

    `encode` runs on the event loop and turns finished exchanges into the sink's own form
    (JSON lines, SQL rows): pure computation, never I/O. `write` runs on the recorder's
    thread and does the I/O, ideally in one call into C that releases the GIL once per
    batch: per-event GIL hand-offs between the loop and the writer thread cost more than
    the writes. A sink never stores bodies, header values or query values.
    """

    def encode(self, exchanges: Sequence[Exchange]) -> Any: ...

    def write(self, encoded: Any) -> None: ...

    def close(self) -> None: ...


def event_record(ex: Exchange) -> dict[str, Any]:
    """The redacted event of one exchange: no bodies, no header values, no query values."""
    return {**event_columns(ex), **event_detail(ex)}


COLUMNS = (
    "ts", "request_id", "route", "consumer", "client_ip", "method", "path", "status",
    "bytes_in", "bytes_out", "latency_ms", "action", "would_block", "upstream", "error",
    "model", "input_tokens", "output_tokens", "cost_micros",
)  # fmt: skip


def event_values(ex: Exchange) -> tuple[Any, ...]:
    """The flat part of an event, in `COLUMNS` order (a tuple: stores write it as a row)."""
    identity = ex.identity
    usage = ex.usage
    return (
        ex.started_at,
        ex.request_id,
        ex.route,
        identity.consumer if identity else None,
        ex.client_ip,
        ex.method,
        ex.path,
        ex.status,
        ex.bytes_in,
        ex.bytes_out,
        round(ex.latency_ms, 3),
        ex.action.label,
        ex.would_block,
        ex.upstream,
        ex.error,
        ex.model[:128] if ex.model else None,
        usage.input_tokens if usage else None,
        usage.output_tokens if usage else None,
        ex.cost_micros,
    )


def event_columns(ex: Exchange) -> dict[str, Any]:
    """The flat part of an event by name."""
    return dict(zip(COLUMNS, event_values(ex), strict=True))


def event_detail(ex: Exchange) -> dict[str, Any]:
    """The nested part of an event: query parameter names and every check's decision."""
    return {
        "query_keys": _query_keys(ex.query_string),
        "decisions": [_outcome(o) for o in ex.outcomes],
    }


def _query_keys(query_string: str) -> list[str]:
    if not query_string:
        return []
    # Only names of name=value pairs: a bare token (`?sk-...`) may itself be a secret.
    keys = {part.split("=", 1)[0] for part in query_string.split("&") if "=" in part}
    return sorted(k[:64] for k in keys)[:32]


def _outcome(outcome: CheckOutcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "check": outcome.check,
        "phase": outcome.phase,
        "action": decision.action.label,
        "status": decision.status,
        "would_block": outcome.would_block,
        "fault": outcome.fault,
        "elapsed_ms": round(outcome.elapsed_ms, 3),
        "findings": [_finding(f) for f in decision.findings],
    }


def _finding(finding: Finding) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": finding.kind,
        "rule": finding.rule,
        "severity": finding.severity,
        "score": finding.score,
        "reason": finding.reason,
    }
    if finding.location is not None:
        record["location"] = {
            "slot": finding.location.slot,
            "start": finding.location.start,
            "end": finding.location.end,
        }
    if finding.evidence is not None:
        record["evidence"] = {
            "length": finding.evidence.length,
            "sha256": finding.evidence.digest,
        }
    return record


class EventRecorder:
    """Owns the event queue, the writer task and the sinks of one process."""

    def __init__(
        self,
        sinks: Sequence[EventSink],
        queue_size: int,
        batch_size: int,
        dead_letter: Path | None = None,
    ) -> None:
        self._sinks = list(sinks)
        self._dead_letter = dead_letter
        self._queue: asyncio.Queue[Exchange] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wardgate-events")
        self._writer: asyncio.Task[None] | None = None
        self._waiting: set[asyncio.Task[None]] = set()
        self._in_flight: list[Exchange] = []

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="wardgate-events")

    async def record(self, ex: Exchange) -> None:
        """Queue the event of a finished exchange; waits only when the queue is full."""
        if not self._sinks:
            return  # the policy asked for no event sinks
        try:
            self._queue.put_nowait(ex)
        except asyncio.QueueFull:
            METRICS.events_waited += 1
            await self._queue.put(ex)

    def record_soon(self, ex: Exchange) -> None:
        """`record` for synchronous callers: queued now, or as soon as there is room."""
        try:
            self._queue.put_nowait(ex)
        except asyncio.QueueFull:
            METRICS.events_waited += 1
            task = asyncio.get_running_loop().create_task(self._queue.put(ex))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until every event queued so far has been written."""
        while self._waiting:
            await asyncio.gather(*self._waiting)
        await self._queue.join()

    async def close(self, grace_seconds: float = CLOSE_SECONDS) -> None:
        """Write everything still queued, then close the sinks.

        A sink still failing after `grace_seconds` must not keep the process from
        stopping: what it has not taken goes to the dead-letter file.
        """
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            try:
                async with asyncio.timeout(grace_seconds):
                    await self.flush()
            except TimeoutError:
                pass
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
            left = self._in_flight + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            if left:
                await self._set_aside(loop, left, [(s, None) for s in self._sinks], TimeoutError())
        await loop.run_in_executor(self._thread, self._close_sinks)
        self._thread.shutdown(wait=True)

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            batch = [await queue.get()]
            if queue.qsize() < self._batch_size:
                await asyncio.sleep(LINGER_SECONDS)
            while len(batch) < self._batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            self._in_flight = batch
            try:
                await self._write_with_retry(loop, batch)
            except Exception as exc:  # the writer must outlive any one bad batch
                log.exception("event writer failed on a batch")
                await self._set_aside(loop, batch, [], exc)
            self._in_flight = []
            for _ in batch:
                queue.task_done()

    async def _write_with_retry(
        self, loop: asyncio.AbstractEventLoop, batch: list[Exchange]
    ) -> None:
        attempt = 0
        pending: list[tuple[EventSink, Any]] = []
        for sink in self._sinks:
            try:
                pending.append((sink, sink.encode(batch)))
            except Exception as exc:
                await self._set_aside(loop, batch, [(sink, None)], exc)
        while True:
            try:
                await loop.run_in_executor(self._thread, self._write_batch, pending)
                METRICS.events_written += len(batch)
                return
            except Exception as exc:
                if not _transient(exc):
                    await self._set_aside(loop, batch, pending, exc)
                    return
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.error("event sink failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _set_aside(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[Exchange],
        pending: list[tuple[EventSink, Any]],
        exc: Exception,
    ) -> None:
        """A batch a sink will never accept goes to the dead-letter file, not to the void."""
        names = ", ".join(type(sink).__name__ for sink, _ in pending)
        log.error(
            "event sink %s refused %d events (%s); written to %s",
            names, len(batch), type(exc).__name__, self._dead_letter,
        )  # fmt: skip
        METRICS.events_dead_lettered += len(batch)
        if self._dead_letter is None:
            return
        try:
            lines = b"".join(orjson.dumps(event_record(ex)) + b"\n" for ex in batch)
            await loop.run_in_executor(self._thread, _append, self._dead_letter, lines)
        except Exception:
            log.exception("cannot write %d events to the dead-letter file", len(batch))

    @staticmethod
    def _write_batch(pending: list[tuple[EventSink, Any]]) -> None:
        # A retry writes only to the sinks that failed, so no sink sees an event twice.
        while pending:
            sink, encoded = pending[0]
            sink.write(encoded)
            pending.pop(0)

    def _close_sinks(self) -> None:
        for sink in self._sinks:
            sink.close()


def _transient(exc: Exception) -> bool:
    """Errors worth retrying: the store is busy, full or away, not refusing this data."""
    return isinstance(exc, OSError | sqlite3.OperationalError | StoreError)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)
