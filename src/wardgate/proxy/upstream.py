"""Pooled upstream connections, round-robin targets with passive ejection.

This is the only module that knows the HTTP client library: its exceptions are mapped here
to the most specific `UpstreamError`, so the rest of Wardgate never sees them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy

from wardgate.errors import (
    UpstreamConnectError,
    UpstreamConnectTimeout,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from wardgate.observe.metrics import METRICS
from wardgate.policy.model import Timeouts, Upstream

__all__ = ["UpstreamPool", "UpstreamResponse", "client_timeout"]

READ_CHUNK = 64 * 1024
Body = bytes | AsyncIterable[bytes] | None


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read
    )


@dataclass(slots=True)
class _Target:
    base: str
    failures: int = 0
    ejected_until: float = 0.0


class UpstreamResponse:
    """A response whose body is read through methods that map client errors to ours."""

    __slots__ = ("_response", "target")

    def __init__(self, response: aiohttp.ClientResponse, target: str) -> None:
        self._response = response
        self.target = target

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    @property
    def content_length(self) -> int | None:
        return self._response.content_length

    async def read(self, limit: int) -> bytes:
        """The whole body, refusing one larger than `limit` bytes."""
        if self.content_length is not None and self.content_length > limit:
            raise UpstreamProtocolError("response over the route's response limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise UpstreamProtocolError("response over the route's response limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive (at most 64 KiB at a time)."""
        content = self._response.content
        while True:
            with _mapped_errors():
                chunk = await content.readany()
            if not chunk:
                return
            yield chunk

    def release(self) -> None:
        self._response.release()

    def abort(self) -> None:
        self._response.close()


class UpstreamPool:
    """One named upstream: keep-alive connections shared by every request of every route.

    Targets are tried round-robin; a target that fails to connect `eject.failures` times in a
    row is skipped for `eject.seconds`. A connect failure is retried on the next target when
    the body can be replayed (it is bytes, not a stream).
    """

    def __init__(self, name: str, config: Upstream) -> None:
        self.name = name
        self.config = config
        self._targets = [_Target(base) for base in config.targets]
        self._cursor = 0
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.in_flight = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise UpstreamConnectError("upstream pool retired")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                limit_per_host=0,
                keepalive_timeout=self.config.keepalive_seconds,
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def _pick(self, now: float) -> _Target:
        targets = self._targets
        for _ in range(len(targets)):
            target = targets[self._cursor % len(targets)]
            self._cursor += 1
            if target.ejected_until <= now:
                return target
        # Every target is resting: try the one that comes back soonest rather than failing.
        return min(targets, key=lambda t: t.ejected_until)

    def _failed(self, target: _Target, now: float) -> None:
        target.failures += 1
        if target.failures >= self.config.eject.failures:
            target.ejected_until = now + self.config.eject.seconds
            target.failures = 0

    async def send(
        self,
        method: str,
        path_qs: str,
        headers: Iterable[tuple[str, str]],
        body: Body,
        timeouts: aiohttp.ClientTimeout,
    ) -> UpstreamResponse:
        """Send a request; return once response headers have arrived."""
        headers = list(headers)
        attempts = len(self._targets) if isinstance(body, bytes | None) else 1
        last_error: UpstreamError | None = None
        for _ in range(attempts):
            now = time.monotonic()
            target = self._pick(now)
            try:
                with _mapped_errors():
                    response = await self._client().request(
                        method,
                        target.base + path_qs,
                        headers=headers,
                        data=body,
                        timeout=timeouts,
                        allow_redirects=False,
                        compress=False,
                    )
            except (UpstreamConnectError, UpstreamConnectTimeout) as exc:
                self._failed(target, now)
                last_error = exc
                continue
            target.failures = 0
            return UpstreamResponse(response, target.base)
        assert last_error is not None
        raise last_error

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


class _mapped_errors:
    """Context manager translating the client library's exceptions into `UpstreamError`s."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return
        mapped = _map(exc)
        if mapped is not None:
            METRICS.upstream_errors[mapped.slug] += 1
            raise mapped from exc


def _map(exc: BaseException) -> UpstreamError | None:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamConnectTimeout("connect timeout")
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout("timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectError("connect failed")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return UpstreamProtocolError(type(exc).__name__)
    return None
