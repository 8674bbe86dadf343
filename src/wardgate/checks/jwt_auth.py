"""`jwt`: identify the caller by a signed JSON Web Token, verified with a public JWKS.

Runs in `request_headers`. The token's `alg` is checked against the allowlist before
anything else: `none` and the shared-secret `HS*` family can never be configured, so a token
"signed" with nothing or with the public key as an HMAC secret is refused. The key is chosen
by `kid`; keys come from a file or a URL, are cached on the check, refreshed every
`jwks_refresh_seconds`, and refetched at most once per `jwks_refetch_seconds` when a token
names an unknown `kid` (so made-up kids cannot hammer the JWKS endpoint). One fetch runs at a
time; concurrent requests wait for it. A failed refresh keeps the last good keys.

Refusals answer 401; the rule (`jwt.expired`, `jwt.signature`, ...) and reason go to the
event only. The decision carries the `WWW-Authenticate` challenge (RFC 6750).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Self

import jwt
from jwt.types import Options
from pydantic import Field, field_validator, model_validator

from wardgate.checks.api_key import challenge, presented_credentials
from wardgate.checks.base import CheckSettings
from wardgate.decision import Decision, Finding, Location
from wardgate.errors import PolicyError
from wardgate.exchange import Exchange, Identity
from wardgate.phases import Phase

__all__ = ["SUPPORTED_ALGORITHMS", "Config", "JwtCheck", "KeySet", "parse_jwks"]

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1 << 20

SUPPORTED_ALGORITHMS: dict[str, tuple[str, frozenset[str] | None]] = {
    # alg: (the JWK `kty` it needs, the curves it accepts; None: any)
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

_CHALLENGE_MISSING = 'Bearer realm="wardgate"'
_CHALLENGE_INVALID = 'Bearer realm="wardgate", error="invalid_token"'

# Most specific first: several of these subclass one another.
_TOKEN_ERRORS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "expired", "token expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid", "token not yet valid"),
    (jwt.InvalidAudienceError, "audience", "wrong audience"),
    (jwt.InvalidIssuerError, "issuer", "wrong issuer"),
    (jwt.InvalidSignatureError, "signature", "bad signature"),
    (jwt.MissingRequiredClaimError, "missing_claim", "required claim missing"),
    (jwt.InvalidAlgorithmError, "alg_not_allowed", "algorithm not allowed"),
    (jwt.InvalidKeyError, "weak_key", "verification key below the minimum length"),
    (jwt.DecodeError, "malformed", "malformed token"),
)


class Config(CheckSettings):
    """JWT bearer tokens verified against a JWKS. Missing or invalid tokens answer 401."""

    type: Literal["jwt"] = "jwt"
    jwks_file: Path | None = Field(
        default=None, description="JWKS file with the public keys (this or `jwks_url`)."
    )
    jwks_url: str | None = Field(
        default=None,
        description="URL of the JWKS (this or `jwks_file`); https, or http to a loopback "
        "address only.",
    )
    jwks_refresh_seconds: float = Field(
        default=300, ge=1, le=86400, description="Keys older than this are fetched again."
    )
    jwks_refetch_seconds: float = Field(
        default=30,
        ge=1,
        le=3600,
        description="Least time between two fetches caused by an unknown `kid` or by a "
        "failed fetch.",
    )
    jwks_timeout_seconds: float = Field(
        default=2, gt=0, le=30, description="Time limit of one JWKS fetch."
    )
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        min_length=1,
        description="Accepted `alg` values: "
        + ", ".join(SUPPORTED_ALGORITHMS)
        + ". `none` and HS* are never accepted.",
    )
    issuer: str | list[str] | None = Field(
        default=None, description="Accepted `iss` value(s); unset: not checked."
    )
    audience: str | list[str] | None = Field(
        default=None,
        description="Accepted `aud` value(s): the token must name one. Unset: not checked, "
        "so a token minted for another service is accepted too.",
    )
    leeway_seconds: float = Field(
        default=30, ge=0, le=600, description="Clock skew allowed on exp, nbf and iat."
    )
    require: list[str] = Field(
        default_factory=lambda: ["exp"], description="Claims a token must carry."
    )
    consumer_claim: str = Field(
        default="sub", min_length=1, description="Claim naming the consumer (required)."
    )
    group_claim: str | None = Field(default=None, description="Claim naming the group.")
    attribute_claims: list[str] = Field(
        default_factory=list,
        description="Claims copied into the identity's attributes, as strings (JSON for "
        "lists and objects); absent ones are skipped.",
    )
    header: str = Field(
        default="authorization",
        pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
        description="Header carrying the token: `authorization` is read as `Bearer "
        "<token>`, any other holds the raw token.",
    )
    optional: bool = Field(
        default=False,
        description="When true a request without a token passes without identity; an "
        "invalid token is still refused.",
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, algorithms: list[str]) -> list[str]:
        for alg in algorithms:
            if alg.lower() == "none":
                raise ValueError("alg 'none' is never accepted")
            if alg.upper().startswith("HS"):
                raise ValueError(
                    f"{alg} is a shared-secret algorithm and cannot be verified with a public JWKS"
                )
            if alg not in SUPPORTED_ALGORITHMS:
                raise ValueError(
                    f"unsupported algorithm {alg!r} (supported: {', '.join(SUPPORTED_ALGORITHMS)})"
                )
        return list(dict.fromkeys(algorithms))

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("jwks_url must be an http(s) URL with a host")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("jwks_url must use https (http only for loopback hosts)")
        return url

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("set exactly one of jwks_file and jwks_url")
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class KeySet:
    """Verification keys by (`kid`, `alg`); `sole` holds, per alg, the key a token without a
    `kid` may use when it is the only one."""

    keys: dict[tuple[str | None, str], jwt.PyJWK]
    kids: frozenset[str]
    sole: dict[str, jwt.PyJWK]

    def find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is None:
            return self.sole.get(alg)
        return self.keys.get((kid, alg))


def parse_jwks(data: bytes, algorithms: list[str]) -> KeySet:
    """The usable public signing keys of a JWKS document for `algorithms`.

    Keys for other uses, private or symmetric keys, and keys whose type or curve does not
    fit an allowed algorithm are skipped. Raises `ValueError` if none is left.
    """
    document = json.loads(data)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS is an object with a `keys` list")
    keys: dict[tuple[str | None, str], jwt.PyJWK] = {}
    per_alg: dict[str, list[jwt.PyJWK]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        if "d" in jwk or "k" in jwk:
            continue
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        for alg in algorithms:
            if not _fits(jwk, alg) or (kid, alg) in keys:
                continue
            try:
                key = jwt.PyJWK(jwk, alg)
            except jwt.PyJWTError:
                continue
            keys[(kid, alg)] = key
            per_alg.setdefault(alg, []).append(key)
    if not keys:
        raise ValueError("no usable key for the allowed algorithms")
    return KeySet(
        keys=keys,
        kids=frozenset(kid for kid, _ in keys if kid is not None),
        sole={alg: found[0] for alg, found in per_alg.items() if len(found) == 1},
    )


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    if jwk.get("alg", alg) != alg:
        return False
    kty, curves = SUPPORTED_ALGORITHMS[alg]
    return jwk.get("kty") == kty and (curves is None or jwk.get("crv") in curves)


@dataclass(frozen=True, slots=True)
class _Refusal:
    rule: str
    reason: str


class JwtCheck:
    """Sets `ex.identity` from a verified token's claims; refuses with 401 otherwise.

    Shared by all requests: the key cache and its refresh state are the only mutable state,
    and a refresh replaces the whole `KeySet`. `clock` (monotonic seconds) is for tests.
    """

    phases = frozenset({Phase.REQUEST_HEADERS})
    awaits_io = True

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._algorithms = list(config.algorithms)
        self._audience: str | list[str] | None = config.audience
        self._issuer: str | list[str] | None = config.issuer
        self._options: Options = {
            "require": list(config.require),
            "verify_aud": config.audience is not None,
            "enforce_minimum_key_length": True,
        }
        self._keys: KeySet | None = None
        self._loaded_at = 0.0
        self._last_fetch: float | None = None
        self._lock = asyncio.Lock()
        self._inflight: asyncio.Task[None] | None = None
        if config.jwks_file is not None:
            # A file is read now, so a missing or broken one fails the policy load.
            self._last_fetch = clock()
            try:
                self._install(parse_jwks(self._read(), self._algorithms))
            except (OSError, ValueError) as exc:
                raise PolicyError([f"jwt: jwks_file {config.jwks_file}: {exc}"]) from None

    async def check_request(self, ex: Exchange) -> Decision:
        tokens = presented_credentials(ex, self._config.header)
        if not tokens:
            if self._config.optional:
                return Decision.allow()
            finding = self._finding("auth.missing", "missing", "no token")
            return Decision.block(401, [finding], challenge(_CHALLENGE_MISSING))
        result = await self._verify(tokens)
        if isinstance(result, _Refusal):
            finding = self._finding("auth.invalid", result.rule, result.reason)
            return Decision.block(401, [finding], challenge(_CHALLENGE_INVALID))
        ex.identity = result
        return Decision.allow()

    async def _verify(self, tokens: list[str]) -> Identity | _Refusal:
        if len(set(tokens)) > 1:
            return _Refusal("ambiguous", "several different tokens")
        token = tokens[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return _Refusal("malformed", "malformed token")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            return _Refusal("alg_not_allowed", "algorithm not allowed")
        kid: str | None = header.get("kid")
        key = await self._key_for(kid, alg)
        if isinstance(key, _Refusal):
            return key
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._config.leeway_seconds,
                options=self._options,
            )
        except jwt.PyJWTError as exc:
            return _refusal_for(exc)
        return self._identity(claims)

    async def _key_for(self, kid: str | None, alg: str) -> jwt.PyJWK | _Refusal:
        # Stale keys serve while one request refreshes them; without keys, everyone waits.
        if self._due(unknown_kid=False) or (self._keys is None and self._inflight is not None):
            await self._refresh(unknown_kid=False)
        keys = self._current()
        key = keys.find(kid, alg)
        if key is not None:
            return key
        if kid is not None and kid in keys.kids:
            return _Refusal("alg_key_mismatch", "algorithm does not fit the key")
        if self._inflight is not None or self._due(unknown_kid=True):
            await self._refresh(unknown_kid=True)
            key = self._current().find(kid, alg)
        if key is None:
            return _Refusal("unknown_kid", "unknown key id")
        return key

    def _identity(self, claims: dict[str, Any]) -> Identity | _Refusal:
        config = self._config
        consumer = claims.get(config.consumer_claim)
        if isinstance(consumer, bool) or not isinstance(consumer, str | int) or consumer == "":
            return _Refusal("consumer_claim", "consumer claim missing or not a string")
        group = None
        if config.group_claim is not None and claims.get(config.group_claim) is not None:
            group = _text(claims[config.group_claim])
        attributes = {
            name: _text(claims[name])
            for name in config.attribute_claims
            if claims.get(name) is not None
        }
        return Identity(str(consumer), group, MappingProxyType(attributes))

    def _current(self) -> KeySet:
        if self._keys is None:
            raise RuntimeError("no JWKS keys could be loaded")
        return self._keys

    def _due(self, *, unknown_kid: bool) -> bool:
        if self._last_fetch is None:
            return True
        now = self._clock()
        since = now - self._last_fetch
        refetch = self._config.jwks_refetch_seconds
        if unknown_kid or self._keys is None:
            return since >= refetch
        refresh = self._config.jwks_refresh_seconds
        return now - self._loaded_at >= refresh and since >= min(refresh, refetch)

    async def _refresh(self, *, unknown_kid: bool) -> None:
        async with self._lock:
            task = self._inflight
            if task is None:
                if not self._due(unknown_kid=unknown_kid):
                    return  # another request refreshed while this one waited
                self._last_fetch = self._clock()
                task = self._inflight = asyncio.create_task(self._fetch())
                task.add_done_callback(_retrieve)
            # Shielded: a waiter that runs out of time does not cancel the fetch for the rest.
            await asyncio.shield(task)

    async def _fetch(self) -> None:
        try:
            keys = parse_jwks(await asyncio.to_thread(self._read), self._algorithms)
        except Exception as exc:  # any failure: keep the last good keys
            log.warning("jwt: JWKS fetch failed: %s: %s", type(exc).__name__, exc)
            if self._keys is None:
                raise
        else:
            self._install(keys)
        finally:
            self._inflight = None

    def _install(self, keys: KeySet) -> None:
        self._keys = keys
        self._loaded_at = self._clock()

    def _read(self) -> bytes:
        """The JWKS document, from the file or the URL; blocking, run in a thread."""
        config = self._config
        if config.jwks_file is not None:
            with config.jwks_file.open("rb") as file:
                data = file.read(MAX_JWKS_BYTES + 1)
        else:
            assert config.jwks_url is not None
            request = urllib.request.Request(
                config.jwks_url, headers={"Accept": "application/json"}
            )
            try:
                with _NO_REDIRECTS.open(request, timeout=config.jwks_timeout_seconds) as reply:
                    data = reply.read(MAX_JWKS_BYTES + 1)
            except urllib.error.HTTPError as exc:
                exc.close()  # it holds the response and its socket
                raise OSError(f"JWKS fetch answered HTTP {exc.code}") from None
        if len(data) > MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        return bytes(data)

    def _finding(self, kind: str, rule: str, reason: str) -> Finding:
        return Finding(
            kind=kind,
            rule=f"jwt.{rule}",
            severity="low" if kind == "auth.missing" else "medium",
            location=Location(f"header:{self._config.header.lower()}"),
            reason=reason,
        )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Keys come from the configured URL only: a redirect could lead off the https origin
    the policy names (or to plain http), so it is an error, not a new location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _refusal_for(exc: jwt.PyJWTError) -> _Refusal:
    for error, rule, reason in _TOKEN_ERRORS:
        if isinstance(exc, error):
            if isinstance(exc, jwt.MissingRequiredClaimError):
                reason = f"required claim missing: {exc.claim}"
            return _Refusal(rule, reason)
    return _Refusal("invalid", f"invalid token ({type(exc).__name__})")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _retrieve(task: asyncio.Task[None]) -> None:
    # Mark a failed fetch's exception as seen even when every waiter was cancelled.
    if not task.cancelled():
        task.exception()
