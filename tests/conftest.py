"""Shared fixtures: a real demo upstream and a real gateway, each on an ephemeral port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from wardgate.demo.upstream import RequestRecorder, start_demo_upstream
from wardgate.policy.load import parse_policy
from wardgate.runtime import GatewayProcess, start_gateway


@dataclass
class Upstream:
    port: int
    recorder: RequestRecorder

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path


@dataclass
class Gateway:
    process: GatewayProcess
    events_db: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    async def flush_events(self) -> None:
        await self.process.events.flush()


def policy_text(
    upstream_targets: str, routes: str = "", *, events_db: Path, extra: str = ""
) -> str:
    """A policy with one upstream `up` and the given routes (a default catch-all if none)."""
    routes = (
        routes
        or """
      - name: api
        match: {path_prefix: /}
        upstream: up
        provider: openai
    """
    )
    return (
        textwrap.dedent(f"""
        version: 1
        events:
          sinks: [{{type: sqlite, path: "{events_db}"}}]
        upstreams:
          up:
            targets: {upstream_targets}
            timeouts: {{connect: 1, read: 2, total: 5}}
            eject: {{failures: 1, seconds: 30}}
        routes:
        """)
        + textwrap.dedent(routes)
        + textwrap.dedent(extra)
    )


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    recorder = RequestRecorder()
    runner, port = await start_demo_upstream(recorder=recorder)
    try:
        yield Upstream(port, recorder)
    finally:
        await runner.cleanup()


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Start gateways from policy text; all are stopped (and drained) at teardown."""
    started: list[GatewayProcess] = []

    async def make(text: str, *, policy_path: Path | None = None) -> Gateway:
        policy = parse_policy(text, "test-policy.yaml")
        process = await start_gateway(policy, "127.0.0.1", 0, policy_path=policy_path)
        started.append(process)
        return Gateway(process, tmp_path / "events.sqlite3")

    yield make
    for process in started:
        await process.stop()


@pytest.fixture
async def gateway(upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path) -> Gateway:
    """The gateway in front of the demo upstream, one catch-all OpenAI route, no checks."""
    return await make_gateway(
        policy_text(f'["{upstream.base}"]', events_db=tmp_path / "events.sqlite3")
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


WARDGATE = [sys.executable, "-m", "wardgate"]
Serve = Callable[..., tuple[str, subprocess.Popen[bytes]]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            assert process.poll() is None, "the gateway exited early"
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("gateway never became ready")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(policy: str, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
        path = tmp_path / f"policy-{len(processes)}.yaml"
        path.write_text(policy)
        port = free_port()
        process = subprocess.Popen(
            [
                *WARDGATE,
                "serve",
                "--policy",
                str(path),
                "--port",
                str(port),
                "--log-level",
                "warning",
                *extra,
            ],
            env={**os.environ, "WARDGATE_STATE_DIR": str(tmp_path / "state")},
        )
        processes.append(process)
        return f"http://127.0.0.1:{port}", process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
