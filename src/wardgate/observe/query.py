"""Reading events back from the SQLite store (`wardgate events`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wardgate.errors import StoreError
from wardgate.observe.sqlite_sink import SELECT, connect, row_to_event

__all__ = ["EventQuery", "query_events"]


@dataclass(frozen=True, slots=True)
class EventQuery:
    since: float | None = None
    action: str | None = None
    route: str | None = None
    status: int | None = None
    request_id: str | None = None
    consumer: str | None = None
    limit: int = 100


def query_events(path: Path, query: EventQuery) -> list[dict[str, Any]]:
    """Newest first; every condition given must hold."""
    if not path.exists():
        return []
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("action", query.action),
        ("route", query.route),
        ("status", query.status),
        ("request_id", query.request_id),
        ("consumer", query.consumer),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        conditions.append("ts >= ?")
        params.append(query.since)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"{SELECT} {where} ORDER BY ts DESC, id DESC LIMIT ?"
    params.append(query.limit)
    try:
        conn = connect(path, readonly=True)
        try:
            return [row_to_event(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read event store {path}: {exc}") from exc
