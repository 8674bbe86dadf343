"""One request/response pair as discovery sees it, whatever it was learned from.

Live traffic, HAR files, Postman collections and access logs all become `Observation`s;
everything downstream (templating, schema inference, classification, the inventory) reads
only this shape. Bodies are kept as bytes, already bounded by whoever built the
observation, and parsed lazily by the consumer that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_BODY", "Observation"]

# Discovery infers schemas from bodies; past this size a body adds little and costs much.
MAX_BODY = 256 * 1024


@dataclass(frozen=True, slots=True)
class Observation:
    """What was seen of one call: request line and parts, and the response if known.

    `path` is the decoded path without the query string; `query` keeps repeated keys in
    order. Header names are lower-case. `status` is 0 when the response is unknown (a
    Postman request, an access log without status). `consumer` is the identity the gateway
    resolved (API key name, JWT subject) or "" when none; `model` the AI model requested,
    when the caller knows it. `time` is seconds since the epoch (0.0 when unknown).
    """

    method: str
    path: str
    scheme: str = "https"
    host: str = ""
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    request_type: str = ""
    request_body: bytes = b""
    status: int = 0
    response_type: str = ""
    response_body: bytes = b""
    consumer: str = ""
    model: str = ""
    time: float = 0.0
