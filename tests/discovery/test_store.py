"""Both inventory stores hold the same contract, under concurrency and across restarts."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.services import postgres_url, unique_schema
from wardgate.discovery.store import EndpointKey, InventoryStore, WriteResult, open_store
from wardgate.errors import StoreError

A1 = EndpointKey("a.example", "GET", "/users/{id}")
A2 = EndpointKey("a.example", "POST", "/users")
A3 = EndpointKey("a.example", "GET", "/health")
B1 = EndpointKey("b.example", "GET", "/items/{id}")
COUNTER = EndpointKey("shared.example", "POST", "/counter")


def _add(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {"n": old["n"] + new["n"]}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL of its own per test: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'inventory.db'}"
        return
    base, schema = postgres_url(), unique_schema()
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(url: str) -> Iterator[InventoryStore]:
    inventory = open_store(url)
    yield inventory
    inventory.close()


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Raw SQL on the store's database, behind the store's back."""
    if url.startswith("sqlite://"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
            rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows
    with psycopg.connect(url, autocommit=True) as pg, pg.cursor() as cur:
        cur.execute(sql.encode())
        return cur.fetchall() if cur.description else []


def test_merge_inserts_then_combines(store: InventoryStore) -> None:
    assert store.merge({A1: {"n": 1}, B1: {"n": 5}}, _add) == WriteResult(2)
    assert store.merge({A1: {"n": 2}, A2: {"n": 1}}, _add) == WriteResult(2)
    assert store.load() == {A1: {"n": 3}, A2: {"n": 1}, B1: {"n": 5}}


def test_combine_sees_stored_state_first(store: InventoryStore) -> None:
    store.merge({A1: {"seen": ["old"]}}, _add)
    store.merge({A1: {"seen": ["new"]}}, lambda old, new: {"seen": old["seen"] + new["seen"]})
    assert store.load() == {A1: {"seen": ["old", "new"]}}


def test_failed_combine_writes_nothing_of_the_batch(store: InventoryStore) -> None:
    store.merge({A1: {"n": 1}}, _add)

    def broken(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("caller bug")

    with pytest.raises(RuntimeError, match="caller bug"):
        store.merge({A2: {"n": 1}, A1: {"n": 1}}, broken)  # A2 is planned before A1 fails
    assert store.load() == {A1: {"n": 1}}
    assert store.merge({A2: {"n": 1}}, _add) == WriteResult(1)  # the store is still usable


def _increment(url: str, worker: int, times: int, start: Any) -> None:
    store = open_store(url)
    start.wait()
    for _ in range(times):
        own = EndpointKey("shared.example", "GET", f"/worker/{worker}")
        store.merge({COUNTER: {"n": 1}, own: {"n": 1}}, _add)
    store.close()


def test_concurrent_merges_from_two_processes_lose_nothing(store: InventoryStore, url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)  # both workers have imported and connected before either writes
    workers = [ctx.Process(target=_increment, args=(url, w, 200, start)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert store.load("shared.example") == {
        COUNTER: {"n": 400},
        EndpointKey("shared.example", "GET", "/worker/0"): {"n": 200},
        EndpointKey("shared.example", "GET", "/worker/1"): {"n": 200},
    }


def test_load_and_count_by_host(store: InventoryStore) -> None:
    assert (store.load(), store.count()) == ({}, 0)
    store.merge({A1: {"n": 1}, A2: {"n": 2}, B1: {"n": 3}}, _add)
    assert store.load("a.example") == {A1: {"n": 1}, A2: {"n": 2}}
    assert store.load("b.example") == {B1: {"n": 3}}
    assert store.load("nowhere.example") == {}
    assert [store.count(), store.count("a.example"), store.count("nowhere.example")] == [3, 2, 0]


def test_replace_rewrites_one_host_only(store: InventoryStore) -> None:
    store.merge({A1: {"n": 1}, A2: {"n": 2}, B1: {"n": 3}}, _add)
    merged = EndpointKey("a.example", "GET", "/{segment}")
    assert store.replace("a.example", {merged: {"n": 3}, A3: {"n": 0}}) == WriteResult(2)
    assert store.load() == {merged: {"n": 3}, A3: {"n": 0}, B1: {"n": 3}}
    assert store.replace("a.example", {}) == WriteResult(0)
    assert store.load() == {B1: {"n": 3}}


def test_replace_refuses_keys_of_another_host(store: InventoryStore) -> None:
    store.merge({A1: {"n": 1}}, _add)
    with pytest.raises(ValueError, match="other hosts"):
        store.replace("a.example", {A2: {"n": 1}, B1: {"n": 1}})
    assert store.load() == {A1: {"n": 1}}


def test_rows_past_the_host_cap_are_refused(url: str) -> None:
    store = open_store(url, max_rows_per_host=2)
    try:
        result = store.merge({A1: {"n": 1}, A2: {"n": 1}, A3: {"n": 1}, B1: {"n": 1}}, _add)
        assert result == WriteResult(3, refused=(A3,))
        # A stored key still combines at the cap; a new one of the full host is refused.
        extra = EndpointKey("a.example", "DELETE", "/users/{id}")
        assert store.merge({A1: {"n": 1}, extra: {"n": 1}}, _add) == WriteResult(1, (extra,))
        assert store.load("a.example") == {A1: {"n": 2}, A2: {"n": 1}}
        assert store.replace("a.example", {A3: {}, extra: {}, A1: {}}) == WriteResult(2, (A1,))
        assert store.count("a.example") == 2
    finally:
        store.close()


@pytest.mark.parametrize(
    "state",
    [
        # unicode: accents, CJK, an astral-plane symbol, right-to-left text
        {"name": "café ☕ 東京 𝄞 שלום", "ключ": ["é", "\u00e9"]},
        # a NUL in a value, which traffic can carry (and jsonb would refuse)
        {"example": "a\u0000b"},
        # nesting, numbers, booleans, null
        {"a": {"b": [1, 2.5, -3, True, False, None, {"c": []}]}},
        # large: about 100 KB of JSON
        {"examples": [f"value-{i:06d}-é" for i in range(7000)]},
        # empty
        {},
    ],
)
def test_state_round_trips(store: InventoryStore, state: dict[str, Any]) -> None:
    store.merge({A1: state}, _add)
    assert store.load() == {A1: state}


def test_inventory_survives_reopening(url: str) -> None:
    first = open_store(url)
    first.merge({A1: {"n": 1}}, _add)
    first.close()
    second = open_store(url)
    try:
        assert second.load() == {A1: {"n": 1}}
    finally:
        second.close()


def test_table_of_another_schema_version_is_kept_aside(url: str) -> None:
    first = open_store(url)
    first.merge({A1: {"n": 1}}, _add)
    first.close()
    _query(url, "UPDATE wardgate_schema_version SET version = 0")
    second = open_store(url)
    try:
        assert second.load() == {}
    finally:
        second.close()
    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if url.startswith("sqlite://")
        else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    (aside,) = [
        name for (name,) in _query(url, tables) if name.startswith("wardgate_inventory_v0_")
    ]
    assert _query(url, f"SELECT host, method, template FROM {aside}") == [
        ("a.example", "GET", "/users/{id}")
    ]


def test_clear_empties_every_host(store: InventoryStore) -> None:
    store.merge({A1: {"n": 1}, B1: {"n": 1}}, _add)
    store.clear()
    assert (store.load(), store.count()) == ({}, 0)


def test_closed_store_refuses_use(url: str) -> None:
    store = open_store(url)
    store.close()
    with pytest.raises(StoreError):
        store.count()


def test_bare_path_opens_sqlite(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "sub" / "inventory.db"))
    try:
        store.merge({A1: {"n": 1}}, _add)
    finally:
        store.close()
    assert (tmp_path / "sub" / "inventory.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # nothing listens on port 1
        ("postgresql://wg:s3cret-Pw@127.0.0.1:1/test", "cannot open inventory store"),
        # a port that is not a number
        ("postgres://wg:s3cret-Pw@127.0.0.1:notaport/test", "cannot open inventory store"),
        # the password in the query string
        ("postgresql://127.0.0.1:1/test?user=wg&password=s3cret-Pw", "cannot open"),
        # an unknown option
        ("postgresql://wg:s3cret-Pw@127.0.0.1/test?bogus=1", "cannot open"),
        # an unsupported scheme
        ("mysql://wg:s3cret-Pw@127.0.0.1/test", "scheme 'mysql' is not supported"),
        # a host in a sqlite URL
        ("sqlite://wg:s3cret-Pw@host/inventory.db", "use sqlite:///path"),
    ],
)
def test_bad_url_is_a_store_error_without_the_password(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        open_store(url)
    assert "s3cret-Pw" not in "".join(traceback.format_exception(caught.value))


def test_unusable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open inventory store"):
        open_store(str(tmp_path / "file" / "inventory.db"))


def test_repr_hides_the_password() -> None:
    base = postgres_url()
    url = base.replace("postgres@", "postgres:s3cret-Pw@", 1)  # trust auth ignores it
    store = open_store(url)
    try:
        assert "s3cret-Pw" not in repr(store)
        assert "***" in repr(store)
    finally:
        store.close()
