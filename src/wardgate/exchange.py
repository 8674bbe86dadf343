"""Everything about one request, from accept to log: the only per-request state there is.

Checks are shared and immutable; whatever they learn about a request (identity, findings,
the PII vault, stream windows) lives here and dies with the request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wardgate.decision import Action, CheckOutcome
from wardgate.providers.base import ProviderAdapter
from wardgate.providers.call import LLMCall, Usage

__all__ = ["Exchange", "Identity"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: set by the identity checks, read by every later one."""

    consumer: str
    group: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Exchange:
    """One request/response exchange.

    `headers` is the client's request headers (case-insensitive, multi-valued); `body` is
    set only when a check of the route needed it buffered. `call` is the parsed AI request
    (routes with an AI provider), `usage` what the upstream reported it cost, `peer_cert`
    the client's verified TLS certificate (as `ssl.SSLSocket.getpeercert()` returns it).
    """

    request_id: str
    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    client_ip: str
    scheme: str = "http"
    host: str = ""
    route: str | None = None
    identity: Identity | None = None
    body: bytes | None = None
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    status: int = 0
    latency_ms: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None
    upstream: str | None = None
    response_headers: Mapping[str, str] | None = None
    response_body: bytes | None = None
    vault: dict[str, Any] = field(default_factory=dict)
    provider: ProviderAdapter | None = None
    call: LLMCall | None = None
    model: str | None = None
    usage: Usage | None = None
    cost_micros: int | None = None
    peer_cert: Mapping[str, Any] | None = None

    @property
    def action(self) -> Action:
        """The strongest action any check took (monitor-mode blocks count as flags)."""
        if not self.outcomes:
            return Action.ALLOW
        return max(o.decision.action for o in self.outcomes)

    @property
    def would_block(self) -> bool:
        return bool(self.outcomes) and any(o.would_block for o in self.outcomes)

    def release_payloads(self) -> None:
        """Drop bodies and headers once the log phase is done: the event needs neither, and
        a queued event must not keep a request's memory alive."""
        self.body = None
        self.response_body = None
        self.headers = {}
        self.response_headers = None
        self.vault.clear()
        self.peer_cert = None
        self.call = None  # its messages are payload; `model` and `usage` stay for the event

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0
