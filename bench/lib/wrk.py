"""wrk: the Lua script that POSTs the benchmark body, running it, and reading its report."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lib.procs import Procs

LUA = """-- Written by bench/run.py: POST the benchmark body to {path}.
local f = assert(io.open("{body_file}", "rb"))
wrk.method = "POST"
wrk.path = "{path}"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {bearer}"
wrk.headers["User-Agent"] = "wardgate-bench/1 (wrk)"
{limit}"""

LIMIT = """local done = 0
function response(status, headers, body)
  done = done + 1
  if done >= {count} then wrk.thread:stop() end
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    rc: int = 0
    raw: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def write_lua(path: Path, body_file: Path, url_path: str, bearer: str, count: int = 0) -> Path:
    limit = LIMIT.format(count=count) if count else ""
    path.write_text(LUA.format(path=url_path, body_file=body_file, bearer=bearer, limit=limit))
    return path


def run_wrk(
    procs: Procs,
    port: int,
    lua: Path,
    connections: int,
    seconds: float,
    *,
    cpus: str = "1",
    timeout_s: int = 10,
    name: str = "wrk",
) -> WrkResult:
    """One wrk run; `name` registers the process (concurrent runs need distinct names)."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}/",
    ]
    rc, out = procs.run(name, argv, cpus=cpus, timeout=seconds + 60)
    result = parse(out)
    result.rc = rc
    return result


def _ms(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse(out: str) -> WrkResult:
    result = WrkResult(raw=out)
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out):
        result.requests = int(m.group(1))
        result.seconds = _ms(m.group(2), m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result.rps = float(m.group(1))
    if m := re.search(r"^\s+50(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)", out, re.M):
        result.p50_ms = _ms(m.group(1), m.group(2))
    if m := re.search(r"^\s+99(?:\.000)?%\s+([\d.]+)(us|ms|s|m|h)", out, re.M):
        result.p99_ms = _ms(m.group(1), m.group(2))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result.non_2xx = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result.socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
        )
    return result
