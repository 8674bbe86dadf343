"""`request_limits`: config contract first, then behaviour over real requests."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.checks.request_limits import Config


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"max_body_bytes": 0, "content_types": ["application/json"]}, None),
        ({"max_body_bytes": -5}, "greater than or equal to 0"),
        ({"max_url_bytes": 0}, "greater than or equal to 1"),
        ({"mode": "block"}, "Input should be 'off', 'monitor' or 'enforce'"),
        ({"timeout": 0}, "greater than 0"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


ROUTES = """
  - name: api
    upstream: up
    checks:
      - type: request_limits
        {mode}
        max_body_bytes: 100
        max_url_bytes: 50
        content_types: [application/json]
"""


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/echo", b"{}", "application/json", 200),
        ("POST", "/echo", b"{}", "application/json; charset=utf-8", 200),  # parameters ignored
        ("POST", "/echo", b"a=b", "application/x-www-form-urlencoded", 400),
        ("POST", "/echo", b"x" * 200, "application/json", 413),
        ("GET", "/echo?" + "q" * 60, None, None, 400),  # URL too long
        ("GET", "/echo", None, None, 200),  # no body: content type not required
    ],
)
@pytest.mark.parametrize("mode", ["enforce", "monitor"])
async def test_limits(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    method: str,
    path: str,
    body: bytes | None,
    content_type: str | None,
    status: int,
    mode: str,
) -> None:
    routes = ROUTES.replace("{mode}", f"mode: {mode}")
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    headers = {"Content-Type": content_type} if content_type else {}
    async with http.request(method, f"{gw.base}{path}", data=body, headers=headers) as response:
        expected = status if mode == "enforce" else 200  # monitor never blocks
        assert response.status == expected
    await gw.process.events.flush()
    from wardgate.observe.query import EventQuery, query_events

    (event,) = query_events(tmp_path / "e.db", EventQuery())
    assert event["would_block"] is (mode == "monitor" and status != 200)
