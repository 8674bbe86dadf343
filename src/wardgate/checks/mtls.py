"""`mtls`: identify the caller by its TLS client certificate.

Runs in `request_headers`. The TLS listener has already verified the certificate against
the client CA; this check only maps it to an `Identity`, by exact subject common name, DNS
name or URI (SPIFFE ID) in the subject alternative names. The first listed identity that
matches wins. No certificate answers 401 (unless `require` is false), an unmapped one 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from wardgate.checks.api_key import challenge
from wardgate.checks.base import CheckSettings, StrictModel
from wardgate.decision import Decision, Evidence, Finding, Location
from wardgate.exchange import Exchange, Identity
from wardgate.phases import Phase

__all__ = ["CertIdentity", "Config", "MtlsCheck", "certificate_names"]

_CHALLENGE = 'ClientCertificate realm="wardgate"'
_MATCHERS = ("match_subject_cn", "match_san_dns", "match_san_uri")


class CertIdentity(StrictModel):
    """A certificate name (exactly one `match_*`) and the identity it stands for."""

    match_subject_cn: str | None = Field(
        default=None, min_length=1, description="Subject common name, exactly."
    )
    match_san_dns: str | None = Field(
        default=None,
        min_length=1,
        description="A DNS subject alternative name, exactly (compared case-insensitively).",
    )
    match_san_uri: str | None = Field(
        default=None,
        min_length=1,
        description="A URI subject alternative name (e.g. a SPIFFE ID), exactly.",
    )
    consumer: str = Field(min_length=1, description="Consumer name the certificate identifies.")
    group: str | None = Field(default=None, description="Consumer group.")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Extra identity attributes, copied as given."
    )

    @model_validator(mode="after")
    def _one_matcher(self) -> Self:
        if sum(getattr(self, name) is not None for name in _MATCHERS) != 1:
            raise ValueError("set exactly one of " + ", ".join(_MATCHERS))
        return self

    @property
    def name(self) -> tuple[str, str]:
        """What this entry matches: (`cn` | `dns` | `uri`, value)."""
        if self.match_subject_cn is not None:
            return ("cn", self.match_subject_cn)
        if self.match_san_dns is not None:
            return ("dns", self.match_san_dns.lower())
        assert self.match_san_uri is not None
        return ("uri", self.match_san_uri)


class Config(CheckSettings):
    """Client certificate to identity. No certificate: 401; an unmapped one: 403."""

    type: Literal["mtls"] = "mtls"
    identities: list[CertIdentity] = Field(
        default_factory=list, description="Certificate names and their identities."
    )
    require: bool = Field(
        default=True,
        description="Refuse (401) requests without a verified client certificate; when "
        "false they pass without identity.",
    )
    default_consumer_from: Literal["cn"] | None = Field(
        default=None,
        description="`cn`: an unmapped certificate is accepted as consumer = its subject "
        "common name, group `service`, instead of being refused.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: dict[tuple[str, str], str] = {}
        for entry in self.identities:
            if entry.name in seen:
                kind, value = entry.name
                raise ValueError(
                    f"{kind} {value!r} is mapped twice ({seen[entry.name]!r} and "
                    f"{entry.consumer!r})"
                )
            seen[entry.name] = entry.consumer
        return self


def certificate_names(cert: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The names of a certificate as `getpeercert()` returns it: (`cn` | `dns` | `uri`, value).

    A subject with several common names gives none: which one is meant is ambiguous.
    """
    cns = [
        value
        for rdn in cert.get("subject", ())
        for attribute, value in rdn
        if attribute == "commonName"
    ]
    names = {("cn", cns[0])} if len(cns) == 1 else set()
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            names.add(("dns", value.lower()))
        elif kind == "URI":
            names.add(("uri", value))
    return names


class MtlsCheck:
    """Sets `ex.identity` from `ex.peer_cert`, the client certificate the listener verified."""

    phases = frozenset({Phase.REQUEST_HEADERS})

    def __init__(self, config: Config) -> None:
        self._config = config
        self._by_name: dict[tuple[str, str], tuple[int, Identity]] = {
            entry.name: (
                index,
                Identity(entry.consumer, entry.group, MappingProxyType(dict(entry.attributes))),
            )
            for index, entry in enumerate(config.identities)
        }

    async def check_request(self, ex: Exchange) -> Decision:
        cert = ex.peer_cert
        if not cert:  # getpeercert() gives {} for a certificate it did not verify
            if not self._config.require:
                return Decision.allow()
            finding = _finding("auth.missing", "missing", "no verified client certificate")
            return Decision.block(401, [finding], challenge(_CHALLENGE))
        names = certificate_names(cert)
        matches = [self._by_name[name] for name in names if name in self._by_name]
        if matches:
            ex.identity = min(matches, key=lambda match: match[0])[1]
            return Decision.allow()
        cn = next((value for kind, value in names if kind == "cn"), None)
        if cn is not None and self._config.default_consumer_from == "cn":
            # Namespaced: a certificate's CN can never pose as a configured consumer.
            ex.identity = Identity(f"cn:{cn}", "service")
            return Decision.allow()
        finding = _finding(
            "auth.unknown_certificate",
            "unknown_certificate",
            "client certificate not mapped to an identity",
            evidence=Evidence.of(cn) if cn is not None else None,
        )
        return Decision.block(403, [finding])


def _finding(kind: str, rule: str, reason: str, *, evidence: Evidence | None = None) -> Finding:
    return Finding(
        kind=kind,
        rule=f"mtls.{rule}",
        severity="low" if kind == "auth.missing" else "medium",
        location=Location("tls:client-certificate"),
        evidence=evidence,
        reason=reason,
    )
