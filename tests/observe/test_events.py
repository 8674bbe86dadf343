"""One redacted event per request, written off the event loop, never dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text
from wardgate.observe.query import EventQuery, query_events

BURST = 10_000


async def test_a_burst_of_10000_requests_gives_10000_events(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    connector_limit = asyncio.Semaphore(64)
    statuses: list[int] = []

    async def one(i: int) -> None:
        async with connector_limit, http.get(f"{gateway.base}/echo/{i}") as response:
            await response.read()
            statuses.append(response.status)

    await asyncio.gather(*(one(i) for i in range(BURST)))
    await gateway.flush_events()
    events = query_events(gateway.events_db, EventQuery(limit=BURST * 2))
    assert len(statuses) == BURST and set(statuses) == {200}
    assert len(events) == BURST
    assert len({e["request_id"] for e in events}) == BURST


async def test_backpressure_waits_instead_of_dropping(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    extra = """
    """
    text = policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db", extra=extra)
    text = text.replace("events:\n", "events:\n  queue_size: 2\n  batch_size: 1\n")
    gw = await make_gateway(text)
    await asyncio.gather(*(http.get(f"{gw.base}/echo/{i}") for i in range(200)))
    await gw.flush_events()
    assert len(query_events(tmp_path / "e.db", EventQuery(limit=1000))) == 200


async def test_events_hold_no_secrets(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    secret = "sk-live-5f3c9a1e7b2d4c6e8f0a"
    async with http.post(
        f"{gateway.base}/echo?api_key={secret}&{secret}",
        headers={"Authorization": f"Bearer {secret}", "Cookie": f"session={secret}"},
        data=f'{{"password": "{secret}"}}',
    ) as response:
        assert response.status == 200
    await gateway.flush_events()
    raw = b"".join(p.read_bytes() for p in gateway.events_db.parent.glob("events.sqlite3*"))
    assert secret.encode() not in raw
    (event,) = query_events(gateway.events_db, EventQuery())
    assert event["query_keys"] == ["api_key"]
    assert event["path"] == "/echo"


def test_stored_rows_read_back_as_the_event_record() -> None:
    from wardgate.decision import CheckOutcome, Decision, Finding
    from wardgate.exchange import Exchange
    from wardgate.observe.events import event_columns, event_record
    from wardgate.observe.sqlite_sink import COLUMNS, SqliteEventStore

    ex = Exchange("rid", "POST", "/v1/x", "a=1&b=2&a=3", {}, "10.0.0.1", route="r")
    ex.outcomes.append(
        CheckOutcome("c", "request_headers", Decision.flag([Finding(kind="k.k", rule="r.r")]))
    )
    assert tuple(event_columns(ex)) == COLUMNS
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteEventStore(Path(tmp) / "e.db")
        store.write(store.encode([ex]))
        store.close()
        (stored,) = query_events(Path(tmp) / "e.db", EventQuery())
    assert stored == event_record(ex)
    assert stored["query_keys"] == ["a", "b"]


class FlakySink:
    """A hand-written sink: fails `failures` times with `error`, then stores."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.stored: list[str] = []

    def encode(self, exchanges: object) -> list[str]:
        return [ex.request_id for ex in exchanges]  # type: ignore[attr-defined]

    def write(self, encoded: list[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        self.stored.extend(encoded)

    def close(self) -> None:
        pass


def _exchanges(n: int) -> list[object]:
    from wardgate.exchange import Exchange

    return [Exchange(f"r{i}", "GET", "/", "", {}, "127.0.0.1") for i in range(n)]


async def test_transient_sink_errors_are_retried_without_duplicates(monkeypatch: object) -> None:
    from wardgate.observe import events

    monkeypatch.setattr(events, "RETRY_SECONDS", (0.01,))  # type: ignore[attr-defined]
    flaky = FlakySink(OSError("disk busy"), failures=2)
    steady = FlakySink(OSError("never"), failures=0)
    recorder = events.EventRecorder([steady, flaky], queue_size=100, batch_size=100)
    recorder.start()
    for ex in _exchanges(20):
        await recorder.record(ex)  # type: ignore[arg-type]
    await recorder.close()
    assert flaky.stored == steady.stored == [f"r{i}" for i in range(20)]


async def test_refused_batches_go_to_the_dead_letter_file(tmp_path: Path) -> None:
    import orjson

    from wardgate.observe import events

    refusing = FlakySink(ValueError("not storable"), failures=1)
    dead = tmp_path / "dead.jsonl"
    recorder = events.EventRecorder([refusing], queue_size=100, batch_size=100, dead_letter=dead)
    recorder.start()
    for ex in _exchanges(5):
        await recorder.record(ex)  # type: ignore[arg-type]
    await recorder.flush()
    for ex in _exchanges(3):
        await recorder.record(ex)  # type: ignore[arg-type]
    await recorder.close()
    kept = [orjson.loads(line)["request_id"] for line in dead.read_text().splitlines()]
    assert kept == [f"r{i}" for i in range(5)]
    assert refusing.stored == ["r0", "r1", "r2"]


def test_an_old_schema_is_set_aside(tmp_path: Path) -> None:
    import sqlite3

    from wardgate.observe.sqlite_sink import SqliteEventStore

    old = sqlite3.connect(tmp_path / "e.db")
    old.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, detail BLOB NOT NULL)")
    old.execute("INSERT INTO events (detail) VALUES (x'00')")
    old.commit()
    old.close()
    store = SqliteEventStore(tmp_path / "e.db")
    store.write(store.encode(_exchanges(2)))  # type: ignore[arg-type]
    store.close()
    conn = sqlite3.connect(tmp_path / "e.db")
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "events" in tables and any(t.startswith("events_v0_") for t in tables)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)


async def test_close_never_hangs_on_a_failing_sink(tmp_path: Path) -> None:
    import orjson

    from wardgate.observe import events

    down = FlakySink(OSError("store away"), failures=10**9)
    dead = tmp_path / "dead.jsonl"
    recorder = events.EventRecorder([down], queue_size=100, batch_size=2, dead_letter=dead)
    recorder.start()
    for ex in _exchanges(5):
        await recorder.record(ex)  # type: ignore[arg-type]
    await recorder.close(grace_seconds=0.3)
    kept = sorted(orjson.loads(line)["request_id"] for line in dead.read_text().splitlines())
    assert kept == [f"r{i}" for i in range(5)]
