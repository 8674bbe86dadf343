"""HTTPS on the data plane, and client certificates mapped to identities (east-west mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from tests.certs import ScratchCA
from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text
from wardgate.observe.query import EventQuery, query_events


def _client_context(
    ca: ScratchCA, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert))
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def pki(tmp_path: Path) -> ScratchCA:
    return ScratchCA(tmp_path)


async def _tls_gateway(
    make_gateway: GatewayFactory, upstream: Upstream, tmp_path: Path, pki: ScratchCA, required: bool
) -> tuple[Gateway, str]:
    server = pki.issue("localhost", dns=("localhost",), ips=("127.0.0.1",))
    mode = "required" if required else "optional"
    routes = """
      - name: internal
        match: {path_prefix: /}
        upstream: up
        checks:
          - type: mtls
            identities:
              - {match_san_uri: "spiffe://corp/billing", consumer: billing, group: services}
    """
    extra = f"""
server:
  tls: {{cert: "{server.cert}", key: "{server.key}", client_ca: "{pki.cert}",
         client_certificates: {mode}}}
"""
    text = policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db", extra=extra)
    gateway = await make_gateway(text)
    return gateway, f"https://127.0.0.1:{gateway.process.port}"


async def test_client_certificates_become_identities(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, pki: ScratchCA
) -> None:
    gateway, base = await _tls_gateway(make_gateway, upstream, tmp_path, pki, required=False)
    billing = pki.issue("billing", uris=("spiffe://corp/billing",), client=True)
    stranger = pki.issue("stranger", uris=("spiffe://corp/other",), client=True)
    outcomes = {}
    for name, context in (
        ("billing", _client_context(pki, billing.cert, billing.key)),
        ("stranger", _client_context(pki, stranger.cert, stranger.key)),
        ("none", _client_context(pki)),
    ):
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http,
            http.get(f"{base}/echo/who") as response,
        ):
            outcomes[name] = response.status
            if name == "none":
                assert "WWW-Authenticate" in response.headers
    assert outcomes == {"billing": 200, "stranger": 403, "none": 401}
    echoed = upstream.recorder.requests[-1]
    assert echoed.header("x-forwarded-proto") == "https"
    await gateway.flush_events()
    events = query_events(tmp_path / "e.db", EventQuery(consumer="billing"))
    assert len(events) == 1 and events[0]["status"] == 200


async def test_required_client_certificates_are_enforced_in_the_handshake(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, pki: ScratchCA
) -> None:
    _, base = await _tls_gateway(make_gateway, upstream, tmp_path, pki, required=True)
    (tmp_path / "other").mkdir()
    other_ca = ScratchCA(tmp_path / "other")
    forged = other_ca.issue("billing-forged", uris=("spiffe://corp/billing",), client=True)
    for context in (_client_context(pki), _client_context(pki, forged.cert, forged.key)):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"{base}/echo/who") as response:
                    await response.read()
