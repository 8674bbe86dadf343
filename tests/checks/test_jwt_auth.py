"""`jwt`: config contract first, then real tokens signed with real keys, a JWKS file that
rotates, and a JWKS URL served by a real HTTP server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from multidict import CIMultiDict
from pydantic import ValidationError

from wardgate.checks.jwt_auth import Config, JwtCheck
from wardgate.decision import Action, Decision
from wardgate.errors import PolicyError
from wardgate.exchange import Exchange, Identity

ISSUER = "https://idp.example.org"
AUDIENCE = "api://wardgate"

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@cache
def _rsa(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _ec(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Key, kid: str | None, **extra: str) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def _jwks(*jwks: dict[str, Any]) -> str:
    return json.dumps({"keys": list(jwks)})


def _publish(path: Path, *jwks: dict[str, Any]) -> None:
    path.write_text(_jwks(*jwks))


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "grp": "gold",
        "tenant": "acme",
        "roles": ["reader", "writer"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: Key, kid: str | None = "rsa1", alg: str = "RS256", **changes: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(_claims(**changes), key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any]) -> str:
    """`alg: none`: header and claims, and an empty signature."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."


def _hs256_with_public_key() -> str:
    """The classic confusion: HMAC-sign with the RSA public key (PEM) as the secret."""
    pem = (
        _rsa("a")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _tampered() -> str:
    header, _, signature = _sign(_rsa("a")).split(".")
    payload = _b64(json.dumps(_claims(sub="admin")).encode())
    return f"{header}.{payload}.{signature}"


@dataclass
class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _exchange(headers: list[tuple[str, str]] | None = None) -> Exchange:
    return Exchange(
        request_id="r",
        method="POST",
        path="/v1/chat/completions",
        query_string="",
        headers=CIMultiDict(headers or []),
        client_ip="192.0.2.1",
    )


def _bearer(token: str) -> Exchange:
    return _exchange([("Authorization", f"Bearer {token}")])


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    _publish(path, _jwk(_rsa("a"), "rsa1"), _jwk(_ec("a"), "ec1"))
    return path


def _check(jwks_file: Path, clock: FakeClock | None = None, **extra: Any) -> JwtCheck:
    config = Config.model_validate(
        {"jwks_file": str(jwks_file), "issuer": ISSUER, "audience": AUDIENCE, **extra}
    )
    return JwtCheck(config, clock=clock or FakeClock())


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"jwks_file": "/etc/jwks.json"}, None),
        ({"jwks_url": "https://idp.example.org/.well-known/jwks.json"}, None),
        ({"jwks_url": "http://127.0.0.1:8080/jwks"}, None),  # loopback may be plain http
        ({"jwks_url": "http://[::1]/jwks"}, None),
        ({}, "set exactly one of jwks_file and jwks_url"),
        ({"jwks_file": "a", "jwks_url": "https://x/"}, "set exactly one of jwks_file and jwks_url"),
        ({"jwks_url": "http://idp.example.org/jwks"}, "jwks_url must use https"),
        ({"jwks_url": "file:///etc/jwks.json"}, "must be an http\\(s\\) URL"),
        ({"jwks_file": "a", "algorithms": ["none"]}, "alg 'none' is never accepted"),
        ({"jwks_file": "a", "algorithms": ["RS256", "HS256"]}, "HS256 is a shared-secret"),
        ({"jwks_file": "a", "algorithms": ["XS999"]}, "unsupported algorithm 'XS999'"),
        ({"jwks_file": "a", "algorithms": []}, "at least 1 item"),
        ({"jwks_file": "a", "jwks_refresh_seconds": 0}, "greater than or equal to 1"),
        ({"jwks_file": "a", "audience": ["a", "b"], "issuer": ["i", "j"]}, None),
        ({"jwks_file": "a", "header": "bad header"}, "should match pattern"),
        ({"jwks_file": "a", "colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "No such file"),
        ("not json", "Expecting value"),
        ('{"keys": "x"}', "a JWKS is an object with a `keys` list"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}', "no usable key"),
    ],
)
def test_a_bad_jwks_file_fails_the_load(tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PolicyError, match=error):
        _check(path)


TokenMaker = Callable[[], str]

# (token, extra config, the rule of the refusal or None for accepted)
CASES: list[tuple[TokenMaker, dict[str, Any], str | None]] = [
    (lambda: _sign(_rsa("a")), {}, None),  # valid RS256
    (lambda: _sign(_ec("a"), "ec1", "ES256"), {}, None),  # valid ES256
    (lambda: _sign(_rsa("a"), None), {}, None),  # no kid: the only RS256 key
    (lambda: _unsigned({"alg": "none"}), {}, "jwt.alg_not_allowed"),
    (lambda: _unsigned({"alg": "none", "kid": "rsa1"}), {}, "jwt.alg_not_allowed"),
    (lambda: _unsigned({"alg": "None"}), {}, "jwt.alg_not_allowed"),
    (lambda: _unsigned({"kid": "rsa1"}), {}, "jwt.alg_not_allowed"),  # no alg at all
    (_hs256_with_public_key, {}, "jwt.alg_not_allowed"),
    (lambda: _sign(_rsa("a")), {"algorithms": ["ES256"]}, "jwt.alg_not_allowed"),
    (lambda: _sign(_rsa("a"), alg="PS256"), {}, "jwt.alg_not_allowed"),
    (lambda: _sign(_rsa("a"), alg="PS256"), {"algorithms": ["PS256"]}, None),
    (lambda: _sign(_rsa("a"), "ec1"), {}, "jwt.alg_key_mismatch"),  # RS256 on the EC key's kid
    (lambda: _sign(_rsa("a"), exp=int(time.time()) - 100), {}, "jwt.expired"),
    (lambda: _sign(_rsa("a"), exp=int(time.time()) - 10), {}, None),  # within the leeway
    (lambda: _sign(_rsa("a"), exp=int(time.time()) - 10), {"leeway_seconds": 0}, "jwt.expired"),
    (lambda: _sign(_rsa("a"), nbf=int(time.time()) + 100), {}, "jwt.not_yet_valid"),
    (lambda: _sign(_rsa("a"), nbf=int(time.time()) + 10), {}, None),  # within the leeway
    (lambda: _sign(_rsa("a"), iat=int(time.time()) + 100), {}, "jwt.not_yet_valid"),
    (lambda: _sign(_rsa("a"), aud="api://other"), {}, "jwt.audience"),
    (lambda: _sign(_rsa("a"), aud=["api://other", AUDIENCE]), {}, None),
    (lambda: _sign(_rsa("a"), aud="api://other"), {"audience": ["api://other", "x"]}, None),
    (lambda: _sign(_rsa("a"), aud=None), {}, "jwt.missing_claim"),
    (lambda: _sign(_rsa("a"), aud="api://other"), {"audience": None}, None),  # unchecked
    (lambda: _sign(_rsa("a"), iss="https://evil.example"), {}, "jwt.issuer"),
    (lambda: _sign(_rsa("a"), iss=None), {}, "jwt.missing_claim"),
    (lambda: _sign(_rsa("a"), exp=None), {}, "jwt.missing_claim"),  # exp required by default
    (lambda: _sign(_rsa("a"), exp=None), {"require": []}, None),
    (lambda: _sign(_rsa("a"), jti=None), {"require": ["exp", "jti"]}, "jwt.missing_claim"),
    (lambda: _sign(_rsa("a"), "nope"), {}, "jwt.unknown_kid"),
    (lambda: _sign(_rsa("b")), {}, "jwt.signature"),  # right kid, another key
    (_tampered, {}, "jwt.signature"),
    (lambda: "not-a-token", {}, "jwt.malformed"),
    (lambda: "a.b.c", {}, "jwt.malformed"),
    (lambda: _unsigned({"alg": "RS256", "kid": 7}), {}, "jwt.malformed"),  # kid not a string
    (lambda: _sign(_rsa("a"), sub=None), {}, "jwt.consumer_claim"),
    (lambda: _sign(_rsa("a"), sub=None, client_id="svc"), {"consumer_claim": "client_id"}, None),
]


@pytest.mark.parametrize(("make_token", "extra", "rule"), CASES)
async def test_decisions(
    jwks_file: Path, make_token: TokenMaker, extra: dict[str, Any], rule: str | None
) -> None:
    check = _check(jwks_file, **extra)
    ex = _bearer(make_token())
    decision = await check.check_request(ex)
    if rule is None:
        assert decision.action is Action.ALLOW, decision
        assert ex.identity is not None
        assert not decision.headers
        return
    assert decision.action is Action.BLOCK and decision.status == 401
    (finding,) = decision.findings
    assert (finding.kind, finding.rule) == ("auth.invalid", rule)
    assert finding.reason and finding.evidence is None
    assert ex.identity is None
    assert dict(decision.headers)["WWW-Authenticate"] == (
        'Bearer realm="wardgate", error="invalid_token"'
    )


async def test_identity_from_claims(jwks_file: Path) -> None:
    check = _check(jwks_file, group_claim="grp", attribute_claims=["tenant", "roles", "absent"])
    ex = _bearer(_sign(_rsa("a")))
    assert (await check.check_request(ex)).action is Action.ALLOW
    assert ex.identity == Identity(
        "user-1", "gold", {"tenant": "acme", "roles": '["reader","writer"]'}
    )


@pytest.mark.parametrize(
    ("extra", "headers", "action", "challenge"),
    [
        ({}, [], Action.BLOCK, 'Bearer realm="wardgate"'),  # missing: no error code
        ({}, [("Authorization", "Basic dXNlcjpwdw==")], Action.BLOCK, 'Bearer realm="wardgate"'),
        ({"optional": True}, [], Action.ALLOW, None),
        (
            {"header": "x-jwt"},
            [("Authorization", "Bearer x")],
            Action.BLOCK,
            'Bearer realm="wardgate"',
        ),  # only the configured header counts
    ],
)
async def test_missing_token(
    jwks_file: Path,
    extra: dict[str, Any],
    headers: list[tuple[str, str]],
    action: Action,
    challenge: str | None,
) -> None:
    ex = _exchange(headers)
    decision = await _check(jwks_file, **extra).check_request(ex)
    assert decision.action is action
    assert dict(decision.headers).get("WWW-Authenticate") == challenge
    if action is Action.BLOCK:
        assert decision.status == 401 and decision.findings[0].kind == "auth.missing"


async def test_optional_still_refuses_a_bad_token(jwks_file: Path) -> None:
    decision = await _check(jwks_file, optional=True).check_request(_bearer("a.b.c"))
    assert decision.status == 401 and decision.findings[0].rule == "jwt.malformed"


async def test_custom_header_holds_the_raw_token(jwks_file: Path) -> None:
    check = _check(jwks_file, header="X-JWT-Assertion")
    ex = _exchange([("x-jwt-assertion", _sign(_rsa("a")))])
    assert (await check.check_request(ex)).action is Action.ALLOW


async def test_two_different_tokens_are_refused(jwks_file: Path) -> None:
    ex = _exchange(
        [
            ("Authorization", f"Bearer {_sign(_rsa('a'))}"),
            ("Authorization", f"Bearer {_sign(_ec('a'), 'ec1', 'ES256')}"),
        ]
    )
    decision = await _check(jwks_file).check_request(ex)
    assert decision.status == 401 and decision.findings[0].rule == "jwt.ambiguous"


async def test_key_rotation_through_the_file(jwks_file: Path) -> None:
    clock = FakeClock()
    check = _check(jwks_file, clock, jwks_refresh_seconds=60, jwks_refetch_seconds=30)
    old, new = _sign(_rsa("a")), _sign(_rsa("c"), "rsa2")

    async def verdict(token: str) -> str:
        decision = await check.check_request(_bearer(token))
        return "allow" if decision.action is Action.ALLOW else decision.findings[0].rule

    assert await verdict(old) == "allow"
    _publish(jwks_file, _jwk(_rsa("a"), "rsa1"), _jwk(_rsa("c"), "rsa2"))
    clock.advance(5)
    assert await verdict(new) == "jwt.unknown_kid"  # refetched just now: not again yet
    clock.advance(30)
    assert await verdict(new) == "allow"  # unknown kid: the file is read again
    assert await verdict(old) == "allow"

    _publish(jwks_file, _jwk(_rsa("c"), "rsa2"))  # the old key is withdrawn
    clock.advance(59)
    assert await verdict(old) == "allow"  # cached keys are still fresh
    clock.advance(1)
    assert await verdict(old) == "jwt.unknown_kid"  # refreshed after jwks_refresh_seconds
    assert await verdict(new) == "allow"


@dataclass
class JwksServer:
    """A real HTTP server for a JWKS document; counts what it served."""

    body: str
    status: int = 200
    fetches: int = 0
    delay: float = 0.05
    url: str = ""
    location: str | None = None  # answer with a redirect there

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        await asyncio.sleep(self.delay)  # long enough for concurrent requests to pile up
        if self.location is not None:
            raise web.HTTPFound(self.location)
        return web.Response(text=self.body, status=self.status, content_type="application/json")

    async def elsewhere(self, request: web.Request) -> web.Response:
        return web.Response(text=self.body, content_type="application/json")


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer(_jwks(_jwk(_rsa("a"), "rsa1")))
    app = web.Application()
    app.router.add_get("/jwks.json", server.handle)
    app.router.add_get("/elsewhere.json", server.elsewhere)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/jwks.json"
        yield server
    finally:
        await runner.cleanup()


def _url_check(server: JwksServer, clock: FakeClock) -> JwtCheck:
    config = Config.model_validate({"jwks_url": server.url, "jwks_refetch_seconds": 30})
    return JwtCheck(config, clock=clock)


async def _many(check: JwtCheck, token: str, n: int = 20) -> list[Decision]:
    return await asyncio.gather(*(check.check_request(_bearer(token)) for _ in range(n)))


async def test_jwks_url_fetches_once_for_concurrent_unknown_kids(jwks_server: JwksServer) -> None:
    clock = FakeClock()
    check = _url_check(jwks_server, clock)
    assert jwks_server.fetches == 0  # nothing is fetched before the first request

    decisions = await _many(check, _sign(_rsa("c"), "rotated"))
    assert jwks_server.fetches == 1  # the first load; the unknown kid cannot refetch yet
    assert {d.findings[0].rule for d in decisions} == {"jwt.unknown_kid"}

    decisions = await _many(check, _sign(_rsa("c"), "rotated"))
    assert jwks_server.fetches == 1  # made-up kids do not hammer the JWKS endpoint

    jwks_server.body = _jwks(_jwk(_rsa("a"), "rsa1"), _jwk(_rsa("c"), "rotated"))
    clock.advance(30)
    decisions = await _many(check, _sign(_rsa("c"), "rotated"))
    assert jwks_server.fetches == 2  # one refetch served all twenty
    assert all(d.action is Action.ALLOW for d in decisions)
    assert (await check.check_request(_bearer(_sign(_rsa("a"))))).action is Action.ALLOW


async def test_a_failed_refresh_keeps_the_last_good_keys(jwks_server: JwksServer) -> None:
    clock = FakeClock()
    check = _url_check(jwks_server, clock)
    token = _sign(_rsa("a"))
    assert (await check.check_request(_bearer(token))).action is Action.ALLOW

    jwks_server.status = 500
    clock.advance(300)  # the keys are due for a refresh
    assert (await check.check_request(_bearer(token))).action is Action.ALLOW
    assert (await check.check_request(_bearer(token))).action is Action.ALLOW
    assert jwks_server.fetches == 2  # a failed refresh is retried only after the refetch wait
    clock.advance(30)
    await check.check_request(_bearer(token))
    assert jwks_server.fetches == 3


async def test_no_keys_at_all_is_a_fault(jwks_server: JwksServer) -> None:
    jwks_server.status = 503
    check = _url_check(jwks_server, FakeClock())
    with pytest.raises(OSError, match="503"):  # the pipeline turns it into on_error
        await check.check_request(_bearer(_sign(_rsa("a"))))
    with pytest.raises(RuntimeError, match="no JWKS keys"):
        await check.check_request(_bearer(_sign(_rsa("a"))))


async def test_a_waiter_out_of_time_does_not_cancel_the_fetch(jwks_server: JwksServer) -> None:
    jwks_server.delay = 0.3
    check = _url_check(jwks_server, FakeClock())
    token = _sign(_rsa("a"))
    with pytest.raises(TimeoutError):  # as the pipeline's time budget would cancel it
        async with asyncio.timeout(0.05):
            await check.check_request(_bearer(token))
    assert (await check.check_request(_bearer(token))).action is Action.ALLOW
    assert jwks_server.fetches == 1  # the second request waited for the same fetch


async def test_a_redirecting_jwks_url_is_never_followed(jwks_server: JwksServer) -> None:
    # The JWKS endpoint answers with a redirect to a key set the policy never named.
    jwks_server.location = jwks_server.url.replace("/jwks.json", "/elsewhere.json")
    check = _url_check(jwks_server, FakeClock())
    with pytest.raises(OSError, match="302"):
        await check.check_request(_bearer(_sign(_rsa("a"))))
    assert jwks_server.fetches == 1
