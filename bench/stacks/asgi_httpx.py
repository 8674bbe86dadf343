"""Candidate 4: an ASGI proxy app with a pooled httpx.AsyncClient (served by uvicorn).

Started by bench/stacks.py through uvicorn's CLI; the upstream base URL comes from
$STACKS_UPSTREAM.
"""

import httpx
from proxy_common import (
    Receive,
    Scope,
    Send,
    end_to_end_raw,
    is_event_stream,
    read_body,
    request_headers,
    run_lifespan,
    upstream_from_environment,
    upstream_target,
)

UPSTREAM = upstream_from_environment()
# No pool limits, like the aiohttp candidates: httpx's default keeps only 20 idle
# connections, which would reconnect all the time at 64 concurrent requests.
client = httpx.AsyncClient(
    limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    timeout=httpx.Timeout(300),
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send, do_nothing, client.aclose)
    elif scope["type"] == "http":
        await proxy(scope, receive, send)


async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    request = client.build_request(
        scope["method"],
        UPSTREAM + upstream_target(scope),
        headers=request_headers(scope),
        content=body,
    )
    upstream = await client.send(request, stream=True)
    try:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status_code,
                "headers": end_to_end_raw(upstream.headers.raw),
            }
        )
        # aiter_raw, not aread: pass the body on as sent, undecoded, like the aiohttp clients.
        if is_event_stream(upstream.headers.get("Content-Type", "")):
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            body = b"".join([part async for part in upstream.aiter_raw()])
            await send({"type": "http.response.body", "body": body})
    finally:
        await upstream.aclose()


async def do_nothing() -> None:
    pass
