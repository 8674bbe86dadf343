"""What the upstream receives: hop-by-hop headers gone, forwarding and tracing headers set."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


async def _echo(http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> dict[str, Any]:
    async with http.get(f"{base}/echo-headers?x=1", headers=headers) as response:
        assert response.status == 200
        data: dict[str, Any] = await response.json()
        data["response_headers"] = response.headers
    data["sent"] = {k.lower(): v for k, v in data["headers"]}
    return data


async def test_hop_by_hop_headers_are_dropped(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    echoed = await _echo(
        http,
        gateway.base,
        {
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "must not pass",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "TE": "trailers",
            "X-Real-IP": "6.6.6.6",  # a forgeable client-address claim
            "X-Kept": "yes",
        },
    )
    sent = echoed["sent"]
    for name in ("connection", "x-secret-hop", "proxy-authorization", "te", "x-real-ip"):
        assert name not in sent, name
    assert sent["x-kept"] == "yes"
    assert echoed["query_string"] == "x=1"


async def test_forwarding_headers_from_an_untrusted_client(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    echoed = await _echo(
        http,
        gateway.base,
        {"X-Forwarded-For": "6.6.6.6", "X-Request-Id": "spoofed", "X-Forwarded-Proto": "https"},
    )
    sent = echoed["sent"]
    assert sent["x-forwarded-for"] == "127.0.0.1"  # the client's claim is not believed
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-request-id"] != "spoofed"
    assert TRACEPARENT.match(sent["traceparent"])
    assert echoed["response_headers"]["X-Request-Id"] == sent["x-request-id"]


async def test_forwarding_headers_from_a_trusted_proxy(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    extra = """
    server:
      trusted_proxies: [127.0.0.0/8, 10.0.0.0/8]
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db", extra=extra)
    )
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    echoed = await _echo(
        http,
        gw.base,
        {
            "X-Forwarded-For": "203.0.113.9, 10.1.1.1",
            "X-Forwarded-Proto": "https",
            "X-Request-Id": "req-123",
            "traceparent": trace,
        },
    )
    sent = echoed["sent"]
    assert sent["x-forwarded-for"] == "203.0.113.9, 10.1.1.1, 127.0.0.1"
    assert sent["x-forwarded-proto"] == "https"
    assert sent["x-request-id"] == "req-123"
    # Same trace, our own span.
    assert sent["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert sent["traceparent"] != trace
    await gw.process.events.flush()
    from wardgate.observe.query import EventQuery, query_events

    (event,) = query_events(tmp_path / "e.db", EventQuery(request_id="req-123"))
    assert event["client_ip"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("path", "routed"),
    [
        ("/v1/chat/completions", True),  # under the prefix
        ("/v1", True),  # the prefix itself
        ("/v10/chat", False),  # prefix matched on segment boundaries only
        ("/other", False),
    ],
)
async def test_routing_by_prefix(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    path: str,
    routed: bool,
) -> None:
    routes = """
      - name: v1
        match: {path_prefix: /v1, methods: [GET]}
        upstream: up
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    async with http.get(f"{gw.base}{path}") as response:
        if routed:
            assert response.status != 404 or response.content_type != "application/problem+json"
        else:
            assert response.status == 404
            assert (await response.json(content_type=None))["type"].endswith("no-route")


@pytest.mark.parametrize(
    ("raw_path", "status", "forwarded"),
    [
        ("/echo/%2e%2e/admin", 403, None),  # routed as /admin: the admin route denies it
        ("/echo/../echo/chat", 200, "/echo/chat"),  # routed and forwarded as the same path
        ("/echo/%61bc?q=%2e%2e", 200, "/echo/abc"),
        ("/echo/bad%zz", 400, None),
    ],
)
async def test_routes_and_forwards_the_normalized_path(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    tmp_path: Path,
    raw_path: str,
    status: int,
    forwarded: str | None,
) -> None:
    routes = """
      - name: admin
        match: {path_prefix: /admin}
        upstream: up
        checks: [{type: access, allow_networks: [192.0.2.0/24]}]
      - name: api
        match: {path_prefix: /echo}
        upstream: up
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.process.port)
    writer.write(f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    assert answer.split(b" ")[1] == str(status).encode()
    if forwarded is not None:
        assert upstream.recorder.last is not None
        assert upstream.recorder.last.path == forwarded


async def test_head_answers_keep_the_upstream_length(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    async with http.head(f"{gateway.base}/echo/sized") as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 0  # the GET body's length
        assert await response.read() == b""
