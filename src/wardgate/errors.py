"""Wardgate's exceptions: faults, never detections.

Detections are values (`Finding`, `Decision`); an exception means something is broken or a
request cannot be processed at all. The tree::

    WardgateError
    ├── PolicyError              a policy file that cannot be loaded (file, line, key)
    ├── CheckFault               a check raised or ran past its time budget
    ├── StoreError               an event/counter/inventory store is unavailable
    ├── ClientError              the client sent something we refuse before any check
    │   ├── MalformedRequest     400: unparsable or ambiguous HTTP, bad encoding
    │   └── BodyTooLarge         413: body over the route limit
    └── UpstreamError            502 unless a subclass says otherwise
        ├── UpstreamConnectError 502: no connection could be made to any target
        ├── UpstreamTimeout      504: read or total timeout expired
        │   └── UpstreamConnectTimeout 504: no target answered the connect in time
        └── UpstreamProtocolError 502: reset, truncated or invalid response

Only `proxy/upstream.py` catches the HTTP client library's exceptions, and maps them to the
most specific `UpstreamError`.
"""

from __future__ import annotations

__all__ = [
    "BodyTooLarge",
    "CheckFault",
    "ClientError",
    "MalformedRequest",
    "PolicyError",
    "StoreError",
    "UpstreamConnectError",
    "UpstreamConnectTimeout",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "WardgateError",
]


class WardgateError(Exception):
    """Base of every exception Wardgate raises on purpose."""


class PolicyError(WardgateError):
    """A policy could not be loaded, validated or compiled.

    `problems` holds one line per problem, each starting with `file:line:` where known.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class CheckFault(WardgateError):
    """A check raised or exceeded its time budget; its `on_error` decides what follows."""


class StoreError(WardgateError):
    """A store (events, counters, inventory) cannot be reached or written."""


class ClientError(WardgateError):
    """The request itself is unacceptable; `status` and `slug` shape the problem response."""

    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class MalformedRequest(ClientError):
    """Unparsable, ambiguous or smuggling-shaped HTTP (answered 400, never forwarded)."""


class BodyTooLarge(ClientError):
    status = 413
    slug = "body-too-large"
    title = "Request body too large"


class UpstreamError(WardgateError):
    status = 502
    slug = "upstream-error"
    title = "Upstream error"


class UpstreamConnectError(UpstreamError):
    slug = "upstream-unavailable"
    title = "Upstream unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    slug = "upstream-timeout"
    title = "Upstream timed out"


class UpstreamConnectTimeout(UpstreamTimeout):
    slug = "upstream-connect-timeout"


class UpstreamProtocolError(UpstreamError):
    slug = "upstream-protocol-error"
    title = "Upstream sent an invalid response"
