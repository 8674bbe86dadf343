"""`access`: allow or deny requests by client address, request headers and identity.

Runs in `request_headers`, before the body is read, so a denied client costs almost nothing.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from typing import Literal

from pydantic import Field, IPvAnyNetwork, field_validator

from wardgate.checks.base import CheckSettings, StrictModel
from wardgate.decision import Decision, Evidence, Finding, Location
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["AccessCheck", "Config", "HeaderRule"]


class HeaderRule(StrictModel):
    """A header condition: present (no `matches`) or with a value matching a regex."""

    name: str = Field(description="Header name (case-insensitive).", min_length=1)
    matches: str | None = Field(
        default=None, description="Regular expression searched in each of the header's values."
    )

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern

    @cached_property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self.matches) if self.matches is not None else None

    def holds(self, values: list[str]) -> bool:
        if self.regex is None:
            return bool(values)
        return any(self.regex.search(v) for v in values)


class Config(CheckSettings):
    """Allow/deny by client network and by headers. Denials answer `status` (403)."""

    type: Literal["access"] = "access"
    allow_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="If set, only clients in these networks are served (CIDR or address).",
    )
    deny_networks: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Clients in these networks are refused."
    )
    deny_headers: list[HeaderRule] = Field(
        default_factory=list, description="Requests where any of these holds are refused."
    )
    require_headers: list[HeaderRule] = Field(
        default_factory=list, description="Requests where one of these does not hold are refused."
    )
    allow_consumers: list[str] = Field(
        default_factory=list,
        description="If set (with `allow_groups`), only these identities may use the route: "
        "put an identity check (api_key, jwt, mtls) before this one.",
    )
    allow_groups: list[str] = Field(
        default_factory=list, description="Identity groups allowed on the route (see above)."
    )
    status: int = Field(default=403, ge=400, le=499, description="Status of a denial.")


class AccessCheck:
    phases = frozenset({Phase.REQUEST_HEADERS})

    def __init__(self, config: Config) -> None:
        self._config = config
        self._allow = tuple(config.allow_networks)
        self._deny = tuple(config.deny_networks)

    async def check_request(self, ex: Exchange) -> Decision:
        findings = (
            self._network_findings(ex.client_ip)
            + self._header_findings(ex)
            + self._identity_findings(ex)
        )
        if findings:
            return Decision.block(self._config.status, findings)
        return Decision.allow()

    def _network_findings(self, client_ip: str) -> list[Finding]:
        if not (self._allow or self._deny):
            return []
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return [_finding("access.ip_unknown", "client-address", "client address unparsable")]
        if any(address in net for net in self._deny):
            return [_finding("access.ip_denied", "deny-networks", "client in a denied network")]
        if self._allow and not any(address in net for net in self._allow):
            return [_finding("access.ip_not_allowed", "allow-networks", "client not allowed")]
        return []

    def _identity_findings(self, ex: Exchange) -> list[Finding]:
        config = self._config
        if not (config.allow_consumers or config.allow_groups):
            return []
        identity = ex.identity
        if identity is not None and (
            identity.consumer in config.allow_consumers
            or (identity.group is not None and identity.group in config.allow_groups)
        ):
            return []
        return [_finding("access.consumer_not_allowed", "allow-consumers", "consumer not allowed")]

    def _header_findings(self, ex: Exchange) -> list[Finding]:
        findings: list[Finding] = []
        for rule in self._config.deny_headers:
            values = _values(ex, rule.name)
            if rule.holds(values):
                findings.append(
                    _finding(
                        "access.header_denied",
                        f"deny-header:{rule.name.lower()}",
                        "denied header present",
                        slot=f"header:{rule.name.lower()}",
                        evidence=Evidence.of(",".join(values)),
                    )
                )
        for rule in self._config.require_headers:
            if not rule.holds(_values(ex, rule.name)):
                findings.append(
                    _finding(
                        "access.header_missing",
                        f"require-header:{rule.name.lower()}",
                        "required header missing or not matching",
                        slot=f"header:{rule.name.lower()}",
                    )
                )
        return findings


def _values(ex: Exchange, name: str) -> list[str]:
    getall = getattr(ex.headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = ex.headers.get(name)
    return [] if value is None else [value]


def _finding(
    kind: str, rule: str, reason: str, *, slot: str = "client", evidence: Evidence | None = None
) -> Finding:
    return Finding(
        kind=kind,
        rule=f"access.{rule}",
        severity="medium",
        location=Location(slot),
        evidence=evidence,
        reason=reason,
    )
