"""Ambiguous framing is refused with 400 and never forwarded (request smuggling defence)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Gateway, Upstream


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
        await writer.wait_closed()


SMUGGLING = [
    # Content-Length and Transfer-Encoding together (CL.TE / TE.CL desync)
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
    # two Content-Length headers, same value
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    # two Content-Length headers, different values
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!",
    # obs-fold continuation line
    b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    # Content-Length as a list
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    # whitespace before the colon
    b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    # a transfer coding we do not forward
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
    # Transfer-Encoding on HTTP/1.0
    b"POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    # bad chunk size
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    # bare LF line endings
    b"GET /echo HTTP/1.1\nHost: x\n\n",
    # two Host headers (RFC 9112 3.2), and none on HTTP/1.1
    b"GET /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", SMUGGLING)
async def test_ambiguous_requests_are_refused(
    gateway: Gateway, upstream: Upstream, request_bytes: bytes
) -> None:
    answer = await _raw(gateway.process.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"400"
    assert b"application/problem+json" in head
    assert b'"status":400' in body
    # Parser internals (messages, offsets, library names) never reach the client.
    assert b"aiohttp" not in answer and b"Content-Length" not in body
    assert upstream.recorder.total == 0


async def test_refused_requests_still_produce_events(gateway: Gateway) -> None:
    from wardgate.observe.query import EventQuery, query_events

    await _raw(gateway.process.port, SMUGGLING[0])
    await gateway.process.events.flush()
    rows = query_events(gateway.events_db, EventQuery(status=400))
    assert len(rows) == 1
    assert rows[0]["error"] == "malformed-http"


async def test_expect_100_continue_is_answered_before_the_body(
    gateway: Gateway, upstream: Upstream
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.process.port)
    try:
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"hello")
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert final.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
    assert upstream.recorder.last is not None
    assert upstream.recorder.last.body == b"hello"
    assert upstream.recorder.last.header("expect") is None
