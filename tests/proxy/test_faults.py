"""Upstream failures become 502/504 problems; oversized bodies 413; nothing crashes."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import GatewayFactory, Upstream, policy_text

CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
AUTH = {"Authorization": "Bearer demo-key", "Content-Type": "application/json"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("fault_headers", "status", "slug"),
    [
        ({"x-demo-fault": "slow", "x-demo-delay-ms": "4000"}, 504, "upstream-timeout"),  # read 2s
        ({"x-demo-fault": "reset"}, 502, "upstream-protocol-error"),  # connection dropped
        ({"x-demo-fault": "status-500"}, 500, None),  # an upstream 500 passes as it is
    ],
)
async def test_upstream_faults(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    fault_headers: dict[str, str],
    status: int,
    slug: str | None,
) -> None:
    gw = await make_gateway(policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db"))
    async with http.post(
        f"{gw.base}/v1/chat/completions", data=CHAT, headers={**AUTH, **fault_headers}
    ) as response:
        assert response.status == status
        body = await response.json(content_type=None)
    if slug is not None:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert body["type"] == f"urn:wardgate:problem:{slug}"
        assert body["request_id"] == response.headers["X-Request-Id"]
        assert body["error"]["code"] == slug  # the OpenAI SDK's error member
        assert "Traceback" not in str(body) and "aiohttp" not in str(body)


async def test_upstream_down_is_502(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gw = await make_gateway(
        policy_text(f'["http://127.0.0.1:{_closed_port()}"]', events_db=tmp_path / "e.db")
    )
    async with http.post(f"{gw.base}/v1/chat/completions", data=CHAT, headers=AUTH) as response:
        assert response.status == 502
        body = await response.json(content_type=None)
    assert body["type"] == "urn:wardgate:problem:upstream-unavailable"


async def test_a_failing_target_is_ejected_and_the_next_one_serves(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    targets = f'["http://127.0.0.1:{_closed_port()}", "{upstream.base}"]'
    gw = await make_gateway(policy_text(targets, events_db=tmp_path / "e.db"))
    for _ in range(6):
        async with http.post(f"{gw.base}/v1/chat/completions", data=CHAT, headers=AUTH) as r:
            assert r.status == 200
    assert upstream.recorder.total == 6


async def test_stream_cut_midway_ends_the_client_connection(
    gateway: object, http: aiohttp.ClientSession
) -> None:
    base = gateway.base  # type: ignore[attr-defined]
    body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "a b c d"}]}'
    headers = {**AUTH, "x-demo-fault": "close-midstream"}
    async with http.post(f"{base}/v1/chat/completions", data=body, headers=headers) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.parametrize(
    ("size", "chunked", "status"),
    [
        (1024, False, 200),  # under the limit, buffered
        (4096, False, 413),  # declared length over the limit: refused before reading
        (4096, True, 413),  # chunked, no declared length: cut off while streaming
    ],
)
async def test_body_limit(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    size: int,
    chunked: bool,
    status: int,
) -> None:
    routes = """
      - name: echo
        match: {path_prefix: /echo}
        upstream: up
        body_limit: 2048
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    payload = b"x" * size

    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, size, 512):
            yield payload[i : i + 512]

    data = chunks() if chunked else payload
    async with http.post(f"{gw.base}/echo", data=data) as response:
        assert response.status == status
        if status == 413:
            body = await response.json(content_type=None)
            assert body["type"] == "urn:wardgate:problem:body-too-large"
    if status == 413 and not chunked:
        assert upstream.recorder.total == 0


async def test_large_streamed_body_is_forwarded_intact(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gw = await make_gateway(policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db"))
    payload = bytes(range(256)) * 4096  # 1 MiB, over the small-body threshold
    async with http.post(f"{gw.base}/echo", data=payload) as response:
        assert response.status == 200
    assert upstream.recorder.last is not None
    assert upstream.recorder.last.body == payload


async def test_a_client_that_disconnects_is_recorded_quietly(
    gateway: object, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from wardgate.observe.query import EventQuery, query_events

    gw = gateway
    for _ in range(5):
        _reader, writer = await asyncio.open_connection("127.0.0.1", gw.process.port)  # type: ignore[attr-defined]
        writer.write(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nx-demo-fault: slow\r\nx-demo-delay-ms: 200\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()
    await asyncio.sleep(0.5)
    await gw.process.events.flush()  # type: ignore[attr-defined]
    events = query_events(gw.events_db, EventQuery())  # type: ignore[attr-defined]
    assert len(events) == 5
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
