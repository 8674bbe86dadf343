"""Candidates 3 and 5: an ASGI proxy app with the aiohttp client.

Served by uvicorn or by granian (interface asgi), each started by bench/stacks.py through the
server's own CLI; the upstream base URL comes from $STACKS_UPSTREAM.
"""

from aiohttp import ClientResponse, ClientSession
from proxy_common import (
    Receive,
    Scope,
    Send,
    end_to_end_raw,
    is_event_stream,
    new_aiohttp_session,
    read_body,
    request_headers,
    run_lifespan,
    upstream_from_environment,
    upstream_target,
)

UPSTREAM = upstream_from_environment()
# Made at lifespan startup: an aiohttp session must be created inside the running loop.
session: ClientSession | None = None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send, open_session, close_session)
    elif scope["type"] == "http":
        await proxy(scope, receive, send)


async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
    assert session is not None, "lifespan startup did not run"
    body = await read_body(receive)
    async with session.request(
        scope["method"],
        UPSTREAM + upstream_target(scope),
        headers=request_headers(scope),
        data=body,
    ) as upstream:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": end_to_end_raw(upstream.raw_headers),
            }
        )
        if is_event_stream(upstream.headers.get("Content-Type", "")):
            await relay_stream(upstream, send)
        else:
            await send({"type": "http.response.body", "body": await upstream.read()})


async def relay_stream(upstream: ClientResponse, send: Send) -> None:
    async for chunk in upstream.content.iter_any():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def open_session() -> None:
    global session
    session = new_aiohttp_session()


async def close_session() -> None:
    if session is not None:
        await session.close()
