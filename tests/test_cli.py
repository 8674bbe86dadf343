"""The command line: real processes for serve (workers, drain), CliRunner for the rest."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import orjson
from click.testing import CliRunner

from tests.conftest import WARDGATE, Serve, Upstream, free_port, policy_text, wait_ready
from wardgate import __version__
from wardgate.cli import main
from wardgate.decision import CheckOutcome, Decision, Finding
from wardgate.exchange import Exchange


async def test_serve_with_two_workers(upstream: Upstream, serve: Serve, tmp_path: Path) -> None:
    base, process = serve(
        policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db"), "--workers", "2"
    )
    await wait_ready(base, process)
    async with aiohttp.ClientSession() as http:
        for i in range(40):
            async with http.get(f"{base}/echo/{i}") as response:
                assert response.status == 200
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 20) == 0
    result = CliRunner().invoke(main, ["events", "--db", str(tmp_path / "e.db"), "--limit", "1000"])
    assert len(result.output.splitlines()) == 40


async def test_shutdown_drains_in_flight_requests(
    upstream: Upstream, serve: Serve, tmp_path: Path
) -> None:
    base, process = serve(policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db"))
    await wait_ready(base, process)
    async with aiohttp.ClientSession() as http:
        slow = asyncio.ensure_future(
            http.get(f"{base}/echo", headers={"x-demo-fault": "slow", "x-demo-delay-ms": "1000"})
        )
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        response = await slow
        assert response.status == 200
        response.release()
    assert await asyncio.to_thread(process.wait, 20) == 0


async def test_demo_serves_the_openai_sdk_out_of_the_box(tmp_path: Path) -> None:
    from openai import AsyncOpenAI

    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, then awaited over HTTP
        [
            *WARDGATE,
            "demo",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}", process)
        async with AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="demo-key"
        ) as client:
            reply = await client.chat.completions.create(
                model="any-model", messages=[{"role": "user", "content": "Hello!"}]
            )
        assert reply.choices[0].message.content == "Echo: Hello!"
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    banner = output.decode()
    assert f'base_url="http://127.0.0.1:{port}/v1", api_key="demo-key"' in banner
    assert process.returncode == 0


def test_version() -> None:
    assert CliRunner().invoke(main, ["version"]).output.strip() == f"wardgate {__version__}"


def test_help_lists_every_command() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for command in ("serve", "demo", "check", "events", "policy-schema", "version"):
        assert command in output


def test_serve_refuses_an_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nupstreams: {}\nroutes: []\n")
    result = CliRunner().invoke(main, ["serve", "--policy", str(path)])
    assert result.exit_code == 1
    assert "bad.yaml:3: routes" in result.output


def test_events_filters(tmp_path: Path) -> None:
    from wardgate.observe.sqlite_sink import SqliteEventStore

    store = SqliteEventStore(tmp_path / "e.db")
    now = time.time()

    def record(request_id: str, ts: float, blocked: bool, route: str) -> Exchange:
        ex = Exchange(request_id, "GET", "/", "", {}, "127.0.0.1", route=route, started_at=ts)
        if blocked:
            decision = Decision.block(403, [Finding(kind="t.k", rule="t.r")])
            ex.outcomes.append(CheckOutcome("c", "request_headers", decision))
        return ex

    batch = [
        record("old", now - 3600, True, "chat"),
        record("new-block", now - 5, True, "chat"),
        record("new-allow", now - 5, False, "chat"),
        record("other-route", now - 5, True, "embed"),
    ]
    store.write(store.encode(batch))
    store.close()
    result = CliRunner().invoke(
        main,
        [
            "events",
            "--db",
            str(tmp_path / "e.db"),
            "--since",
            "10m",
            "--action",
            "block",
            "--route",
            "chat",
        ],
    )
    assert result.exit_code == 0
    assert [orjson.loads(line)["request_id"] for line in result.output.splitlines()] == [
        "new-block"
    ]
    bad = CliRunner().invoke(
        main, ["events", "--db", str(tmp_path / "e.db"), "--since", "ten minutes"]
    )
    assert bad.exit_code == 2 and "use a number and s, m, h, d or w" in bad.output
