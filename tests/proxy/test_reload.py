"""Hot reload: swap the whole plan under load without losing a request; keep the last good one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.observe.metrics import METRICS

CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
HEADERS = {"Authorization": "Bearer demo-key", "Content-Type": "application/json"}


def _policy(upstream: Upstream, events_db: Path, user_agent_denied: str) -> str:
    routes = f"""
      - name: chat
        match: {{path_prefix: /v1}}
        upstream: up
        provider: openai
        checks:
          - type: access
            deny_headers: [{{name: user-agent, matches: "{user_agent_denied}"}}]
    """
    return policy_text(f'["{upstream.base}"]', routes, events_db=events_db)


async def test_reload_under_load_loses_no_request(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    events_db = tmp_path / "e.db"
    path.write_text(_policy(upstream, events_db, "blocked-a"))
    gw = await make_gateway(path.read_text(), policy_path=path)
    watcher = gw.process.watcher
    assert watcher is not None
    statuses: list[int] = []
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            async with http.post(f"{gw.base}/v1/chat/completions", data=CHAT, headers=HEADERS) as r:
                await r.read()
                statuses.append(r.status)

    clients = [asyncio.create_task(client()) for _ in range(8)]
    reloads_before = METRICS.reloads
    for generation in range(10):
        path.write_text(_policy(upstream, events_db, f"blocked-{generation}"))
        assert await watcher.reload()
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*clients)
    assert METRICS.reloads - reloads_before == 10
    assert statuses and set(statuses) == {200}
    await gw.process.events.flush()
    from wardgate.observe.query import EventQuery, query_events

    events = query_events(events_db, EventQuery(limit=100_000))
    assert len(events) == len(statuses) == upstream.recorder.total


async def test_an_invalid_policy_keeps_the_last_good_plan(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    caplog: object,
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(_policy(upstream, tmp_path / "e.db", "sqlmap"))
    gw = await make_gateway(path.read_text(), policy_path=path)
    assert gw.process.watcher is not None
    plan = gw.process.gateway.plan
    path.write_text("version: 1\nroutes: []\n")
    assert not await gw.process.watcher.reload()
    assert gw.process.gateway.plan is plan
    assert "policy.yaml:2: routes" in caplog.text  # type: ignore[attr-defined]
    headers = {**HEADERS, "User-Agent": "sqlmap"}
    async with http.post(f"{gw.base}/v1/chat/completions", data=CHAT, headers=headers) as r:
        assert r.status == 403  # the old policy still enforces


async def test_file_change_is_picked_up_without_a_signal(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(_policy(upstream, tmp_path / "e.db", "nothing-matches-this"))
    gw = await make_gateway(path.read_text(), policy_path=path)
    path.write_text(_policy(upstream, tmp_path / "e.db", "aiohttp"))  # the client UA
    for _ in range(50):
        await asyncio.sleep(0.1)
        async with http.post(f"{gw.base}/v1/chat/completions", data=CHAT, headers=HEADERS) as r:
            if r.status == 403:
                return
    raise AssertionError("the changed policy file was not reloaded")
