"""The data-plane listener: the gateway behind our HTTP/1.1 server (`http1`).

Requests the server cannot parse never reach the gateway: they are answered here as
problem+json, without parser internals, and still recorded as an event.
"""

from __future__ import annotations

import ssl

from wardgate.exchange import Exchange
from wardgate.policy.model import TlsSettings
from wardgate.proxy.gateway import Gateway
from wardgate.proxy.headers import new_trace
from wardgate.proxy.http1 import HttpServer, Reply
from wardgate.proxy.problems import problem_for, problem_reply

__all__ = ["Listener", "tls_context"]


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """Server TLS 1.2+; with a client CA, client certificates are verified against it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.cert, settings.key)
    if settings.client_ca is not None:
        context.load_verify_locations(settings.client_ca)
        context.verify_mode = (
            ssl.CERT_REQUIRED if settings.client_certificates == "required" else ssl.CERT_OPTIONAL
        )
    context.set_alpn_protocols(["http/1.1"])
    return context


class Listener:
    """One data-plane socket serving a `Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.port = 0
        self._server: HttpServer | None = None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        settings = self.gateway.plan.policy.server
        self._server = HttpServer(
            self.gateway.handle,
            self._reject,
            keepalive_seconds=settings.keepalive_seconds,
            max_line=settings.max_header_bytes,
            max_headers=settings.max_headers,
        )
        tls = tls_context(settings.tls) if settings.tls is not None else None
        self.port = await self._server.start(host, port, reuse_port=reuse_port, tls=tls)
        return self.port

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to drain_seconds), close."""
        self.gateway.ready = False
        if self._server is not None:
            await self._server.stop(self.gateway.plan.policy.server.drain_seconds)

    def _reject(self, remote: str, status: int) -> Reply:
        request_id, _ = new_trace()
        self.gateway.events.record_soon(
            Exchange(
                request_id=request_id,
                method="-",
                path="-",
                query_string="",
                headers={},
                client_ip=remote,
                status=status,
                error="malformed-http" if status < 500 else "internal-error",
            )
        )
        return problem_reply(problem_for(status, request_id))
