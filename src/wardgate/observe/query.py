"""Reading events back from the SQLite store (`wardgate events`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wardgate.errors import StoreError
from wardgate.observe.sqlite_sink import SELECT, connect, row_to_event

__all__ = ["USAGE_DIMENSIONS", "EventQuery", "UsageRow", "query_events", "usage_report"]


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


USAGE_DIMENSIONS = ("consumer", "model", "route", "status")


@dataclass(frozen=True, slots=True)
class UsageRow:
    key: tuple[str | None, ...]
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


def usage_report(
    path: Path, by: tuple[str, ...], since: float | None = None, route: str | None = None
) -> list[UsageRow]:
    """Tokens and cost of AI calls grouped by `by` (any of USAGE_DIMENSIONS), costliest first."""
    unknown = [d for d in by if d not in USAGE_DIMENSIONS]
    if unknown or not by:
        raise ValueError(f"group by any of {', '.join(USAGE_DIMENSIONS)} (got {', '.join(by)})")
    if not path.exists():
        return []
    conditions = ["(input_tokens IS NOT NULL OR model IS NOT NULL)"]
    params: list[Any] = []
    if since is not None:
        conditions.append("ts >= ?")
        params.append(since)
    if route is not None:
        conditions.append("route = ?")
        params.append(route)
    columns = ", ".join(by)  # names checked against USAGE_DIMENSIONS above
    sql = (
        f"SELECT {columns}, COUNT(*), COALESCE(SUM(input_tokens), 0), "
        f"COALESCE(SUM(output_tokens), 0), SUM(cost_micros) FROM events "
        f"WHERE {' AND '.join(conditions)} GROUP BY {columns} "
        f"ORDER BY SUM(cost_micros) DESC, SUM(input_tokens) + SUM(output_tokens) DESC"
    )
    try:
        conn = connect(path, readonly=True)
        try:
            rows = conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read event store {path}: {exc}") from exc
    width = len(by)
    return [
        UsageRow(
            key=tuple(None if v is None else str(v) for v in row[:width]),
            requests=row[width],
            input_tokens=row[width + 1],
            output_tokens=row[width + 2],
            cost_usd=None if row[width + 3] is None else row[width + 3] / 1_000_000,
        )
        for row in rows
    ]
