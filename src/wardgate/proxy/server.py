"""The HTTP listener: aiohttp's low-level server, kept behind this one module.

It parses HTTP/1.1 strictly (requests with both Content-Length and Transfer-Encoding,
duplicate Content-Length, or obs-fold header lines are refused with 400 by the parser and
never reach the gateway), answers every parse error as problem+json without parser
internals, and drains in-flight requests on shutdown.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from wardgate.exchange import Exchange
from wardgate.proxy.gateway import Gateway
from wardgate.proxy.headers import new_trace
from wardgate.proxy.problems import problem_for, problem_response

__all__ = ["Listener"]

log = logging.getLogger(__name__)


class _ProtocolHandler(RequestHandler):
    """aiohttp's per-connection protocol, with our answer to requests it cannot parse."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        request_id, _ = new_trace()
        response = problem_response(problem_for(status, request_id))
        response.force_close()
        manager = self._manager
        if manager is None:
            return response  # the connection is already gone: nothing to record against
        gateway: Gateway = manager.gateway  # type: ignore[attr-defined]
        if status >= 500:
            log.error("internal error on request %s", request_id, exc_info=exc)
        ex = Exchange(
            request_id=request_id,
            method="-",
            path="-",
            query_string="",
            headers={},
            client_ip=request.remote or "",
            status=status,
            error="malformed-http" if status < 500 else "internal-error",
        )
        gateway.events.record_soon(ex)
        return response


class _Server(web.Server):
    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(gateway.handle, **kwargs)
        self.gateway = gateway

    def __call__(self) -> RequestHandler:
        return _ProtocolHandler(self, loop=self._loop, **self._kwargs)


class Listener:
    """One data-plane socket serving a `Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.plan.policy.server
        self._server = _Server(
            gateway,
            keepalive_timeout=settings.keepalive_seconds,
            max_line_size=settings.max_header_bytes,
            max_field_size=settings.max_header_bytes,
            max_headers=settings.max_headers,
            access_log=None,
        )
        self._runner = web.ServerRunner(
            self._server, handle_signals=False, shutdown_timeout=settings.drain_seconds
        )
        self.port = 0

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_port=reuse_port, backlog=1024)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to drain_seconds), close."""
        self.gateway.ready = False
        await self._runner.cleanup()
