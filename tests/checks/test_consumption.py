"""Consumption control end to end: the openai SDK against a real gateway and upstream.

Budgets must hold exactly under concurrency, with the memory store and with Redis, and
across two gateway processes sharing Redis.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai import AsyncOpenAI

from tests.conftest import Gateway, GatewayFactory, Serve, Upstream, policy_text, wait_ready
from tests.services import REDIS_HOST, REDIS_PORT, TcpRelay, redis_url, unique_prefix
from wardgate.checks.api_key import hash_key
from wardgate.checks.reservations import estimated_usage
from wardgate.observe.query import EventQuery, query_events
from wardgate.providers.openai import OpenAIAdapter

PROMPT = [{"role": "user", "content": "Tell me about rate limits."}]


def _reservation(max_tokens: int) -> int:
    """What one test call reserves: the gateway's own estimate plus its output allowance."""
    body = orjson.dumps({"model": "demo-chat", "messages": PROMPT, "max_tokens": max_tokens})
    call = OpenAIAdapter().parse_request("/v1/chat/completions", body)
    assert call is not None
    return estimated_usage(call, 1024).total_tokens


def _route(checks: str) -> str:
    return f"""
      - name: chat
        match: {{path_prefix: /v1}}
        upstream: up
        provider: openai
        checks:
{textwrap.indent(textwrap.dedent(checks), " " * 10)}
    """


def _stores(kind: str, prefix: str = "") -> str:
    if kind == "memory":
        return ""
    return f"""
stores:
  counters: {{type: redis, url: "{redis_url()}", prefix: "{prefix or unique_prefix()}"}}
"""


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    clients: list[AsyncOpenAI] = []

    def make(gateway: Gateway | str, **headers: str) -> AsyncOpenAI:
        base = gateway if isinstance(gateway, str) else gateway.base
        client = AsyncOpenAI(
            base_url=f"{base}/v1", api_key="demo-key", max_retries=0, default_headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def _gateway(
    make_gateway: GatewayFactory, upstream: Upstream, tmp_path: Path, checks: str, extra: str = ""
) -> Gateway:
    text = policy_text(
        f'["{upstream.base}"]', _route(checks), events_db=tmp_path / "events.sqlite3", extra=extra
    )
    return await make_gateway(text)


async def test_over_the_token_budget_is_429_with_rate_limit_headers(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, client_for: Any
) -> None:
    per_call = _reservation(50)
    checks = f"""
        - type: api_key
          keys: [{{consumer: team-a, sha256: "{hash_key("demo-key")}"}}]
        - {{type: token_limit, name: hourly, tokens: {per_call * 2}, per: 1h}}
    """
    gateway = await _gateway(make_gateway, upstream, tmp_path, checks)
    client = client_for(gateway)
    # Each call reserves its worst case; the first two fit, and settle at what they used.
    for _ in range(2):
        await client.chat.completions.create(model="demo-chat", messages=PROMPT, max_tokens=50)
    big = per_call * 2  # more than what is left after the two settled calls
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="demo-chat", messages=PROMPT, max_tokens=big)
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["ratelimit-policy"] == f'"hourly";q={per_call * 2};w=3600'
    assert headers["ratelimit"].startswith('"hourly";r=')
    assert caught.value.body["code"] == "too-many-requests"  # type: ignore[index]
    assert len(upstream.recorder.requests) == 2  # refused before the upstream was called
    await gateway.flush_events()
    refused = query_events(gateway.events_db, EventQuery(status=429))
    assert refused[0]["consumer"] == "team-a"
    assert refused[0]["decisions"][0]["findings"][0]["kind"] == "limit.tokens"


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_fifty_concurrent_calls_against_a_budget_for_ten(
    store: str, upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, client_for: Any
) -> None:
    limit = _reservation(100) * 10
    gateway = await _gateway(
        make_gateway,
        upstream,
        tmp_path,
        f"- {{type: token_limit, tokens: {limit}, per: 1h}}",
        _stores(store),
    )
    # Slow answers: every reservation is made before any call settles.
    client = client_for(gateway, **{"x-demo-fault": "slow", "x-demo-delay-ms": "500"})

    async def call() -> bool:
        try:
            await client.chat.completions.create(model="demo-chat", messages=PROMPT, max_tokens=100)
        except openai.RateLimitError:
            return False
        return True

    results = await asyncio.gather(*(call() for _ in range(50)))
    assert sum(results) == 10
    assert len(upstream.recorder.requests) == 10


async def test_two_gateways_sharing_redis_hold_a_global_limit(
    upstream: Upstream, serve: Serve, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    text = policy_text(
        f'["{upstream.base}"]',
        _route("- {type: rate_limit, name: global, requests: 200, per: 1h}"),
        events_db=tmp_path / "events.sqlite3",
        extra=_stores("redis", prefix),
    )
    (base_a, proc_a), (base_b, proc_b) = serve(text), serve(text)
    await wait_ready(base_a, proc_a)
    await wait_ready(base_b, proc_b)
    body = {"model": "demo-chat", "messages": PROMPT}
    statuses: list[int] = []
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def call(base: str) -> None:
            async with http.post(
                f"{base}/v1/chat/completions",
                json=body,
                headers={"Authorization": "Bearer demo-key"},
            ) as response:
                statuses.append(response.status)

        await asyncio.gather(*(call(base_a if i % 2 else base_b) for i in range(600)))
    allowed = statuses.count(200)
    assert statuses.count(429) == 600 - allowed
    assert abs(allowed - 200) <= 2  # within 1 %


async def test_streamed_usage_is_asked_for_stripped_and_reconciled(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, client_for: Any
) -> None:
    gateway = await _gateway(
        make_gateway, upstream, tmp_path, "- {type: token_limit, tokens: 100000, per: 1h}"
    )
    client = client_for(gateway)
    stream = await client.chat.completions.create(
        model="demo-chat", messages=PROMPT, stream=True, max_tokens=64
    )
    chunks = [chunk async for chunk in stream]
    assert chunks and all(chunk.choices for chunk in chunks)  # no usage-only chunk leaked
    forwarded = orjson.loads(upstream.recorder.requests[-1].body)
    assert forwarded["stream_options"] == {"include_usage": True}
    # A client that asks for usage gets it.
    stream = await client.chat.completions.create(
        model="demo-chat",
        messages=PROMPT,
        stream=True,
        stream_options={"include_usage": True},
    )
    last = [chunk async for chunk in stream][-1]
    assert last.usage is not None and not last.choices
    await gateway.flush_events()
    events = query_events(gateway.events_db, EventQuery(route="chat"))
    assert len(events) == 2
    for event in events:
        assert event["model"] == "demo-chat"
        assert event["input_tokens"] == last.usage.prompt_tokens
        assert event["output_tokens"] == last.usage.completion_tokens


@pytest.mark.parametrize(("on_error", "down_status"), [("allow", 200), ("block", 503)])
async def test_redis_down_follows_on_error_and_recovers(
    on_error: str,
    down_status: int,
    upstream: Upstream,
    make_gateway: GatewayFactory,
    tmp_path: Path,
) -> None:
    redis_url()
    relay = TcpRelay(REDIS_HOST, REDIS_PORT)
    await relay.start()
    try:
        stores = f"""
stores:
  counters: {{type: redis, url: "{relay.url}", prefix: "{unique_prefix()}", timeout: 0.2}}
"""
        gateway = await _gateway(
            make_gateway,
            upstream,
            tmp_path,
            f"- {{type: rate_limit, requests: 3, per: 1h, on_error: {on_error}}}",
            stores,
        )
        url = f"{gateway.base}/v1/chat/completions"
        headers = {"Authorization": "Bearer demo-key"}
        body = {"model": "demo-chat", "messages": PROMPT}
        async with aiohttp.ClientSession() as http:

            async def status() -> int:
                async with http.post(url, json=body, headers=headers) as response:
                    return response.status

            assert [await status() for _ in range(2)] == [200, 200]
            await relay.stop()
            assert [await status() for _ in range(3)] == [down_status] * 3
            await relay.start()
            await asyncio.sleep(1.2)  # the store's cool-down passes; it reconnects by itself
            assert await status() == 200  # the third request of the limit
            assert await status() == 429  # and the limit holds again
    finally:
        await relay.stop()
