"""Real backing services for tests: Redis at 127.0.0.1:6379, PostgreSQL at 127.0.0.1:5432
(database `test`, user `postgres`, trust auth), and a relay that can cut Redis.

Outside CI a test whose service is absent skips with the reason; with CI=true it fails, so
a green CI run always means the real service was exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432


def redis_url() -> str:
    """The test Redis, or skip (fail under CI) when it is not running."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            pass
    except OSError as exc:
        message = f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def postgres_url() -> str:
    """The test PostgreSQL, or skip (fail under CI) when it is not running."""
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=0.5):
            pass
    except OSError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"


def unique_schema() -> str:
    """A PostgreSQL schema name no other test uses (tests may share the server)."""
    return f"wardgate_test_{uuid.uuid4().hex[:12]}"


def unique_prefix() -> str:
    """Keys of one test never meet another's (tests may share the server)."""
    return f"wardgate-test:{uuid.uuid4().hex[:12]}:"


class TcpRelay:
    """A TCP relay to a real server that a test can stop (connections cut, new ones
    refused) and start again on the same port: a service going down and coming back."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(_pump(reader, up_writer)),
            asyncio.create_task(_pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        for pump in pumps:
            pump.add_done_callback(self._tasks.discard)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
