"""Candidate 5b: a granian RSGI proxy app (granian's own Rust-facing interface) + aiohttp client.

Started by bench/stacks.py through granian's CLI (--interface rsgi); the upstream base URL
comes from $STACKS_UPSTREAM.
"""

from typing import Any

from aiohttp import ClientSession
from proxy_common import end_to_end, is_event_stream, new_aiohttp_session, upstream_from_environment


class Proxy:
    """Granian calls __rsgi__ once per request."""

    def __init__(self) -> None:
        self.upstream = upstream_from_environment()
        # Made on the first request: an aiohttp session must be created inside the running loop.
        self.session: ClientSession | None = None

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if self.session is None:
            self.session = new_aiohttp_session()
        target = scope.path + ("?" + scope.query_string if scope.query_string else "")
        body = await protocol()
        async with self.session.request(
            scope.method,
            self.upstream + target,
            headers=end_to_end(scope.headers.items()),
            data=body,
        ) as upstream:
            headers = end_to_end(upstream.headers.items())
            if not is_event_stream(upstream.headers.get("Content-Type", "")):
                protocol.response_bytes(upstream.status, headers, await upstream.read())
                return
            transport = protocol.response_stream(upstream.status, headers)
            async for chunk in upstream.content.iter_any():
                await transport.send_bytes(chunk)


app = Proxy()
