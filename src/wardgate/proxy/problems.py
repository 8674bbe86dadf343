"""RFC 9457 problem responses, shaped for the route's provider so its SDKs raise properly."""

from __future__ import annotations

import time
from email.utils import formatdate

import orjson

from wardgate.providers import Problem, ProviderAdapter
from wardgate.providers.generic import GenericAdapter
from wardgate.proxy.http1 import Reply

__all__ = ["TITLES", "http_date", "json_reply", "problem_for", "problem_reply"]

GENERIC = GenericAdapter()
SERVER = "wardgate"
# The one status convention every check follows; the slug is the stable `type`.
TITLES: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Request blocked by policy"),
    404: ("no-route", "No route for this request"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
    414: ("uri-too-long", "URI too long"),
    429: ("too-many-requests", "Too many requests"),
    431: ("headers-too-large", "Request headers too large"),
    500: ("internal-error", "Internal error"),
    502: ("upstream-error", "Upstream error"),
    503: ("unavailable", "Service unavailable"),
    504: ("upstream-timeout", "Upstream timed out"),
}


def problem_for(
    status: int, request_id: str, slug: str | None = None, title: str | None = None
) -> Problem:
    default_slug, default_title = TITLES.get(status, ("error", "Request refused"))
    return Problem(status, slug or default_slug, title or default_title, request_id)


def problem_reply(
    problem: Problem,
    provider: ProviderAdapter = GENERIC,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    body = {**problem.as_dict(), **provider.error_member(problem)}
    return json_reply(
        problem.status,
        body,
        content_type="application/problem+json",
        headers=[("X-Request-Id", problem.request_id), *(headers or ())],
    )


def json_reply(
    status: int,
    document: object,
    *,
    content_type: str = "application/json",
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """A response Wardgate composes itself: JSON, dated, and naming no software but ours."""
    own = [("Content-Type", content_type), ("Date", http_date()), ("Server", SERVER)]
    return Reply(status, [*own, *(headers or ())], orjson.dumps(document))


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The current time as an HTTP date, formatted at most once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
