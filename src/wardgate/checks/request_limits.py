"""`request_limits`: refuse requests by declared size, URL length and content type.

Runs in `request_headers`, from what the client declares, so nothing is read or forwarded
for a refused request. The route's `body_limit` still bounds what is actually read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckSettings
from wardgate.decision import Decision, Finding, Location
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["Config", "RequestLimitsCheck"]

BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


class Config(CheckSettings):
    """Limits on what a request declares. Oversize answers 413; the rest 400."""

    type: Literal["request_limits"] = "request_limits"
    max_body_bytes: int | None = Field(
        default=None, ge=0, description="Largest declared Content-Length accepted (413 above)."
    )
    max_url_bytes: int | None = Field(
        default=None, ge=1, description="Longest path plus query string accepted."
    )
    content_types: list[str] = Field(
        default_factory=list,
        description="Media types accepted for requests with a body, e.g. application/json; "
        "parameters such as charset are ignored. Empty: any.",
    )


class RequestLimitsCheck:
    phases = frozenset({Phase.REQUEST_HEADERS})

    def __init__(self, config: Config) -> None:
        self._config = config
        self._content_types = frozenset(t.strip().lower() for t in config.content_types)

    async def check_request(self, ex: Exchange) -> Decision:
        config = self._config
        declared = _declared_length(ex)
        if config.max_body_bytes is not None and declared > config.max_body_bytes:
            return Decision.block(413, [_finding("limits.body_size", "declared body over limit")])
        if config.max_url_bytes is not None:
            url_bytes = len(ex.path) + (len(ex.query_string) + 1 if ex.query_string else 0)
            if url_bytes > config.max_url_bytes:
                return Decision.block(400, [_finding("limits.url_size", "URL over limit")])
        if self._content_types and _has_body(ex, declared):
            media_type = ex.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type not in self._content_types:
                return Decision.block(
                    400, [_finding("limits.content_type", "content type not accepted")]
                )
        return Decision.allow()


def _declared_length(ex: Exchange) -> int:
    try:
        return int(ex.headers.get("content-length", "0"))
    except ValueError:
        return 0


def _has_body(ex: Exchange, declared: int) -> bool:
    if declared > 0 or "transfer-encoding" in ex.headers:
        return True
    return ex.method not in BODYLESS_METHODS and "content-type" in ex.headers


def _finding(kind: str, reason: str) -> Finding:
    return Finding(
        kind=kind,
        rule=f"request_limits.{kind.split('.', 1)[1]}",
        location=Location("request"),
        reason=reason,
    )
