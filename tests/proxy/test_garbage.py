"""Whatever bytes a client sends, the worker survives and answers with a clean problem."""

from __future__ import annotations

import asyncio

import aiohttp
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import Gateway

REQUEST_LINES = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /echo HTTP/1.1\r\n",
        b"\x16\x03\x01",
        b"",
        b"GET /%zz HTTP/1.1\r\n",
    ]
)


async def _send(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        return await asyncio.wait_for(reader.read(65536), 5)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=REQUEST_LINES, noise=st.binary(max_size=300))
async def test_random_bytes_never_crash_or_leak(
    gateway: Gateway, start: bytes, noise: bytes
) -> None:
    answer = await _send(gateway.process.port, start + noise)
    assert b"Traceback" not in answer and b"aiohttp" not in answer
    if answer.startswith(b"HTTP/1.1 4") or answer.startswith(b"HTTP/1.0 4"):
        assert b"application/problem+json" in answer or b"404" in answer.split(b"\r\n")[0]


async def test_still_serving_after_garbage(gateway: Gateway) -> None:
    for junk in (
        b"\x00" * 100,
        b"GET " + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
        b"BREW / HTCPCP/1.0\r\n\r\n",
    ):
        await _send(gateway.process.port, junk)
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.base}/healthz") as response:
        assert response.status == 200
