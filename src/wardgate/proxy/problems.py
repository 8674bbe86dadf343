"""RFC 9457 problem responses, shaped for the route's provider so its SDKs raise properly."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

from wardgate.providers import Problem, ProviderAdapter
from wardgate.providers.generic import GenericAdapter

__all__ = ["TITLES", "problem_for", "problem_response"]

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


def problem_response(
    problem: Problem,
    provider: ProviderAdapter = GENERIC,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = {**problem.as_dict(), **provider.error_member(problem)}
    response = web.Response(
        status=problem.status,
        body=orjson.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )
    response.headers["X-Request-Id"] = problem.request_id
    response.headers["Server"] = SERVER
    return response
