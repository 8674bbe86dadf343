"""`access`: config contract first, then behaviour over real requests."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.checks.access import AccessCheck, Config
from wardgate.decision import Action
from wardgate.exchange import Exchange, Identity


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"allow_networks": ["10.0.0.0/8", "::1"]}, None),  # CIDR and bare addresses
        ({"deny_headers": [{"name": "user-agent", "matches": "(?i)bot"}]}, None),
        ({"allow_networks": ["not-a-network"]}, "value is not a valid IPv4 or IPv6 network"),
        ({"deny_headers": [{"name": "x", "matches": "(("}]}, "invalid regular expression"),
        ({"deny_headers": [{"name": ""}]}, "at least 1 character"),
        ({"status": 200}, "greater than or equal to 400"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


def _exchange(client_ip: str, headers: dict[str, str] | None = None) -> Exchange:
    return Exchange(
        request_id="r",
        method="GET",
        path="/",
        query_string="",
        headers=CIMultiDict(headers or {}),
        client_ip=client_ip,
    )


@pytest.mark.parametrize(
    ("config", "client_ip", "headers", "kind"),
    [
        ({"deny_networks": ["10.0.0.0/8"]}, "10.1.2.3", {}, "access.ip_denied"),
        ({"deny_networks": ["10.0.0.0/8"]}, "192.0.2.1", {}, None),
        ({"allow_networks": ["192.0.2.0/24"]}, "198.51.100.7", {}, "access.ip_not_allowed"),
        ({"allow_networks": ["192.0.2.0/24"]}, "192.0.2.7", {}, None),
        ({"allow_networks": ["::1/128"]}, "::1", {}, None),  # IPv6
        ({"allow_networks": ["192.0.2.0/24"]}, "garbage", {}, "access.ip_unknown"),
        (
            {"deny_headers": [{"name": "User-Agent", "matches": "sqlmap"}]},
            "1.1.1.1",
            {"user-agent": "sqlmap/1"},
            "access.header_denied",
        ),
        (
            {"deny_headers": [{"name": "x-debug"}]},
            "1.1.1.1",
            {"x-debug": "1"},
            "access.header_denied",
        ),  # presence
        (
            {"require_headers": [{"name": "x-tenant", "matches": "^[a-z]+$"}]},
            "1.1.1.1",
            {"x-tenant": "ACME"},
            "access.header_missing",
        ),
        ({"require_headers": [{"name": "x-tenant"}]}, "1.1.1.1", {"x-tenant": "acme"}, None),
    ],
)
async def test_decisions(
    config: dict[str, object], client_ip: str, headers: dict[str, str], kind: str | None
) -> None:
    check = AccessCheck(Config.model_validate(config))
    decision = await check.check_request(_exchange(client_ip, headers))
    if kind is None:
        assert decision.action is Action.ALLOW
    else:
        assert decision.action is Action.BLOCK and decision.status == 403
        assert decision.findings[0].kind == kind


async def test_denied_requests_never_reach_the_upstream(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    routes = """
      - name: api
        upstream: up
        checks:
          - type: access
            allow_networks: [192.0.2.0/24]
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    async with http.get(f"{gw.base}/echo") as response:
        assert response.status == 403
        assert response.content_type == "application/problem+json"
    assert upstream.recorder.total == 0


async def test_only_listed_consumers_and_groups_may_use_a_route() -> None:
    check = AccessCheck(Config(allow_consumers=["billing"], allow_groups=["ops"]))

    async def status(identity: Identity | None) -> int | None:
        ex = Exchange("r", "GET", "/", "", CIMultiDict(), "10.0.0.1")
        ex.identity = identity
        return (await check.check_request(ex)).status

    assert await status(Identity("billing")) is None
    assert await status(Identity("someone", group="ops")) is None
    assert await status(Identity("someone", group="dev")) == 403
    assert await status(None) == 403
