"""Routes whose checks read bodies: bounded reads, plain-text bodies, refused encodings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.decision import Decision
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.pipeline import BoundCheck, Mode, OnError, Pipeline


@dataclasses.dataclass(frozen=True)
class ReadsBodies:
    """A hand-written check that needs both bodies (and allows everything)."""

    phases: frozenset[Phase] = frozenset({Phase.REQUEST_BODY, Phase.RESPONSE_BODY})

    async def check_request(self, ex: Exchange) -> Decision:
        return Decision.allow()

    async def check_response(self, ex: Exchange) -> Decision:
        return Decision.allow()


async def _inspecting_gateway(
    make_gateway: GatewayFactory, upstream: Upstream, tmp_path: Path
) -> str:
    routes = """
      - name: api
        upstream: up
        response_limit: 4096
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    plan = gw.process.gateway.plan
    check = BoundCheck("reads-bodies", ReadsBodies(), Mode.ENFORCE, OnError.BLOCK, 1.0)
    route = dataclasses.replace(plan.routes[0], pipeline=Pipeline([check]))
    gw.process.gateway.install(dataclasses.replace(plan, routes=(route,)))
    return gw.base


async def test_a_response_over_the_limit_is_a_502(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = await _inspecting_gateway(make_gateway, upstream, tmp_path)
    async with http.post(f"{base}/echo", data=b"x" * 100) as small:
        assert small.status == 200
    async with http.post(f"{base}/echo", data=b"x" * 8000) as large:  # echoed back: > 4096
        assert large.status == 502
        assert (await large.json(content_type=None))["type"].endswith("upstream-protocol-error")


async def test_inspected_responses_are_requested_uncompressed(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = await _inspecting_gateway(make_gateway, upstream, tmp_path)
    async with http.get(f"{base}/echo", headers={"Accept-Encoding": "gzip, br"}) as response:
        assert response.status == 200
    assert upstream.recorder.last is not None
    assert upstream.recorder.last.header("accept-encoding") == "identity"


async def test_an_encoded_request_body_is_refused_where_bodies_are_checked(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = await _inspecting_gateway(make_gateway, upstream, tmp_path)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with http.post(f"{base}/echo", data=b"\x1f\x8b...", headers=headers) as response:
        assert response.status == 400
    assert upstream.recorder.total == 0
