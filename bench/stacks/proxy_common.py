"""What every candidate proxy in bench/stacks shares, so that only the server and client differ."""

import argparse
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

# The same set as the floor (/work/shared/bench/aiohttp_proxy.py), so every candidate forwards
# the same headers: hop-by-hop ones go, and so do host and content-length, which the upstream
# client sets again for the request it sends.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
HOP_BY_HOP_BYTES = frozenset(name.encode() for name in HOP_BY_HOP)


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]


def end_to_end_raw(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP_BYTES]


def is_event_stream(content_type: str) -> bool:
    return content_type.startswith("text/event-stream")


def new_aiohttp_session() -> ClientSession:
    """The floor's client settings: unlimited keep-alive pool, bodies passed through as sent."""
    return ClientSession(
        connector=TCPConnector(limit=0, ttl_dns_cache=None),
        timeout=ClientTimeout(total=300),
        auto_decompress=False,
    )


def parse_args() -> argparse.Namespace:
    """The floor's command line, so the harness starts every script proxy the same way."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:18180")
    return parser.parse_args()


def upstream_from_environment() -> str:
    # ASGI and RSGI apps are imported by their server's own CLI, which passes them no arguments.
    return os.environ["STACKS_UPSTREAM"].rstrip("/")


# ASGI helpers, shared by the two ASGI apps (aiohttp client and httpx client).
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def upstream_target(scope: Scope) -> str:
    # raw_path keeps the client's own percent-encoding; it is optional in ASGI.
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope["query_string"]
    return (path + b"?" + query if query else path).decode("latin-1")


def request_headers(scope: Scope) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in end_to_end_raw(scope["headers"])]


async def run_lifespan(
    receive: Receive,
    send: Send,
    on_startup: Callable[[], Awaitable[None]],
    on_shutdown: Callable[[], Awaitable[None]],
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
