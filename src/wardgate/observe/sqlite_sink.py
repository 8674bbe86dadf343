"""The embedded event store: SQLite in WAL mode, one row per request, queryable."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from wardgate.errors import StoreError

__all__ = ["COLUMNS", "SqliteEventStore", "connect"]

COLUMNS = (
    "ts",
    "request_id",
    "route",
    "consumer",
    "client_ip",
    "method",
    "path",
    "status",
    "bytes_in",
    "bytes_out",
    "latency_ms",
    "action",
    "would_block",
    "upstream",
    "error",
)
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
    detail BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_request_id ON events (request_id);
CREATE INDEX IF NOT EXISTS events_action_ts ON events (action, ts);
"""
INSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}, detail) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}, ?)"
)
PRUNE_EVERY_SECONDS = 3600.0


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
    return conn


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

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        rows = [(*(record[c] for c in COLUMNS), orjson.dumps(record)) for record in records]
        with self._conn:
            self._conn.executemany(INSERT, rows)
        self._prune()

    def _prune(self) -> None:
        now = time.time()
        if self._retention is None or now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        with self._conn:
            self._conn.execute("DELETE FROM events WHERE ts < ?", (now - self._retention,))

    def close(self) -> None:
        self._conn.close()
