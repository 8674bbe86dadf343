"""The HTTP/1.1 server: an asyncio protocol around llhttp (via httptools).

Why our own: the request path is the gateway's hottest code, and aiohttp's server costs
about a quarter more CPU per proxied request than this one (RATIONALE.md, "The HTTP server").
It is deliberately small and strict:

- llhttp runs in strict mode, so requests with both Content-Length and Transfer-Encoding,
  duplicate Content-Length, obs-fold, bare LF or invalid tokens are refused with 400 and
  never reach the handler. The connection is closed after any parse error.
- A request line or header field longer than `max_line`, or more than `max_headers`
  fields, is refused with 431 (414 for the request line).
- A head that does not complete within the idle timeout is cut (slowloris); so is an idle
  keep-alive connection.
- Request bodies are handed over as they arrive; reading is paused while the handler has
  more than `BODY_HIGH_WATER` bytes unread, and pipelined requests wait their turn with
  reading paused, so a client's memory on the server stays bounded.
- Responses are written with Content-Length when the length is known, else chunked (close-
  delimited for HTTP/1.0), and writers wait while the transport's buffer is full.

The handler gets a `Request` and a `Response`; whatever it leaves unfinished ends the
connection, and whatever it raises is answered with 500 if nothing was sent yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, NamedTuple, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from wardgate.errors import MalformedRequest

__all__ = ["HttpServer", "Reply", "Request", "RequestBody", "Response"]

log = logging.getLogger(__name__)
BODY_HIGH_WATER = 256 * 1024
BODY_LOW_WATER = 64 * 1024
WRITE_STALL_SECONDS = 30.0  # longest a response may wait for the client to read
REASONS = {s.value: s.phrase for s in HTTPStatus}
BODYLESS_STATUS = frozenset({204, 304})


class Reply(NamedTuple):
    """A whole response the server or gateway composes itself (problems, health)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


Handler = Callable[["Request", "Response"], Awaitable[None]]
# Composes the answer to a request that could not be parsed: (client address, status).
Rejecter = Callable[[str, int], Reply]


class _HeadTooLarge(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class RequestBody:
    """A request body as it arrives. Reading it is what lets more of it in."""

    __slots__ = ("_buffered", "_chunks", "_conn", "_error", "_waiter", "complete")

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.complete = False

    def read_nowait(self) -> bytes:
        """Everything buffered so far, at once."""
        if self._error is not None:
            raise self._error
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        self._conn.update_reading()
        return data

    async def read(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            waiter = self._waiter = self._conn.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._buffered < BODY_LOW_WATER:
            self._conn.update_reading()
        return data

    @property
    def over_high_water(self) -> bool:
        return self._buffered > BODY_HIGH_WATER

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BODY_HIGH_WATER:
            self._conn.update_reading()
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self.complete:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Request:
    """One parsed request head, and its body as it arrives."""

    __slots__ = (
        "body",
        "content_length",
        "has_body",
        "headers",
        "keep_alive",
        "method",
        "peer_cert",
        "raw_headers",
        "raw_path",
        "remote",
        "scheme",
        "version",
    )

    def __init__(
        self,
        method: str,
        raw_path: str,
        version: str,
        raw_headers: list[tuple[str, str]],
        keep_alive: bool,
        remote: str,
        body: RequestBody,
        scheme: str = "http",
        peer_cert: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.version = version
        self.raw_headers = raw_headers
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(raw_headers))
        self.keep_alive = keep_alive
        self.remote = remote
        self.scheme = scheme
        self.peer_cert = peer_cert
        self.body = body
        length = self.headers.get("content-length")
        # llhttp has already refused anything but digits, and CL together with TE.
        self.content_length = int(length) if length is not None else None
        self.has_body = bool(self.content_length) or "transfer-encoding" in self.headers

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


class Response:
    """The writing side of one request. `send` for a whole answer, else `start`/`write`/`end`."""

    __slots__ = ("_chunked", "_conn", "_head_only", "_http10", "finished", "started")

    def __init__(self, conn: _Connection, request: Request) -> None:
        if not request.keep_alive:
            conn.keep_alive = False  # say so in the head: "Connection: close"
        self._conn = conn
        self._head_only = request.method == "HEAD"
        self._http10 = request.version == "1.0"
        self._chunked = False
        self.started = False
        self.finished = False

    def close_after(self) -> None:
        """End the connection after this response (e.g. an unread body is still coming)."""
        self._conn.keep_alive = False

    def abort(self) -> None:
        """Cut the connection now: the one honest signal once headers are out."""
        self._conn.keep_alive = False
        self._conn.close()

    async def send_continue(self) -> None:
        if not self._http10:  # RFC 9110 10.1.1: an HTTP/1.0 client never waits for it
            self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        bodyless = status in BODYLESS_STATUS
        framing = None if bodyless else f"Content-Length: {len(body)}"
        head = self._head(status, headers, framing)
        self.finished = True  # once the head is out, nothing else may follow
        if bodyless or self._head_only or not body:
            self._conn.write(head)
        else:
            self._conn.write(head + body)
        await self._conn.drain()

    async def reply(self, reply: Reply) -> None:
        await self.send(reply.status, reply.headers, reply.body)

    async def start(
        self, status: int, headers: list[tuple[str, str]], content_length: int | None
    ) -> None:
        if content_length is not None or status in BODYLESS_STATUS:
            framing = None if status in BODYLESS_STATUS else f"Content-Length: {content_length}"
        elif self._http10:
            framing = None
            self._conn.keep_alive = False  # the body ends when the connection does
        else:
            framing = "Transfer-Encoding: chunked"
            self._chunked = not self._head_only
        self._conn.write(self._head(status, headers, framing))

    async def write(self, data: bytes) -> None:
        if not data or self._head_only:
            return
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self._conn.write(data)
        await self._conn.drain()

    async def end(self) -> None:
        self.finished = True
        if self._chunked:
            self._conn.write(b"0\r\n\r\n")
            await self._conn.drain()

    def _head(self, status: int, headers: list[tuple[str, str]], framing: str | None) -> bytes:
        if self.started:
            raise RuntimeError("response already started")
        closing = not self._conn.keep_alive or self._conn.server.closing
        head = encode_head(status, headers, framing, closing)
        self.started = True
        return head


def encode_head(
    status: int, headers: list[tuple[str, str]], framing: str | None, closing: bool
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if framing is not None:
        lines.append(framing)
    if closing:
        lines.append("Connection: close")
    text = "\r\n".join(lines)
    # Names and values come from parsers that refuse CR and LF; this keeps it that way
    # (response splitting) for anything a check might add.
    if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
        raise ValueError("CR or LF inside a response header")
    return (text + "\r\n\r\n").encode("utf-8", "surrogateescape")


class _Connection(asyncio.Protocol):
    """One client connection: parse, hand requests to the handler one at a time, write."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.keep_alive = True
        self.remote = ""
        self.scheme = "http"
        self.peer_cert: dict[str, Any] | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._in_head = True
        self._head_size = 0
        self._parsing: Request | None = None  # the request whose bytes are arriving
        self._current: Request | None = None  # the request being handled
        self._pending: deque[Request] = deque()
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._eof = False
        self.closed = False

    # -- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) else ""
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            self.scheme = "https"
            self.peer_cert = tls.getpeercert() or None  # verified against the client CA
        self.server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep_alive = False
        self.server.connections.discard(self)
        self.server.connection_done()
        self._disarm_idle()
        gone = ConnectionResetError("client disconnected")
        for request in (self._parsing, self._current, *self._pending):
            if request is not None:
                request.body._fail(gone)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(gone)

    def eof_received(self) -> bool:
        # A client may half-close after its request: answer it, then close.
        self._eof = True
        self.keep_alive = False
        if self._parsing is not None and not self._parsing.body.complete:
            self._parsing.body._fail(MalformedRequest("body cut short"))
        return self._current is not None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrades are not relayed: the request is served as a plain one, then we close.
            self.keep_alive = False
            self.transport.pause_reading()  # type: ignore[union-attr]
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._refuse(cause.status if isinstance(cause, _HeadTooLarge) else 400)
        except httptools.HttpParserError:
            self._refuse(400)
        else:
            if self._in_head and self._head_size > self.server.max_line * 8:
                self._refuse(431)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- llhttp callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.server.max_line:
            raise _HeadTooLarge(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) + 2 > self.server.max_line:
            raise _HeadTooLarge(431)
        headers = self._headers
        if len(headers) >= self.server.max_headers:
            raise _HeadTooLarge(431)
        headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_size = 0
        parser = self._parser
        request = Request(
            parser.get_method().decode("ascii"),
            self._url.decode("utf-8", "surrogateescape"),
            parser.get_http_version(),
            self._headers,
            parser.should_keep_alive(),
            self.remote,
            RequestBody(self),
            self.scheme,
            self.peer_cert,
        )
        # Trailer fields of a chunked body arrive through on_header too: they go to a list
        # nobody reads, never into the request the checks have already approved.
        self._headers = []
        self._parsing = request
        self._disarm_idle()
        if self._current is None:
            self._dispatch(request)
        else:
            self._pending.append(request)
            self.update_reading()

    def on_body(self, data: bytes) -> None:
        if self._parsing is not None:
            self._parsing.body._feed(data)

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing.body._finish()
            self._parsing = None
        self._in_head = True

    # -- serving

    def _dispatch(self, request: Request) -> None:
        self._current = request
        self.loop.create_task(self._serve(request))

    async def _serve(self, request: Request) -> None:
        response = Response(self, request)
        try:
            await self.server.handler(request, response)
        except Exception:
            log.exception("unhandled error serving a request")
            if not response.started and not self.closed:
                self.keep_alive = False
                reply = self.server.reject(self.remote, 500)
                with contextlib.suppress(ConnectionError):
                    await response.reply(reply)
        finally:
            self._done(request, response)

    def _done(self, request: Request, response: Response) -> None:
        self._current = None
        if self.closed:
            return
        if self.server.closing:
            self.close()
            self.server.connection_done()
            return
        if not (
            response.finished
            and request.keep_alive
            and self.keep_alive
            and request.body.complete
            and not self.server.closing
        ):
            self.close()
            return
        if self._pending:
            self._dispatch(self._pending.popleft())
        else:
            self._arm_idle()
        self.update_reading()

    def _refuse(self, status: int) -> None:
        """The bytes cannot be parsed: answer once (if nothing else is being answered), close."""
        self.keep_alive = False
        if self._parsing is not None:
            self._parsing.body._fail(MalformedRequest("invalid body framing"))
        transport = self.transport
        if transport is None or self.closed:
            return
        transport.pause_reading()
        if self._current is not None or self._parsing is not None:
            return  # the handler in progress ends the connection when it is done
        reply = self.server.reject(self.remote, status)
        framing = f"Content-Length: {len(reply.body)}"
        transport.write(encode_head(reply.status, reply.headers, framing, True) + reply.body)
        self.close()

    # -- plumbing

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("client disconnected")
        self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("client disconnected")
        if not self._write_paused:
            return
        waiter = self._drain_waiter = self.loop.create_future()
        try:
            async with asyncio.timeout(self.server.write_stall_seconds):
                await waiter
        except TimeoutError:
            # A client that stops reading would pin its request, upstream connection and
            # limits forever: cut it, dropping what it never read (close() would wait to
            # flush it, forever).
            if self.transport is not None:
                self.transport.abort()
            raise ConnectionResetError("client stopped reading") from None
        finally:
            self._drain_waiter = None

    def update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.closed or self._eof:
            return
        parsing = self._parsing
        pause = bool(self._pending) or (parsing is not None and parsing.body.over_high_water)
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def idle(self) -> bool:
        return self._current is None and self._parsing is None

    def _arm_idle(self) -> None:
        self._disarm_idle()
        self._idle = self.loop.call_later(self.server.keepalive_seconds, self.close)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None


class HttpServer:
    """Listens, serves `handler`, and drains in-flight requests on `stop`."""

    def __init__(
        self,
        handler: Handler,
        reject: Rejecter,
        *,
        keepalive_seconds: float,
        max_line: int,
        max_headers: int,
        write_stall_seconds: float = WRITE_STALL_SECONDS,
    ) -> None:
        self.handler = handler
        self.write_stall_seconds = write_stall_seconds
        self.reject = reject
        self.keepalive_seconds = keepalive_seconds
        self.max_line = max_line
        self.max_headers = max_headers
        self.connections: set[_Connection] = set()
        self.closing = False
        self._quiet = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None

    async def start(
        self, host: str, port: int, *, reuse_port: bool = False, tls: ssl.SSLContext | None = None
    ) -> int:
        self._server = await self.loop.create_server(
            lambda: _Connection(self),
            host,
            port,
            reuse_port=reuse_port or None,
            backlog=1024,
            ssl=tls,
            ssl_handshake_timeout=10.0 if tls is not None else None,
        )
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def quiet(self) -> bool:
        return all(conn.idle for conn in self.connections)

    def connection_done(self) -> None:
        """A connection finished its request or closed: while draining, maybe the last one."""
        if self.closing and self.quiet:
            self._quiet.set()

    async def stop(self, drain_seconds: float) -> None:
        """Stop accepting; let requests in progress finish (up to `drain_seconds`); close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.idle:
                conn.close()
        if not self.quiet:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), drain_seconds)
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
