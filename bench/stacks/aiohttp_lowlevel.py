"""Candidate 2: aiohttp's low-level server (web.Server, no Application, no router) + aiohttp client.

Same behaviour as the floor; the difference it measures is what web.Application and its
router add per request.
"""

import asyncio

import uvloop
from aiohttp import ClientResponse, web
from proxy_common import end_to_end, is_event_stream, new_aiohttp_session, parse_args


class Proxy:
    """The request handler: forwards each request through one pooled client session."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session = new_aiohttp_session()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        async with self.session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=end_to_end(request.headers.items()),
            data=body,
        ) as upstream:
            if is_event_stream(upstream.headers.get("Content-Type", "")):
                return await relay_stream(request, upstream)
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                headers=end_to_end(upstream.headers.items()),
            )


async def relay_stream(request: web.BaseRequest, upstream: ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(
        status=upstream.status, headers=end_to_end(upstream.headers.items())
    )
    await response.prepare(request)
    async for chunk in upstream.content.iter_any():
        await response.write(chunk)
    await response.write_eof()
    return response


async def serve(port: int, upstream: str) -> None:
    proxy = Proxy(upstream)  # the client session must be made inside the running loop
    runner = web.ServerRunner(web.Server(proxy, access_log=None))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()  # serve until the harness stops us
    finally:
        await runner.cleanup()
        await proxy.session.close()


if __name__ == "__main__":
    args = parse_args()
    uvloop.run(serve(args.port, args.upstream))
