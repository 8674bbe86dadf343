"""The endpoint inventory: what discovery learned from traffic, kept across restarts and
shared by every worker. Embedded SQLite by default, PostgreSQL when configured.

Rows are `(host, method, template) -> state`; a state is an opaque JSON object that only
the caller knows how to merge, so `merge` takes the caller's `combine` and runs it inside
the write transaction: read, combine, write, with no other writer in between. SQLite gets
that from `BEGIN IMMEDIATE` (the write lock is taken first, waits up to the busy timeout);
PostgreSQL from a transaction-scoped advisory lock per host, taken in sorted order so two
batches never deadlock. The same lock makes the per-host row cap exact under concurrency.

States are stored as compact JSON text (orjson), not `jsonb`: `jsonb` refuses `\\u0000`,
which traffic can carry, and a refused row would fail the whole batch. Operators can still
query `state::jsonb`. Connection URLs may hold passwords: they appear nowhere, neither in
`repr` nor in error messages.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import psycopg

from wardgate.errors import StoreError

__all__ = [
    "DEFAULT_MAX_ROWS_PER_HOST",
    "EndpointKey",
    "InventoryStore",
    "WriteResult",
    "open_store",
]

TABLE = "wardgate_inventory"
VERSIONS = "wardgate_schema_version"
SCHEMA_VERSION = 1
DEFAULT_MAX_ROWS_PER_HOST = 10_000

State = dict[str, Any]
Combine = Callable[[State, State], State]


@dataclass(frozen=True, slots=True, order=True)
class EndpointKey:
    """One endpoint of the inventory: `template` is the templated path (`/users/{id}`)."""

    host: str
    method: str
    template: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a `merge` or `replace` did.

    `written` rows were inserted or updated. `refused` holds, in the order given, the new
    keys that did not fit under `max_rows_per_host`: nothing of theirs was stored. Fold
    their records into a catch-all (noise) endpoint that is stored, so no traffic is lost
    from the counts.
    """

    written: int
    refused: tuple[EndpointKey, ...] = ()


class InventoryStore(Protocol):
    """Where the endpoint inventory persists. Every method raises `StoreError` when the
    backend fails; a failed write leaves nothing half-written. One store object may be
    shared by threads (calls are serialized); each process opens its own.

    Example::

        store = open_store("sqlite:///var/lib/wardgate/inventory.db")
        result = store.merge({key: {"hits": 1}}, lambda old, new: {"hits": old["hits"] + 1})
        noise.extend(result.refused)
    """

    def merge(self, records: Mapping[EndpointKey, State], combine: Combine) -> WriteResult:
        """In one transaction, for each key store `combine(existing, record)` when the key
        is stored, else `record` (if the host is under its row cap, else the key is
        refused). `combine` runs under the write lock: keep it pure and quick; if it
        raises, nothing of the batch is written and its exception propagates."""
        ...

    def load(self, host: str | None = None) -> dict[EndpointKey, State]:
        """Every stored endpoint, or those of one host."""
        ...

    def replace(self, host: str, records: Mapping[EndpointKey, State]) -> WriteResult:
        """Atomically make `records` the whole inventory of `host` (after re-templating has
        merged endpoints). Every key must belong to `host` (else `ValueError`); keys past
        the row cap are refused as in `merge`."""
        ...

    def count(self, host: str | None = None) -> int:
        """The number of stored endpoints, in all or of one host."""
        ...

    def clear(self) -> None:
        """Delete every endpoint of every host."""
        ...

    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""
        ...


def open_store(
    url: str,
    *,
    max_rows_per_host: int = DEFAULT_MAX_ROWS_PER_HOST,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
) -> InventoryStore:
    """Open (creating the schema if missing) the store `url` names.

    `url` is `sqlite:///absolute/path.db`, a bare filesystem path (SQLite), or
    `postgresql://` / `postgres://` (any libpq URL, e.g. `?options=-csearch_path=inv`).
    `timeout` bounds each wait for a lock or statement, `connect_timeout` the connection.
    """
    if max_rows_per_host < 1:
        raise ValueError("max_rows_per_host must be at least 1")
    scheme, sep, _ = url.partition("://")
    if not sep:
        return SqliteInventoryStore(Path(url), max_rows_per_host, timeout)
    scheme = scheme.lower()
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise StoreError(f"inventory store URL {_redact(url)!r}: use sqlite:///path/to.db")
        return SqliteInventoryStore(Path(unquote(parts.path)), max_rows_per_host, timeout)
    if scheme in ("postgresql", "postgres"):
        return PostgresInventoryStore(url, max_rows_per_host, timeout, connect_timeout)
    raise StoreError(
        f"inventory store URL scheme {scheme!r} is not supported: "
        "use sqlite:///path, a filesystem path, or postgresql://"
    )


def _plan(
    records: Mapping[EndpointKey, State],
    existing: Mapping[EndpointKey, State],
    counts: dict[str, int],
    cap: int,
    combine: Combine,
) -> tuple[list[tuple[str, str, str, bytes]], tuple[EndpointKey, ...]]:
    """The rows to write and the keys refused by the cap; `counts` is rows per host now."""
    rows, refused = [], []
    for key, record in records.items():
        if key in existing:
            state = combine(existing[key], record)
        elif counts.get(key.host, 0) < cap:
            counts[key.host] = counts.get(key.host, 0) + 1
            state = record
        else:
            refused.append(key)
            continue
        rows.append((key.host, key.method, key.template, orjson.dumps(state)))
    return rows, tuple(refused)


def _for_host(host: str, records: Mapping[EndpointKey, State]) -> None:
    strays = [key for key in records if key.host != host]
    if strays:
        raise ValueError(f"replace({host!r}) got keys of other hosts: {strays[:3]}")


@contextlib.contextmanager
def _faults(what: str, errors: type[Exception]) -> Iterator[None]:
    try:
        yield
    except errors as exc:
        raise StoreError(f"{what}: {exc}") from exc


class SqliteInventoryStore:
    """The inventory in one SQLite file (WAL): any number of processes on one machine."""

    def __init__(self, path: Path, max_rows_per_host: int, timeout: float) -> None:
        self.path = path
        self._cap = max_rows_per_host
        self._lock = threading.Lock()
        self._what = f"inventory store {path}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {self._what}: {exc}") from exc
        try:
            _use_wal(self._conn, timeout)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._write() as conn:
                _migrate_sqlite(conn)
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteInventoryStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _faults(self._what, sqlite3.Error):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, host: str | None) -> list[Any]:
        """`sql` for all hosts, or with `WHERE host = ?` for one."""
        with self._lock, _faults(self._what, sqlite3.Error):
            if host is None:
                return self._conn.execute(sql).fetchall()
            return self._conn.execute(sql + " WHERE host = ?", (host,)).fetchall()

    def merge(self, records: Mapping[EndpointKey, State], combine: Combine) -> WriteResult:
        if not records:
            return WriteResult(0)
        with self._write() as conn:
            existing = {}
            for key in records:
                row = conn.execute(
                    f"SELECT state FROM {TABLE} WHERE host = ? AND method = ? AND template = ?",
                    (key.host, key.method, key.template),
                ).fetchone()
                if row is not None:
                    existing[key] = orjson.loads(row[0])
            counts = {
                host: conn.execute(
                    f"SELECT count(*) FROM {TABLE} WHERE host = ?", (host,)
                ).fetchone()[0]
                for host in {key.host for key in records}
            }
            rows, refused = _plan(records, existing, counts, self._cap, combine)
            self._upsert(conn, rows)
        return WriteResult(len(rows), refused)

    def replace(self, host: str, records: Mapping[EndpointKey, State]) -> WriteResult:
        _for_host(host, records)
        with self._write() as conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE host = ?", (host,))
            rows, refused = _plan(records, {}, {}, self._cap, _never)
            self._upsert(conn, rows)
        return WriteResult(len(rows), refused)

    @staticmethod
    def _upsert(conn: sqlite3.Connection, rows: list[tuple[str, str, str, bytes]]) -> None:
        now = time.time()
        conn.executemany(
            f"INSERT INTO {TABLE} (host, method, template, state, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (host, method, template) "
            "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            [(*row, now) for row in rows],
        )

    def load(self, host: str | None = None) -> dict[EndpointKey, State]:
        rows = self._read(f"SELECT host, method, template, state FROM {TABLE}", host)
        return {EndpointKey(h, m, t): orjson.loads(s) for h, m, t, s in rows}

    def count(self, host: str | None = None) -> int:
        return int(self._read(f"SELECT count(*) FROM {TABLE}", host)[0][0])

    def clear(self) -> None:
        with self._write() as conn:
            conn.execute(f"DELETE FROM {TABLE}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _never(old: State, new: State) -> State:
    raise AssertionError("replace writes into an emptied host: nothing to combine")


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL. The switch takes an exclusive lock that SQLite's busy timeout does not
    wait for: two workers opening a new store at once would see "database is locked"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise StoreError(f"cannot switch the inventory store to WAL: {exc}") from exc
            time.sleep(0.05)


_SQLITE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    state BLOB NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (host, method, template)
)"""


def _migrate_sqlite(conn: sqlite3.Connection) -> None:
    """Create the schema; a table of another schema version is kept aside, never dropped."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {VERSIONS} "
        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute(f"SELECT version FROM {VERSIONS} WHERE component = ?", (TABLE,)).fetchone()
    version = row[0] if row else 0
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone()
    if exists and version != SCHEMA_VERSION:
        conn.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_v{version}_{int(time.time())}")
    conn.execute(_SQLITE_TABLE)
    conn.execute(
        f"INSERT INTO {VERSIONS} VALUES (?, ?) "
        "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        (TABLE, SCHEMA_VERSION),
    )


class PostgresInventoryStore:
    """The inventory in PostgreSQL: shared by every gateway machine. A connection lost
    between calls is reopened on the next call."""

    def __init__(
        self, url: str, max_rows_per_host: int, timeout: float, connect_timeout: float
    ) -> None:
        self.url = _redact(url)
        self._dsn = url
        self._secrets = _secrets(url)
        self._cap = max_rows_per_host
        self._timeout_ms = str(max(1, int(timeout * 1000)))
        self._connect_timeout = max(1, round(connect_timeout))
        self._lock = threading.Lock()
        self._what = f"inventory store {self.url}"
        self._closed = False
        self._conn = self._connect()
        with self._write() as cur:
            _migrate_postgres(cur)

    def __repr__(self) -> str:
        return f"PostgresInventoryStore({self.url!r})"

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conn = psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout
            )
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (self._timeout_ms,))
        except psycopg.Error as exc:
            message = str(exc)
            for secret in self._secrets:
                message = message.replace(secret, "***")
            # `from None`: libpq may echo a malformed URL, password and all, in the cause.
            raise StoreError(f"cannot open {self._what}: {message}") from None
        return conn

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self._what} is closed")
            if self._conn.closed:
                self._conn = self._connect()
            with _faults(self._what, psycopg.Error), self._conn.cursor() as cur:
                yield cur

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        with self._cursor() as cur, cur.connection.transaction():
            yield cur

    @staticmethod
    def _lock_hosts(cur: psycopg.Cursor[tuple[Any, ...]], hosts: set[str]) -> None:
        for host in sorted(hosts):
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{TABLE}:{host}",)
            )

    def merge(self, records: Mapping[EndpointKey, State], combine: Combine) -> WriteResult:
        if not records:
            return WriteResult(0)
        hosts = {key.host for key in records}
        columns = [
            [k.host for k in records],
            [k.method for k in records],
            [k.template for k in records],
        ]
        with self._write() as cur:
            self._lock_hosts(cur, hosts)
            cur.execute(
                f"SELECT host, method, template, state FROM {TABLE} "
                "WHERE (host, method, template) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                columns,
            )
            existing = {EndpointKey(h, m, t): orjson.loads(s) for h, m, t, s in cur}
            cur.execute(
                f"SELECT host, count(*) FROM {TABLE} WHERE host = ANY(%s) GROUP BY host",
                (sorted(hosts),),
            )
            counts = {host: int(n) for host, n in cur}
            rows, refused = _plan(records, existing, counts, self._cap, combine)
            self._upsert(cur, rows)
        return WriteResult(len(rows), refused)

    def replace(self, host: str, records: Mapping[EndpointKey, State]) -> WriteResult:
        _for_host(host, records)
        with self._write() as cur:
            self._lock_hosts(cur, {host})
            cur.execute(f"DELETE FROM {TABLE} WHERE host = %s", (host,))
            rows, refused = _plan(records, {}, {}, self._cap, _never)
            self._upsert(cur, rows)
        return WriteResult(len(rows), refused)

    @staticmethod
    def _upsert(
        cur: psycopg.Cursor[tuple[Any, ...]], rows: list[tuple[str, str, str, bytes]]
    ) -> None:
        # executemany pipelines the statements: one round trip, whatever the batch size.
        cur.executemany(
            f"INSERT INTO {TABLE} (host, method, template, state) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (host, method, template) "
            "DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
            [(h, m, t, state.decode()) for h, m, t, state in rows],
        )

    def load(self, host: str | None = None) -> dict[EndpointKey, State]:
        sql = f"SELECT host, method, template, state FROM {TABLE}"
        with self._cursor() as cur:
            if host is not None:
                cur.execute(sql + " WHERE host = %s", (host,))
            else:
                cur.execute(sql)
            return {EndpointKey(h, m, t): orjson.loads(s) for h, m, t, s in cur}

    def count(self, host: str | None = None) -> int:
        sql = f"SELECT count(*) FROM {TABLE}"
        with self._cursor() as cur:
            if host is not None:
                cur.execute(sql + " WHERE host = %s", (host,))
            else:
                cur.execute(sql)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def clear(self) -> None:
        with self._write() as cur:
            cur.execute(f"DELETE FROM {TABLE}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()


_POSTGRES_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    host text NOT NULL,
    method text NOT NULL,
    template text NOT NULL,
    state text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, method, template)
)"""


def _migrate_postgres(cur: psycopg.Cursor[tuple[Any, ...]]) -> None:
    """As `_migrate_sqlite`; the lock keeps two processes from creating the tables at once
    (concurrent `CREATE TABLE IF NOT EXISTS` can fail in PostgreSQL)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (VERSIONS,))
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {VERSIONS} "
        "(component text PRIMARY KEY, version integer NOT NULL)"
    )
    cur.execute(f"SELECT version FROM {VERSIONS} WHERE component = %s", (TABLE,))
    row = cur.fetchone()
    version = row[0] if row else 0
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    exists = cur.fetchone()
    if exists and exists[0] and version != SCHEMA_VERSION:
        cur.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_v{version}_{int(time.time())}")
    cur.execute(_POSTGRES_TABLE)
    cur.execute(
        f"INSERT INTO {VERSIONS} VALUES (%s, %s) "
        "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
        (TABLE, SCHEMA_VERSION),
    )


def _secrets(url: str) -> list[str]:
    """The password of a URL, as written and decoded, from userinfo and query."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
        found += parse_qs(parts.query).get("password", [])
    except ValueError:
        return []
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def _redact(url: str) -> str:
    """`url` fit for messages: no password, no query (which may carry one)."""
    try:
        parts = urlsplit(url)
        user = parts.username
    except ValueError:
        return f"{url.partition('://')[0]}://(unparsable URL)"
    hostport = parts.netloc.rpartition("@")[2]
    userinfo = f"{user}{':***' if parts.password is not None else ''}@" if user else ""
    return f"{parts.scheme}://{userinfo}{hostport}{parts.path}"
