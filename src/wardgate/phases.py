"""The phases of one exchange, in the order they run."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["REQUEST_PHASES", "RESPONSE_PHASES", "Phase"]


class Phase(StrEnum):
    """Where in an exchange a check runs.

    `response_chunk` repeats once per streamed event; `log` always runs, after blocks and
    errors too. Once response headers are sent, a block can only end the stream.
    """

    REQUEST_HEADERS = "request_headers"
    REQUEST_BODY = "request_body"
    RESPONSE_HEADERS = "response_headers"
    RESPONSE_BODY = "response_body"
    RESPONSE_CHUNK = "response_chunk"
    LOG = "log"


REQUEST_PHASES = frozenset({Phase.REQUEST_HEADERS, Phase.REQUEST_BODY})
RESPONSE_PHASES = frozenset({Phase.RESPONSE_HEADERS, Phase.RESPONSE_BODY})
