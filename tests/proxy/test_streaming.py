"""SSE relay: event by event, checks per event, hold-back, and a provider-shaped cut."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.decision import Decision, Finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import BoundCheck, Mode, OnError, Pipeline, StreamEvent

HEADERS = {"Authorization": "Bearer demo-key", "Content-Type": "application/json"}


def _stream_request(text: str) -> bytes:
    return (
        b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "'
        + text.encode()
        + b'"}]}'
    )


@dataclasses.dataclass(frozen=True)
class ForbiddenWord:
    """A hand-written chunk check: blocks the stream when an event carries `word`."""

    word: str
    phases: frozenset[Phase] = frozenset({Phase.RESPONSE_CHUNK})

    async def check_chunk(self, ex: Exchange, event: StreamEvent) -> Decision:
        if self.word in event.data:
            return Decision.block(403, [Finding(kind="test.word", rule="test.word")])
        return Decision.allow()


async def _gateway_with_chunk_check(
    make_gateway: GatewayFactory, upstream_base: str, tmp_path: Path, holdback: int
) -> str:
    routes = f"""
      - name: chat
        match: {{path_prefix: /v1}}
        upstream: up
        provider: openai
        stream_holdback: {holdback}
    """
    gw = await make_gateway(
        policy_text(f'["{upstream_base}"]', routes, events_db=tmp_path / "e.db")
    )
    plan = gw.process.gateway.plan
    check = BoundCheck("forbidden-word", ForbiddenWord("SECRET"), Mode.ENFORCE, OnError.BLOCK, 1.0)
    route = dataclasses.replace(plan.routes[0], pipeline=Pipeline([check]))
    gw.process.gateway.install(dataclasses.replace(plan, routes=(route,)))
    return gw.base


@pytest.mark.parametrize(
    ("holdback", "leaked"),
    [
        (0, False),  # cut as soon as the event is seen: the event itself never passes
        (10_000, False),  # everything held until checked
    ],
)
async def test_a_chunk_check_ends_the_stream_with_a_provider_error(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    holdback: int,
    leaked: bool,
) -> None:
    base = await _gateway_with_chunk_check(make_gateway, upstream.base, tmp_path, holdback)
    body = _stream_request("one two SECRET three four")
    async with http.post(f"{base}/v1/chat/completions", data=body, headers=HEADERS) as response:
        assert response.status == 200
        text = (await response.read()).decode()
    assert ("SECRET" in text) is leaked
    assert '"code":"forbidden"' in text
    assert text.rstrip().endswith("data: [DONE]")
    assert "three" not in text


async def test_events_are_relayed_as_they_arrive(
    gateway: object, http: aiohttp.ClientSession
) -> None:
    base = gateway.base  # type: ignore[attr-defined]
    body = _stream_request("a b c d e")
    headers = {**HEADERS, "x-demo-chunk-delay-ms": "100"}
    arrivals: list[float] = []
    async with http.post(f"{base}/v1/chat/completions", data=body, headers=headers) as response:
        async for _ in response.content.iter_any():
            arrivals.append(time.perf_counter())
    # Events ~100 ms apart upstream must stay apart: nothing is batched or held back.
    assert len(arrivals) >= 5
    assert arrivals[-1] - arrivals[0] > 0.4


async def test_an_unterminated_last_event_is_still_checked(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    from aiohttp import web

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: fine\n\ndata: SECRET")  # no blank line after the last
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        base = await _gateway_with_chunk_check(
            make_gateway, f"http://127.0.0.1:{port}", tmp_path, 0
        )
        body = b'{"model": "m", "messages": [], "stream": true}'
        async with http.post(f"{base}/v1/chat/completions", data=body, headers=HEADERS) as r:
            text = (await r.read()).decode()
    finally:
        await runner.cleanup()
    assert "data: fine" in text
    assert "SECRET" not in text
    assert '"code":"forbidden"' in text
