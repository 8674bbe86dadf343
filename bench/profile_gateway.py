#!/usr/bin/env python3
"""Where the gateway's CPU goes: cProfile of one gateway process under wrk.

    .venv/bin/python bench/profile_gateway.py [--policy bench/policies/passthrough.yaml]

Starts bench/fast_upstream.py (CPU 1) and the gateway in this process (CPU 0), drives it
with wrk at 16 connections for 8 s with the 2 KB chat body, and prints the top functions by
own time plus the share of the request handler's time spent in the upstream client
(`UpstreamPool.send`). cProfile slows everything down; read shares, not absolute times.
Needs wrk (make bench installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UPSTREAM_PORT, GATEWAY_PORT = 19190, 19191


def _lua(path: Path) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 1900}]}
    path.write_text(
        f'wrk.method="POST"\nwrk.body={json.dumps(json.dumps(body))}\n'
        'wrk.headers["Content-Type"]="application/json"\n'
        'wrk.headers["Authorization"]="Bearer sk-bench"\n'
    )


async def _run(policy: Path, lua: Path) -> pstats.Stats:
    from wardgate.policy.load import load_policy
    from wardgate.runtime import start_gateway

    process = await start_gateway(load_policy(policy), "127.0.0.1", GATEWAY_PORT)
    url = f"http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions"
    wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c16", "-d8s", "-s", str(lua), url]
    load = await asyncio.create_subprocess_exec(*wrk, stdout=asyncio.subprocess.PIPE)
    profile = cProfile.Profile()
    profile.enable()
    output, _ = await load.communicate()
    profile.disable()
    await process.stop()
    print(output.decode().strip().splitlines()[-2])
    return pstats.Stats(profile)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", type=Path, default=REPO / "bench/policies/passthrough.yaml")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_UPSTREAM"] = f"http://127.0.0.1:{UPSTREAM_PORT}"
        os.environ["WARDGATE_STATE_DIR"] = tmp
        lua = Path(tmp) / "post.lua"
        _lua(lua)
        upstream = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, str(REPO / "bench/fast_upstream.py"),
             "--port", str(UPSTREAM_PORT)]
        )  # fmt: skip
        try:
            time.sleep(1.0)
            import uvloop

            stats = uvloop.run(_run(args.policy, lua))
        finally:
            upstream.terminate()
            upstream.wait()
    cumulative = {f"{Path(k[0]).name}:{k[2]}": v[3] for k, v in stats.stats.items()}  # type: ignore[attr-defined]
    handler = cumulative.get("gateway.py:handle", 0.0)
    client = cumulative.get("upstream.py:send", 0.0)
    if handler:
        print(
            f"upstream client (UpstreamPool.send) share of Gateway.handle: {client / handler:.0%}"
        )
    stats.sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
