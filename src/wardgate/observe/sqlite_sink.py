"""The embedded event store: SQLite in WAL mode, one row per request, queryable.

Flat fields are columns; query parameter names and the checks' decisions go in `detail` as
JSON, left NULL when there are none, which is most requests. Only time is indexed: it grows
in order, so its index stays cheap. An index on the (random) request id cost more per
insert than the row itself once the table outgrew the page cache, so a lookup by request
id scans (narrow it with `--since`).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from wardgate.errors import StoreError
from wardgate.exchange import Exchange
from wardgate.observe.events import COLUMNS, event_detail, event_values

__all__ = ["COLUMNS", "SqliteEventStore", "connect", "row_to_event"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    request_id TEXT NOT NULL,
    route TEXT,
    consumer TEXT,
    client_ip TEXT,
    method TEXT,
    path TEXT,
    status INTEGER,
    bytes_in INTEGER,
    bytes_out INTEGER,
    latency_ms REAL,
    action TEXT,
    would_block INTEGER,
    upstream TEXT,
    error TEXT,
    model TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_micros INTEGER,
    detail BLOB
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""
INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}, detail) VALUES "
ROW_PLACEHOLDERS = f"({', '.join('?' for _ in (*COLUMNS, 'detail'))})"
# SQLite binds at most 32766 parameters per statement (20 per row here).
ROWS_PER_STATEMENT = 1024  # 20,480 parameters
SELECT = f"SELECT {', '.join(COLUMNS)}, detail FROM events"
PRUNE_EVERY_SECONDS = 3600.0
SCHEMA_VERSION = 3


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    _migrate(conn)
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. The switch takes an exclusive lock that SQLite's busy timeout does not
    wait for: two workers opening a new store at once would see "database is locked"."""
    deadline = time.monotonic() + 30.0
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the schema; a table of another schema version is kept aside, never dropped."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone()
    if exists and version != SCHEMA_VERSION:
        with conn:
            conn.execute(f"ALTER TABLE events RENAME TO events_v{version}_{int(time.time())}")
            conn.execute("DROP INDEX IF EXISTS events_ts")
            conn.execute("DROP INDEX IF EXISTS events_request_id")
            conn.execute("DROP INDEX IF EXISTS events_action_ts")
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@functools.cache
def _insert_sql(rows: int) -> str:
    return INSERT + ",".join([ROW_PLACEHOLDERS] * rows)


def _row(ex: Exchange) -> tuple[Any, ...]:
    detail = orjson.dumps(event_detail(ex)) if ex.outcomes or ex.query_string else None
    return (*event_values(ex), detail)


def row_to_event(row: Sequence[Any]) -> dict[str, Any]:
    """A stored row back as the event dict `event_record` gives."""
    event = dict(zip(COLUMNS, row[:-1], strict=True))
    event["would_block"] = bool(event["would_block"])
    event.update(orjson.loads(row[-1]) if row[-1] else {"query_keys": [], "decisions": []})
    return event


class SqliteEventStore:
    """An `EventSink` writing each batch in one transaction; prunes by retention hourly."""

    def __init__(self, path: Path, retention_days: float | None = None) -> None:
        self.path = path
        self._retention = retention_days * 86400.0 if retention_days else None
        self._pruned_at = 0.0
        try:
            self._conn = connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {path}: {exc}") from exc

    def encode(self, exchanges: Sequence[Exchange]) -> list[tuple[str, list[Any]]]:
        """Multi-row INSERT statements, one `execute` (one GIL release) each.

        Batches are cut into power-of-two sizes (37 = 32 + 4 + 1), so at most eleven
        distinct statements exist and SQLite's statement cache stays small and warm.
        """
        statements = []
        start = 0
        while start < len(exchanges):
            size = min(ROWS_PER_STATEMENT, 1 << ((len(exchanges) - start).bit_length() - 1))
            chunk = exchanges[start : start + size]
            params = [value for ex in chunk for value in _row(ex)]
            statements.append((_insert_sql(size), params))
            start += size
        return statements

    def write(self, encoded: list[tuple[str, list[Any]]]) -> None:
        with self._conn:
            for sql, params in encoded:
                self._conn.execute(sql, params)
        try:
            self._prune()
        except sqlite3.Error:
            # The batch is committed: a failed prune must not make the caller write it again.
            self._pruned_at = 0.0

    def _prune(self) -> None:
        now = time.time()
        if self._retention is None or now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        with self._conn:
            self._conn.execute("DELETE FROM events WHERE ts < ?", (now - self._retention,))

    def close(self) -> None:
        self._conn.close()
