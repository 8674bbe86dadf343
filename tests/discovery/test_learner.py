"""Learning from live traffic: a real gateway, the demo upstream, a SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.discovery.commands import load_store
from wardgate.discovery.learner import TrafficLearner
from wardgate.exchange import Exchange
from wardgate.policy.model import DiscoverySettings

ROUTES = """
  - name: api
    match: {path_prefix: /echo}
    upstream: up
    checks:
      - type: request_limits
"""


def _policy(upstream: Upstream, tmp_path: Path, discovery: str) -> str:
    return policy_text(f'["{upstream.base}"]', ROUTES, events_db=tmp_path / "e", extra=discovery)


def _learning(upstream: Upstream, tmp_path: Path, store: Path, settings: str = "") -> str:
    """The policy with discovery learning into `store` (and any further `settings`)."""
    return _policy(
        upstream, tmp_path, f'discovery: {{enabled: true, store: "{store}"{settings}}}\n'
    )


async def test_live_traffic_becomes_templated_endpoints_in_the_store(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store = tmp_path / "inventory.db"
    gw = await make_gateway(_learning(upstream, tmp_path, store))
    async with aiohttp.ClientSession() as http:
        for number in (17, 23, 4711, 90210):
            async with http.get(f"{gw.base}/echo/orders/{number}?expand=items") as reply:
                assert reply.status == 200
        async with http.post(f"{gw.base}/echo/orders", json={"sku": "A-1"}) as reply:
            assert reply.status == 200
        async with http.get(f"{gw.base}/nowhere/{7}") as reply:
            assert reply.status == 404  # no route: still seen, a probe
    learner = gw.process.learner
    assert learner is not None
    await learner.close()
    assert learner.learned == 6
    endpoints = {(e.method, e.template): e for e in load_store(str(store)).endpoints()}
    assert set(endpoints) == {("GET", "/echo/orders/{orderId}"), ("POST", "/echo/orders")}
    orders = endpoints[("GET", "/echo/orders/{orderId}")]
    assert orders.count == 4 and orders.statuses == {200: 4} and "expand" in orders.query


async def test_sampling_and_the_bounded_queue_skip_rather_than_wait(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store = tmp_path / "inventory.db"
    gw = await make_gateway(
        _learning(upstream, tmp_path, store, ", queue_size: 1, cpu_budget: 0.001")
    )
    learner = gw.process.learner
    assert learner is not None
    async with aiohttp.ClientSession() as http:
        for number in range(20):
            async with http.get(f"{gw.base}/echo/items/{number}") as reply:
                assert reply.status == 200
    assert learner.skipped > 0  # the queue holds one call; the rest are skipped, not awaited
    await learner.close()
    assert learner.learned + learner.skipped == 20


async def test_discovery_is_off_by_default(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await make_gateway(_policy(upstream, tmp_path, ""))
    assert gw.process.learner is None


async def test_a_learned_inventory_is_enforced_by_the_schema_check(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store = tmp_path / "inventory.db"
    learning = """
      - name: api
        match: {path_prefix: /echo}
        upstream: up
        checks:
          - type: attacks
    """
    gw = await make_gateway(
        policy_text(
            f'["{upstream.base}"]',
            learning,
            events_db=tmp_path / "e",
            extra=f'discovery: {{enabled: true, store: "{store}"}}\n',
        )
    )
    async with aiohttp.ClientSession() as http:
        for number in (3, 17, 4711):
            async with http.get(f"{gw.base}/echo/orders/{number}") as reply:
                assert reply.status == 200
            order = {"sku": f"A-{number}", "qty": number % 5 + 1}
            async with http.post(f"{gw.base}/echo/orders", json=order) as reply:
                assert reply.status == 200
    assert gw.process.learner is not None
    await gw.process.learner.close()

    enforcing = f"""
      - name: api
        match: {{path_prefix: /echo}}
        upstream: up
        checks:
          - {{type: schema, learned: "{store}"}}
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', enforcing, events_db=tmp_path / "e2")
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.base}/echo/orders/90210") as reply:
            assert reply.status == 200
        async with http.post(f"{gw.base}/echo/orders", json={"sku": "B-1", "qty": 2}) as reply:
            assert reply.status == 200
        async with http.get(f"{gw.base}/echo/admin/users") as reply:
            assert reply.status == 404  # never seen: not part of the API
        mass = {"sku": "B-1", "qty": 2, "price": 0}
        async with http.post(f"{gw.base}/echo/orders", json=mass) as reply:
            assert reply.status == 400  # a field the clients never sent
        async with http.post(f"{gw.base}/echo/orders", json={"sku": "B-1", "qty": "2"}) as reply:
            assert reply.status == 400  # a type they never sent


async def test_fields_learned_as_sensitive_are_masked_in_responses(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store = tmp_path / "inventory.db"
    routes = """
      - name: accounts
        match: {path_prefix: /accounts}
        upstream: up
        checks:
          - {type: sensitive}
    """
    gw = await make_gateway(
        policy_text(
            f'["{upstream.base}"]',
            routes,
            events_db=tmp_path / "e",
            extra=f'discovery: {{enabled: true, store: "{store}"}}\n',
        )
    )
    async with aiohttp.ClientSession() as http:
        for number in (1, 2, 3):
            async with http.get(f"{gw.base}/accounts/{number}") as reply:
                assert (await reply.json())["email"] == "ann@example.org"
    assert gw.process.learner is not None
    await gw.process.learner.close()

    protected = f"""
      - name: accounts
        match: {{path_prefix: /accounts}}
        upstream: up
        checks:
          - {{type: sensitive, learned_fields: "{store}"}}
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', protected, events_db=tmp_path / "e2")
    )
    async with aiohttp.ClientSession() as http, http.get(f"{gw.base}/accounts/9") as reply:
        account = await reply.json()
    assert account["email"] == "<REDACTED>"
    assert account["card_number"] == "<REDACTED>"
    assert account["plan"]["card_number"] == "<REDACTED>"
    # "Ann Example" reads as a person's name, so `name` was learned as personal data too;
    # the tier, a plain word, was not.
    assert account["name"] == "<REDACTED>" and account["plan"]["tier"] == "pro"


async def test_the_store_is_opened_when_learning_starts(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store = tmp_path / "inventory.db"
    gw = await make_gateway(_learning(upstream, tmp_path, store))
    for _ in range(200):  # opened in a worker thread as the learner starts, not at a flush
        if store.exists():
            break
        await asyncio.sleep(0.01)
    assert store.exists()
    assert gw.process.learner is not None
    await gw.process.learner.close()


async def test_a_store_that_cannot_be_opened_does_not_stop_traffic(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = blocker / "inventory.db"
    gw = await make_gateway(_learning(upstream, tmp_path, store))
    async with aiohttp.ClientSession() as http, http.get(f"{gw.base}/echo/a/1") as reply:
        assert reply.status == 200
    learner = gw.process.learner
    assert learner is not None
    await learner.close()  # learns what is queued; the write fails and is logged
    assert learner.learned == 1
    assert "could not open the inventory store" in caplog.text


async def test_learning_keeps_to_its_cpu_budget_and_drains_the_queue_in_slices(
    tmp_path: Path,
) -> None:
    settings = DiscoverySettings(enabled=True, cpu_budget=0.001, queue_size=500)
    learner = TrafficLearner(settings, str(tmp_path / "inventory.db"))
    for number in range(500):
        learner.observe(Exchange(f"r{number}", "GET", f"/items/{number}", "", {}, "127.0.0.1"))
    learner.start()
    await asyncio.sleep(0.3)
    # One slice is at most a millisecond of learning, then a second's sleep at 0.1 %:
    # far from all 500 calls have been learned yet.
    assert 0 < learner.learned < 500
    await learner.close()  # learns the rest before stopping
    assert learner.learned == 500
