"""Candidate 6: a bare asyncio.Protocol server parsing with httptools + aiohttp client.

No server framework at all, to see how much of each framework's cost is the framework. It
does only what the benchmark needs: no limits, no timeouts, no 100-continue, no upgrades.
"""

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools
import uvloop
from aiohttp import ClientError, ClientResponse, ClientSession
from proxy_common import (
    end_to_end_raw,
    is_event_stream,
    new_aiohttp_session,
    parse_args,
)

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class ParsedRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool


class ProxyProtocol(asyncio.Protocol):
    """One client connection. httptools calls the on_* methods while it parses; complete
    requests queue up and one task answers them in order (pipelined requests stay in order)."""

    def __init__(self, session: ClientSession, upstream: str) -> None:
        self.session = session
        self.upstream = upstream
        self.queued: deque[ParsedRequest] = deque()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.parser = httptools.HttpRequestParser(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = bytearray()
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.queued.append(
            ParsedRequest(
                method=self.parser.get_method().decode(),
                target=self.url.decode("latin-1"),
                headers=[
                    (n.decode("latin-1"), v.decode("latin-1"))
                    for n, v in end_to_end_raw(self.headers)
                ],
                body=b"".join(self.body),
                keep_alive=self.parser.should_keep_alive(),
            )
        )
        if self.worker is None:
            self.worker = asyncio.ensure_future(self.answer_queued())

    async def answer_queued(self) -> None:
        while self.queued and not self.transport.is_closing():
            request = self.queued.popleft()
            await self.answer(request)
            if not request.keep_alive:
                self.transport.close()
        self.worker = None

    async def answer(self, request: ParsedRequest) -> None:
        try:
            async with self.session.request(
                request.method,
                self.upstream + request.target,
                headers=request.headers,
                data=request.body,
            ) as upstream:
                await self.relay(upstream, request.keep_alive)
        except ClientError:
            self.transport.write(BAD_GATEWAY)

    async def relay(self, upstream: ClientResponse, keep_alive: bool) -> None:
        head = [b"HTTP/1.1 %d %s\r\n" % (upstream.status, (upstream.reason or "").encode())]
        head += [b"%s: %s\r\n" % pair for pair in end_to_end_raw(upstream.raw_headers)]
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        if not is_event_stream(upstream.headers.get("Content-Type", "")):
            body = await upstream.read()
            head.append(b"Content-Length: %d\r\n\r\n" % len(body))
            self.transport.write(b"".join(head) + body)
            return
        head.append(b"Transfer-Encoding: chunked\r\n\r\n")
        self.transport.write(b"".join(head))
        async for chunk in upstream.content.iter_any():
            self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.transport.write(b"0\r\n\r\n")


async def serve(port: int, upstream: str) -> None:
    session = new_aiohttp_session()  # made inside the running loop, as aiohttp requires
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ProxyProtocol(session, upstream.rstrip("/")), "127.0.0.1", port, backlog=1024
    )
    try:
        async with server:
            await server.serve_forever()
    finally:
        await session.close()


if __name__ == "__main__":
    args = parse_args()
    uvloop.run(serve(args.port, args.upstream))
