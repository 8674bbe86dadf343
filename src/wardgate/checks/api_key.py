"""`api_key`: identify the caller by a static API key, stored only as its SHA-256 digest.

Runs in `request_headers`. The presented key is hashed and compared in constant time with
every configured digest, so neither the keys nor which one matched can be read from the
policy or from response timing. On success the exchange gets the key's `Identity`.

Unauthenticated answers (401) carry the `WWW-Authenticate` challenge in the decision.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from types import MappingProxyType
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from wardgate.checks.base import CheckSettings, StrictModel
from wardgate.decision import Decision, Finding, Location
from wardgate.exchange import Exchange, Identity
from wardgate.phases import Phase

__all__ = [
    "ApiKey",
    "ApiKeyCheck",
    "Config",
    "challenge",
    "hash_key",
    "presented_credentials",
]


def challenge(value: str) -> tuple[tuple[str, str], ...]:
    """The `WWW-Authenticate` header a 401 carries (RFC 9110 11.6.1)."""
    return (("WWW-Authenticate", value),)


"""The `Exchange.vault` key under which identity checks leave the `WWW-Authenticate` value."""

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def hash_key(key: str) -> str:
    """The digest to put in the policy for `key`: the same as `printf %s KEY | sha256sum`."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def presented_credentials(ex: Exchange, header: str) -> list[str]:
    """Every credential the request presents in `header`, in order.

    For `authorization` only `Bearer` values count (the token after the scheme, which may be
    empty); any other header's values are taken whole. Callers treat an empty token, or
    several different ones, as an invalid credential.
    """
    getall = getattr(ex.headers, "getall", None)
    if getall is not None:
        values = [str(v) for v in getall(header, [])]
    else:
        value = ex.headers.get(header)
        values = [] if value is None else [value]
    if header != "authorization":
        return [v.strip() for v in values]
    tokens = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            tokens.append(rest.strip())
    return tokens


class ApiKey(StrictModel):
    """One accepted key and the identity it stands for."""

    consumer: str = Field(min_length=1, description="Consumer name the key identifies.")
    group: str | None = Field(
        default=None, description="Consumer group (used by limits and budgets)."
    )
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Extra identity attributes, copied as given."
    )
    sha256: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Hex SHA-256 digest of the key, never the key itself; produce it with "
        "`printf %s KEY | sha256sum` (or `wardgate.checks.api_key.hash_key`).",
    )

    @field_validator("sha256")
    @classmethod
    def _lower(cls, digest: str) -> str:
        return digest.lower()


class Config(CheckSettings):
    """Static API keys. Missing or wrong keys answer 401."""

    type: Literal["api_key"] = "api_key"
    keys: list[ApiKey] = Field(min_length=1, description="The accepted keys.")
    header: str | list[str] = Field(
        default="authorization",
        description="Header(s) carrying the key: `authorization` is read as `Bearer <key>`; "
        "any other (`x-api-key`, `api-key`) holds the raw key. Several: any of them.",
    )
    optional: bool = Field(
        default=False,
        description="When true a request without a key passes without identity; a wrong "
        "key is still refused.",
    )

    @field_validator("header")
    @classmethod
    def _header_names(cls, header: str | list[str]) -> list[str]:
        names = [header] if isinstance(header, str) else header
        if not names:
            raise ValueError("at least one header is needed")
        for name in names:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid header name {name!r}")
        return list(dict.fromkeys(name.lower() for name in names))

    @model_validator(mode="after")
    def _unique_digests(self) -> Self:
        seen: dict[str, str] = {}
        for key in self.keys:
            if key.sha256 in seen:
                raise ValueError(
                    f"consumers {seen[key.sha256]!r} and {key.consumer!r} have the same key"
                )
            seen[key.sha256] = key.consumer
        return self


class ApiKeyCheck:
    """Sets `ex.identity` from a configured API key; refuses missing (unless optional) and
    wrong keys with 401."""

    phases = frozenset({Phase.REQUEST_HEADERS})

    def __init__(self, config: Config) -> None:
        self._optional = config.optional
        header = config.header
        self._headers = (header,) if isinstance(header, str) else tuple(header)
        self._entries = tuple(
            (
                bytes.fromhex(key.sha256),
                Identity(key.consumer, key.group, MappingProxyType(dict(key.attributes))),
            )
            for key in config.keys
        )
        custom = [h for h in self._headers if h != "authorization"]
        self._challenge = (
            'Bearer realm="wardgate"'
            if "authorization" in self._headers or not custom
            else f'ApiKey header="{custom[0]}"'
        )
        self._slot = f"header:{self._headers[0]}"

    async def check_request(self, ex: Exchange) -> Decision:
        presented = {c for h in self._headers for c in presented_credentials(ex, h)}
        if not presented:
            if self._optional:
                return Decision.allow()
            return self._refuse(ex, "auth.missing", "missing", "no API key presented")
        if len(presented) > 1:
            return self._refuse(ex, "auth.invalid", "ambiguous", "several different keys")
        identity = self._match(presented.pop())
        if identity is None:
            return self._refuse(ex, "auth.invalid", "invalid", "unknown API key")
        ex.identity = identity
        return Decision.allow()

    def _match(self, key: str) -> Identity | None:
        if not key:
            return None
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found: Identity | None = None
        # Compare with every digest, without an early exit: the time taken does not depend
        # on whether, or which, a key matched.
        for stored, identity in self._entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = identity
        return found

    def _refuse(self, ex: Exchange, kind: str, rule: str, reason: str) -> Decision:
        finding = Finding(
            kind=kind,
            rule=f"api_key.{rule}",
            severity="low" if kind == "auth.missing" else "medium",
            location=Location(self._slot),
            reason=reason,
        )
        return Decision.block(401, [finding], challenge(self._challenge))
