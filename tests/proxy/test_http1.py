"""The HTTP/1.1 server on its own: framing, limits, timeouts, pipelining, drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wardgate.proxy.http1 import HttpServer, Reply, Request, Response

Serve = Callable[..., Awaitable[HttpServer]]


def _reject(remote: str, status: int) -> Reply:
    return Reply(status, [("Content-Type", "text/plain")], f"refused {status}".encode())


async def _echo(request: Request, response: Response) -> None:
    body = b""
    while chunk := await request.body.read():
        body += chunk
    if request.raw_path == "/stream":
        await response.start(200, [("Content-Type", "text/plain")], None)
        for part in (b"one ", b"two ", b"three"):
            await response.write(part)
        await response.end()
        return
    if request.raw_path == "/big":
        await response.start(200, [], None)
        for _ in range(64):
            await response.write(b"x" * 1024 * 1024)
        await response.end()
        return
    if request.raw_path == "/slow":
        await asyncio.sleep(0.3)
    if request.raw_path == "/boom":
        raise RuntimeError("handler bug")
    if request.raw_path == "/split":
        await response.send(200, [("X-Bad", "a\r\nSet-Cookie: x=1")], b"")
        return
    answer = f"{request.method} {request.raw_path} {len(body)}:".encode() + body
    await response.send(200, [("Content-Type", "text/plain")], answer)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[HttpServer] = []

    async def start(
        keepalive: float = 5.0, max_line: int = 1024, max_headers: int = 16
    ) -> HttpServer:
        server = HttpServer(
            _echo, _reject, keepalive_seconds=keepalive, max_line=max_line, max_headers=max_headers
        )
        server.port = await server.start("127.0.0.1", 0)  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(0.5)


async def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        if half_close:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def _port(server: HttpServer) -> int:
    return int(server.port)  # type: ignore[attr-defined]


async def test_pipelined_requests_are_answered_in_order(serve: Serve) -> None:
    server = await serve()
    data = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await _exchange(_port(server), data)
    bodies = [part.split(b"\r\n\r\n", 1)[1][:20] for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"POST /a 3:abc", b"GET /b 0:", b"POST /c 2:hi", b"GET /d 0:"]
    assert answer.count(b"Connection: close") == 1


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n", 431),
        # a head that never ends, fed faster than any one line grows too long
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000, 431),
    ],
)
async def test_oversized_heads_are_refused(serve: Serve, head: bytes, status: int) -> None:
    server = await serve(max_headers=16)
    answer = await _exchange(_port(server), head)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:60]
    assert b"Connection: close" in answer and answer.endswith(b"refused %d" % status)


async def test_unknown_length_response_is_chunked_or_close_delimited(serve: Serve) -> None:
    server = await serve()
    chunked = await _exchange(
        _port(server), b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert b"Transfer-Encoding: chunked" in chunked
    assert chunked.endswith(b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n")
    old = await _exchange(_port(server), b"GET /stream HTTP/1.0\r\n\r\n")
    assert b"Transfer-Encoding" not in old and b"Connection: close" in old
    assert old.endswith(b"\r\n\r\none two three")


async def test_head_answers_carry_no_body(serve: Serve) -> None:
    server = await serve()
    answer = await _exchange(
        _port(server), b"HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert b"Content-Length: 10" in answer and answer.endswith(b"\r\n\r\n")


async def test_a_half_closed_client_still_gets_its_answer(serve: Serve) -> None:
    server = await serve()
    answer = await _exchange(_port(server), b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"GET /h 0:")


async def test_idle_and_slow_heads_are_cut_after_the_keepalive_timeout(serve: Serve) -> None:
    server = await serve(keepalive=0.2)
    for data in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n"):  # idle; a head that never ends
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
        writer.write(data)
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()


async def test_handler_errors_become_500_without_details(serve: Serve) -> None:
    server = await serve()
    for path in (b"/boom", b"/split"):
        answer = await _exchange(_port(server), b"GET %b HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        assert answer.startswith(b"HTTP/1.1 500 "), answer[:40]
        assert b"Set-Cookie" not in answer and b"handler bug" not in answer


async def test_stop_drains_in_flight_requests_and_refuses_new_ones(serve: Serve) -> None:
    server = await serve()
    port = _port(server)
    slow = asyncio.create_task(_exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.1)
    await server.stop(5.0)
    answer = await slow
    assert answer.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in answer
    assert await asyncio.wait_for(idle_reader.read(), 1) == b""  # idle: closed at once
    idle_writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_client_that_stops_reading_is_cut(serve: Serve) -> None:
    server = await serve()
    server.write_stall_seconds = 0.3
    _reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    # An answer far larger than the socket buffers, which the client never reads.
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(100):  # cut 0.3 s after writing stalls; allow a slow machine
        await asyncio.sleep(0.05)
        if server.quiet and not server.connections:
            break
    assert server.quiet and not server.connections  # nothing is left being served for it
    writer.close()


async def test_trailers_never_join_the_request_headers(serve: Serve) -> None:
    seen: list[list[tuple[str, str]]] = []

    async def handler(request: Request, response: Response) -> None:
        while await request.body.read():
            pass
        seen.append(list(request.raw_headers))
        await response.send(200, [], b"ok")

    server = HttpServer(handler, _reject, keepalive_seconds=5, max_line=1024, max_headers=16)
    port = await server.start("127.0.0.1", 0)
    try:
        await _exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            b"\r\n2\r\nhi\r\n0\r\nAuthorization: Bearer smuggled\r\n\r\n",
        )
    finally:
        await server.stop(0.5)
    assert [name for name, _ in seen[0]] == ["Host", "Transfer-Encoding", "Connection"]
