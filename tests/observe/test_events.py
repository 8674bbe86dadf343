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
        f"{gateway.base}/echo?api_key={secret}",
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
