"""The policy model: every option Wardgate has, validated closed-world at load time.

One YAML file maps onto `Policy`. Every field has a description: they are the reference
documentation (`wardgate policy-schema` exports them as JSON Schema).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, IPvAnyNetwork, ValidationInfo, field_validator, model_validator

from wardgate.checks.base import StrictModel
from wardgate.checks.registry import CheckConfig
from wardgate.pipeline import Mode

__all__ = [
    "DiscoverySettings",
    "Ejection",
    "EventSettings",
    "JsonLinesSink",
    "MemoryCounters",
    "ModelPrice",
    "Policy",
    "RedisCounters",
    "Route",
    "RouteMatch",
    "ServerSettings",
    "SqliteSink",
    "Stores",
    "Timeouts",
    "Upstream",
]

POLICY_VERSION = 1
MiB = 1024 * 1024
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Timeouts(StrictModel):
    """Upstream timeouts in seconds. Expiry answers 504."""

    connect: float = Field(default=5.0, gt=0, description="Connecting to a target.")
    read: float = Field(
        default=60.0, gt=0, description="Longest wait for the next bytes of the response."
    )
    total: float = Field(default=600.0, gt=0, description="Whole exchange with the upstream.")


class Ejection(StrictModel):
    """Passive health: a target that fails to connect this often in a row rests a while."""

    failures: int = Field(default=3, ge=1, description="Consecutive failures before ejection.")
    seconds: float = Field(default=10.0, gt=0, description="How long an ejected target rests.")


class Upstream(StrictModel):
    """Where a route's requests go: one or more targets, used round-robin."""

    targets: list[str] = Field(
        min_length=1, description="Base URLs (scheme, host, port, optional path prefix)."
    )
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Upstream timeouts.")
    eject: Ejection = Field(default_factory=Ejection, description="Passive health checking.")
    max_connections: int = Field(
        default=0, ge=0, description="Pooled connections per process; 0 means unbounded."
    )
    keepalive_seconds: float = Field(
        default=30.0, gt=0, description="How long an idle pooled connection is kept."
    )

    @field_validator("targets")
    @classmethod
    def _urls(cls, targets: list[str]) -> list[str]:
        for target in targets:
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"target {target!r} is not an http(s) URL")
            if parts.query or parts.fragment:
                raise ValueError(f"target {target!r} must not have a query or fragment")
        return [t.rstrip("/") for t in targets]


class RouteMatch(StrictModel):
    """Which requests a route takes: all given conditions must hold."""

    hosts: list[str] = Field(
        default_factory=list,
        description="Host names (`api.example.com`, `*.example.com`); empty matches any.",
    )
    path_prefix: str = Field(default="/", description="Path prefix, matched on segment boundaries.")
    methods: list[str] = Field(default_factory=list, description="Methods; empty matches any.")

    @field_validator("path_prefix")
    @classmethod
    def _absolute(cls, prefix: str) -> str:
        if not prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        return prefix

    @field_validator("methods")
    @classmethod
    def _upper(cls, methods: list[str]) -> list[str]:
        for method in methods:
            if not re.fullmatch(r"[A-Za-z]+", method):
                raise ValueError(f"invalid method {method!r}")
        return [m.upper() for m in methods]

    @field_validator("hosts")
    @classmethod
    def _lower(cls, hosts: list[str]) -> list[str]:
        return [h.lower() for h in hosts]


class CallPaths(StrictModel):
    """Where a generic JSON AI API keeps what the checks read: paths like `model`,
    `input`, `messages[*].content` or `choices[0].text`."""

    model: str | None = Field(default=None, description="Path of the model name.")
    text: list[str] = Field(default_factory=list, description="Paths of prompt text.")
    max_tokens: str | None = Field(default=None, description="Path of the output limit.")
    stream: str | None = Field(default=None, description="Path of the stream flag.")
    usage_input: str | None = Field(default=None, description="Response path of input tokens.")
    usage_output: str | None = Field(default=None, description="Response path of output tokens.")
    output_text: list[str] = Field(
        default_factory=list, description="Response paths of output text (JSON and events)."
    )


class Route(StrictModel):
    """A class of requests with its upstream, provider, limits and ordered checks."""

    name: str = Field(pattern=NAME, description="Unique route name, used in events.")
    match: RouteMatch = Field(default_factory=RouteMatch, description="What the route takes.")
    upstream: str = Field(description="Name of an entry in `upstreams`.")
    provider: Literal["openai", "anthropic", "generic"] = Field(
        default="generic",
        description="Wire format of the API behind the route; shapes error bodies and parsing.",
    )
    body_limit: int = Field(
        default=10 * MiB, ge=0, description="Largest request body read or forwarded (413 above)."
    )
    response_limit: int = Field(
        default=10 * MiB,
        ge=0,
        description="Largest upstream response read whole when a check needs the body "
        "(answered 502 above); responses nothing inspects are streamed without a limit.",
    )
    timeouts: Timeouts | None = Field(
        default=None, description="Overrides the upstream's timeouts for this route."
    )
    stream_holdback: int = Field(
        default=0,
        ge=0,
        le=65536,
        description="Characters of streamed output held back until response checks have seen "
        "them; 0 relays every event as it arrives.",
    )
    call_paths: CallPaths | None = Field(
        default=None,
        description="With `provider: generic`: where the API's model, prompt, limits and "
        "usage are, so AI checks and usage accounting work on it.",
    )
    usage: bool = Field(
        default=True,
        description="On openai/anthropic routes: parse each AI call (model, messages) and the "
        "token usage of its answer, streamed or not, into the event. Checks that need the "
        "call (token limits, budgets, model rules) turn this on whatever it says.",
    )
    checks: list[CheckConfig] = Field(
        default_factory=list, description="Checks in the order they run."
    )

    @field_validator("upstream")
    @classmethod
    def _known_upstream(cls, upstream: str, info: ValidationInfo) -> str:
        # The loader passes the upstream names it read, so the error points at this key;
        # Policy._references repeats the check for policies built in code.
        known = (info.context or {}).get("upstreams")
        if known is not None and upstream not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown upstream {upstream!r} (known: {listed})")
        return upstream

    @model_validator(mode="after")
    def _call_paths_for_generic(self) -> Route:
        if self.call_paths is not None and self.provider != "generic":
            raise ValueError("call_paths is for provider: generic (openai/anthropic are built in)")
        return self

    @model_validator(mode="after")
    def _clamps_before_reservations(self) -> Route:
        kinds = [c.type for c in self.checks]
        if "model_policy" in kinds:
            first_clamp = kinds.index("model_policy")
            late = [k for k in ("token_limit", "budget") if k in kinds[:first_clamp]]
            if late:
                raise ValueError(
                    f"model_policy must come before {' and '.join(late)}: they reserve what "
                    "the call may use, after model_policy has clamped it"
                )
        return self

    @model_validator(mode="after")
    def _unique_check_names(self) -> Route:
        names = [c.name or c.type for c in self.checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"check names must be unique in a route: {', '.join(duplicates)}")
        return self


class TlsSettings(StrictModel):
    """TLS on the data-plane listener, optionally verifying client certificates (mTLS)."""

    cert: Path = Field(description="PEM certificate chain of the gateway.")
    key: Path = Field(description="PEM private key of the gateway.")
    client_ca: Path | None = Field(
        default=None, description="PEM CA bundle that client certificates must chain to."
    )
    client_certificates: Literal["optional", "required"] = Field(
        default="optional",
        description="With `client_ca`: `required` refuses the TLS handshake without a valid "
        "client certificate; `optional` verifies one when sent (the `mtls` check then decides).",
    )


class ServerSettings(StrictModel):
    """The data-plane listener."""

    tls: TlsSettings | None = Field(
        default=None, description="Serve HTTPS instead of HTTP (and mTLS with `client_ca`)."
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Peers whose X-Forwarded-For/-Proto and X-Request-Id are believed.",
    )
    drain_seconds: float = Field(
        default=15.0, ge=0, description="On shutdown, how long in-flight requests may finish."
    )
    keepalive_seconds: float = Field(
        default=75.0, gt=0, description="Idle time before a client connection is closed."
    )
    max_header_bytes: int = Field(
        default=8190, ge=1024, le=65536, description="Longest request line or header field."
    )
    max_headers: int = Field(default=128, ge=8, le=1024, description="Most request headers.")


class SqliteSink(StrictModel):
    """Events in an embedded SQLite database (WAL), queryable with `wardgate events`."""

    type: Literal["sqlite"] = "sqlite"
    path: Path | None = Field(
        default=None, description="Database file; defaults to events.sqlite3 in the state dir."
    )
    retention_days: float | None = Field(
        default=30.0, gt=0, description="Events older than this are deleted; null keeps all."
    )


class JsonLinesSink(StrictModel):
    """Events as JSON Lines, to a file or to standard output (`-`)."""

    type: Literal["jsonl"] = "jsonl"
    path: str = Field(default="-", description="File to append to, or `-` for stdout.")


EventSink = Annotated[SqliteSink | JsonLinesSink, Field(discriminator="type")]


def _default_sinks() -> list[EventSink]:
    return [SqliteSink()]


class EventSettings(StrictModel):
    """Where the redacted per-request events go, and how much may wait in memory."""

    sinks: list[EventSink] = Field(
        default_factory=_default_sinks, description="Event sinks; each gets every event."
    )
    queue_size: int = Field(
        default=10000,
        ge=1,
        description="Events waiting to be written; when full, requests wait (never dropped).",
    )
    batch_size: int = Field(default=512, ge=1, description="Most events written at once.")


class DiscoverySettings(StrictModel):
    """Learning the API inventory from live traffic, off the request path."""

    enabled: bool = Field(default=False, description="Learn endpoints from every route.")
    sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests learned from (0 to 1)."
    )
    store: str | None = Field(
        default=None,
        description="Inventory store: a SQLite path, sqlite:///path or postgresql://...; "
        "default: inventory.db in the state directory.",
    )
    cpu_budget: float = Field(
        default=0.005,
        gt=0,
        le=1,
        description="Most of one core learning may take; past it, calls wait in a bounded "
        "queue and the newest are skipped when it is full.",
    )
    queue_size: int = Field(
        default=1000,
        ge=1,
        description="Calls waiting to be learned; when full, new calls are skipped (counted).",
    )
    flush_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="How often learned endpoints reach the store."
    )
    max_body: int = Field(
        default=64 * 1024, ge=0, description="Bytes of a body kept for schema learning."
    )
    max_endpoints_per_host: int = Field(
        default=5000, ge=1, description="Templates per host before paths fall into noise."
    )


class MemoryCounters(StrictModel):
    """Counters in each process's memory: exact for one process. With several workers or
    machines every process counts on its own, so a limit of N allows up to N per process."""

    type: Literal["memory"] = "memory"


class RedisCounters(StrictModel):
    """Counters in Redis, shared by every worker and machine: limits hold globally."""

    type: Literal["redis"] = "redis"
    url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://)."
    )
    prefix: str = Field(default="wardgate:", description="Prefix of every key Wardgate writes.")
    timeout: float = Field(
        default=0.25, gt=0, le=10, description="Connect and reply timeout, seconds."
    )


CounterSettings = Annotated[MemoryCounters | RedisCounters, Field(discriminator="type")]


class Stores(StrictModel):
    """Where shared state lives."""

    counters: CounterSettings = Field(
        default_factory=MemoryCounters,
        description="Rate limits, token limits, budgets and concurrency counters.",
    )


class ModelPrice(StrictModel):
    """A model's price in USD per million tokens."""

    input: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output: float = Field(ge=0, description="USD per million output (completion) tokens.")


class Policy(StrictModel):
    """A Wardgate policy (version 1)."""

    version: Literal[1] = Field(description="Policy format version; must be 1.")
    mode: Mode = Field(
        default=Mode.ENFORCE, description="Default mode of every check that sets none."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="Listener.")
    events: EventSettings = Field(default_factory=EventSettings, description="Event sinks.")
    stores: Stores = Field(default_factory=Stores, description="Shared state.")
    discovery: DiscoverySettings = Field(
        default_factory=DiscoverySettings, description="API inventory learned from traffic."
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="Model prices for budgets and usage reports. Keys are model names or "
        "shell-style patterns (`gpt-4o*`, `*`); exact names win, then the first pattern.",
    )
    upstreams: dict[str, Upstream] = Field(description="Named upstreams.")
    routes: list[Route] = Field(min_length=1, description="Routes, first match wins.")

    @field_validator("routes")
    @classmethod
    def _unique_route_names(cls, routes: list[Route]) -> list[Route]:
        names = [r.name for r in routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique: {', '.join(duplicates)}")
        return routes

    @model_validator(mode="after")
    def _references(self) -> Policy:
        for route in self.routes:
            if route.upstream not in self.upstreams:
                known = ", ".join(sorted(self.upstreams)) or "none"
                raise ValueError(
                    f"route {route.name!r} names unknown upstream {route.upstream!r} "
                    f"(known: {known})"
                )
        return self
