"""Header rewriting between client and upstream: hop-by-hop, forwarding, ids and tracing."""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Forwarding",
    "TrustedProxies",
    "downstream_headers",
    "new_trace",
    "upstream_headers",
]

# RFC 9110 7.6.1 plus the de-facto ones; each applies to one connection only.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by Wardgate itself; a client's own values are never passed on.
REWRITTEN = frozenset(
    {
        "host",
        "content-length",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-request-id",
        "traceparent",
        # Client-address claims a client could forge; the upstream gets X-Forwarded-For.
        "x-real-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-client-ip",
        # We answer `Expect` ourselves (or not at all); it never travels upstream.
        "expect",
    }
)
_DROP_UPSTREAM = HOP_BY_HOP | REWRITTEN
_DROP_DOWNSTREAM = HOP_BY_HOP | {"content-length"}
TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_random = random.Random()  # trace and request ids must be unique, not secret


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Who the client is and how it reached us, after deciding what to believe."""

    client_ip: str
    forwarded_for: str
    proto: str
    request_id: str
    traceparent: str


class TrustedProxies:
    """The networks whose forwarding headers are believed; membership is cached per address."""

    def __init__(self, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self._networks = tuple(networks)
        self.trusts = lru_cache(maxsize=4096)(self._trusts)

    def _trusts(self, address: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)


def new_trace() -> tuple[str, str]:
    """A fresh (trace id, span id) pair as lowercase hex."""
    ids = f"{_random.getrandbits(192):048x}"
    return ids[:32], ids[32:]


def forwarding(
    peer: str, headers: Mapping[str, str], scheme: str, trusted: TrustedProxies
) -> Forwarding:
    trace_id, span_id = new_trace()
    flags = "01"
    incoming = headers.get("traceparent")
    incoming_trace = TRACEPARENT.match(incoming) if incoming else None
    if incoming_trace and incoming_trace.group(2) != "0" * 32 and incoming_trace.group(1) != "ff":
        trace_id, flags = incoming_trace.group(2), incoming_trace.group(4)
    if not trusted.trusts(peer):
        # An untrusted client may continue its trace, but never picks our request id.
        request_id = trace_id if incoming_trace is None else new_trace()[0]
        return Forwarding(peer, peer, scheme, request_id, f"00-{trace_id}-{span_id}-{flags}")
    chain = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
    client = peer
    for address in reversed(chain):
        client = address
        if not trusted.trusts(address):
            break
    forwarded_for = ", ".join([*chain, peer])
    proto = headers.get("x-forwarded-proto", scheme).split(",", 1)[0].strip().lower()
    if proto not in ("http", "https"):
        proto = scheme
    request_id = headers.get("x-request-id", "")
    if not REQUEST_ID.match(request_id):
        request_id = trace_id
    return Forwarding(client, forwarded_for, proto, request_id, f"00-{trace_id}-{span_id}-{flags}")


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    value = headers.get("connection")
    if not value:
        return frozenset()
    tokens = frozenset(t.strip().lower() for t in value.split(","))
    # "keep-alive" and "close" are hop-by-hop already; only other names add work.
    return tokens - {"keep-alive", "close"}


def upstream_headers(
    raw: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    fwd: Forwarding,
    host: str,
    keep_content_length: bool,
) -> list[tuple[str, str]]:
    """The headers sent upstream: the client's minus hop-by-hop, plus forwarding and ids."""
    named = _connection_tokens(headers)
    dropped = _DROP_UPSTREAM | named if named else _DROP_UPSTREAM
    out = [(k, v) for k, v in raw if k.lower() not in dropped]
    if keep_content_length and "content-length" in headers:
        out.append(("Content-Length", headers["content-length"]))
    out.append(("X-Forwarded-For", fwd.forwarded_for))
    out.append(("X-Forwarded-Proto", fwd.proto))
    if host:
        out.append(("X-Forwarded-Host", host))
    out.append(("X-Request-Id", fwd.request_id))
    out.append(("traceparent", fwd.traceparent))
    return out


def downstream_headers(upstream: Mapping[str, str], request_id: str) -> list[tuple[str, str]]:
    """The headers sent to the client: the upstream's minus hop-by-hop and framing.

    A plain list: the response object builds its own multidict from it once.
    """
    named = _connection_tokens(upstream)
    dropped = _DROP_DOWNSTREAM | named if named else _DROP_DOWNSTREAM
    out = [(k, v) for k, v in upstream.items() if k.lower() not in dropped]
    out.append(("X-Request-Id", request_id))
    if "server" not in upstream:
        # Never advertise our own stack; an upstream's own Server header passes unchanged.
        out.append(("Server", "wardgate"))
    return out
