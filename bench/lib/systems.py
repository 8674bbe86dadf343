"""The systems under test: how each is started, pinned, checked, and what its CPU time is."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lib.procs import Procs, descendants, foreign_cpu, log, tail, wait_port

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
PYTHON = REPO / ".venv" / "bin" / "python"
WARDGATE = REPO / ".venv" / "bin" / "wardgate"
UPSTREAM_PYTHON = BENCH / ".venv-upstream" / "bin" / "python"
LITELLM = BENCH / ".venv-litellm" / "bin" / "litellm"
FLOOR = REPO.parent / "shared" / "bench" / "aiohttp_proxy.py"
GATEWAY_CPU = "0"  # the system under test
LOAD_CPU = "1"  # upstream, wrk and the streaming client
PATH = "/v1/chat/completions"
QUIET_CORES = 0.10  # CPU use by other processes (in cores) above which the machine is busy
BEARER = "sk-bench"  # LiteLLM's master key in bench/litellm_config.yaml; others forward it


@dataclass
class Ctx:
    """What every section shares in one run."""

    procs: Procs
    tmp: Path
    quick: bool
    body_file: Path
    stream_body_file: Path
    event_delay_ms: float
    upstream_port: int = 0
    litellm_problem: str | None = None  # why LiteLLM rows are skipped, if they are
    anomalies: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    load_ends: list[float] = field(default_factory=list)  # wall-clock ends of load runs
    quiet_budget: float = 0.0  # seconds this run may still wait for other work to go quiet

    def wait_quiet(self, before: str, settle: float = 5.0) -> None:
        """With a budget (--wait-quiet), wait until processes outside this run have used under
        QUIET_CORES for `settle` seconds in a row; all waits together stay within the budget."""
        if self.quiet_budget <= 0:
            return
        started = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - started < self.quiet_budget:
            cores, top = foreign_cpu(1.0)
            if cores < QUIET_CORES:
                quiet_since = quiet_since or time.monotonic() - 1.0
                if time.monotonic() - quiet_since >= settle:
                    break
            else:
                if quiet_since is not None or time.monotonic() - started < 1.5:
                    log(f"waiting before {before}: others use {cores:.2f} cores ({', '.join(top)})")
                quiet_since = None
        spent = time.monotonic() - started
        self.quiet_budget = max(0.0, self.quiet_budget - spent)
        if spent > settle + 2:
            log(f"waited {spent:.0f} s for other processes to go quiet before {before}")

    def load_ended(self) -> None:
        """Mark the end of a wrk/client run: it closes its connections, requests in flight."""
        self.load_ends.append(time.time())

    def note(self, message: str) -> None:
        log(f"NOTE: {message}")
        self.anomalies.append(message)


@dataclass
class Running:
    key: str
    port: int
    proc: subprocess.Popen[bytes] | None
    log_path: Path | None = None

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc is not None else []


@dataclass(frozen=True)
class System:
    key: str
    label: str
    start: Callable[[Ctx, str | None, int], Running]
    pinning: str  # for the report

    def launch(self, ctx: Ctx, cpus: str | None = GATEWAY_CPU, workers: int = 1) -> Running:
        log(f"starting {self.label}")
        return self.start(ctx, cpus, workers)

    def stop(self, ctx: Ctx, running: Running) -> None:
        if running.proc is None:
            return
        ctx.procs.stop(running.key)
        summary = log_problems(running.log_path, ctx.load_ends)
        if summary:
            ctx.note(f"{self.label} (`bench/results/logs/{running.log_path.name}`): {summary}")


ERROR_LINE = re.compile(
    r"Traceback|\b(?:ERROR|CRITICAL)\b|\[(?:error|crit|alert|emerg)\]", re.IGNORECASE
)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3})")
EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Reset\w*))\b")


def log_problems(path: Path | None, load_ends: list[float]) -> str:
    """A one-line summary of the error entries in a process's output ('' if none): how many,
    which exceptions, and how many were logged within 2 s of a load run closing its
    connections (requests cut off in flight)."""
    if path is None or not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()[1:]  # the first line is the command
    entries = [line for line in lines if ERROR_LINE.search(line) and "Traceback" not in line]
    tracebacks = sum("Traceback (most recent call last)" in line for line in lines)
    if not entries and not tracebacks:
        return ""
    kinds = Counter(m.group(1) for line in lines if (m := EXCEPTION.match(line.strip())))
    near_end = 0
    for line in entries:
        if m := STAMP.match(line):
            stamp = (
                time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            )
            near_end += any(-1.0 <= stamp - end <= 2.0 for end in load_ends)
    stamped = sum(bool(STAMP.match(line)) for line in entries)
    parts = [f"{len(entries)} error log entries, {tracebacks} tracebacks"]
    if kinds:
        parts.append("exceptions: " + ", ".join(f"`{k}` x{n}" for k, n in kinds.most_common(4)))
    if stamped:
        parts.append(
            f"{near_end} of the {stamped} timestamped entries fall within 2 s after the "
            "end of a load run, when the load generator closes connections with "
            "requests in flight"
        )
    first = next((line.strip() for line in entries), "")
    if first:
        parts.append(f"first: `{first[:160]}`")
    return "; ".join(parts)


def _start(
    ctx: Ctx,
    key: str,
    argv: list[str],
    cpus: str | None,
    port: int,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Running:
    proc = ctx.procs.start(key, argv, cpus=cpus, env=env)
    path = ctx.procs.log_path(key)
    try:
        wait_port(port, proc, timeout, path)
    except RuntimeError:
        ctx.procs.stop(key)
        raise
    return Running(key, port, proc, path)


def start_upstream(ctx: Ctx) -> Running:
    port = ctx.procs.port(19100)
    argv = [
        str(UPSTREAM_PYTHON),
        str(BENCH / "fast_upstream.py"),
        "--port",
        str(port),
        "--event-delay-ms",
        str(ctx.event_delay_ms),
    ]
    running = _start(ctx, "upstream", argv, LOAD_CPU, port, 20)
    ctx.upstream_port = port
    # Sizes for the report, read off the running upstream.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", PATH, body=b'{"model": "bench"}')
    ctx.facts["completion_bytes"] = str(len(conn.getresponse().read()))
    conn.request("POST", PATH, body=b'{"model": "bench", "stream": true}')
    events = [e for e in conn.getresponse().read().split(b"\n\n") if e.startswith(b"data: {")]
    sizes = sorted(len(e) + 2 for e in events)
    ctx.facts["event_bytes"] = f"{sizes[0]}-{sizes[-1]}"
    conn.close()
    return running


def upstream_requests(ctx: Ctx) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", ctx.upstream_port, timeout=5)
    try:
        conn.request("GET", "/__stats")
        return int(json.loads(conn.getresponse().read())["requests"])
    finally:
        conn.close()


def _direct(ctx: Ctx, cpus: str | None, workers: int) -> Running:
    return Running("direct", ctx.upstream_port, None)


NGINX_CONF = """# Written by bench/run.py: nginx as a plain reverse proxy.
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream bench {{
        server 127.0.0.1:{upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def _nginx(ctx: Ctx, cpus: str | None, workers: int) -> Running:
    port = ctx.procs.port(19101)
    prefix = ctx.tmp / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=prefix, upstream=ctx.upstream_port, port=port))
    return _start(ctx, "nginx", ["nginx", "-p", str(prefix), "-c", str(conf)], cpus, port, 20)


def _aiohttp(ctx: Ctx, cpus: str | None, workers: int) -> Running:
    port = ctx.procs.port(19102)
    argv = [
        str(PYTHON),
        str(FLOOR),
        "--port",
        str(port),
        "--upstream",
        f"http://127.0.0.1:{ctx.upstream_port}",
    ]
    return _start(ctx, "aiohttp-floor", argv, cpus, port, 30)


def _litellm(ctx: Ctx, cpus: str | None, workers: int) -> Running:
    if ctx.litellm_problem:
        raise RuntimeError(ctx.litellm_problem)
    port = ctx.procs.port(19103)
    argv = [
        str(LITELLM),
        "--config",
        str(BENCH / "litellm_config.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    env = {
        "BENCH_LITELLM_API_BASE": f"http://127.0.0.1:{ctx.upstream_port}/v1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start
        "LITELLM_LOG": "ERROR",  # no per-request access log (no one else writes one either)
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    return _start(ctx, "litellm", argv, cpus, port, 180, env)


def _wardgate(policy: str, preferred: int) -> Callable[[Ctx, str | None, int], Running]:
    def start(ctx: Ctx, cpus: str | None, workers: int) -> Running:
        key = f"wardgate-{policy}-w{workers}"
        port = ctx.procs.port(preferred)
        state = ctx.tmp / f"state-{key}"
        state.mkdir(exist_ok=True)
        argv = [
            str(WARDGATE),
            "serve",
            "--policy",
            str(BENCH / "policies" / f"{policy}.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--state-dir",
            str(state),
            "--log-level",
            "warning",
        ]
        env = {"BENCH_UPSTREAM": f"http://127.0.0.1:{ctx.upstream_port}"}
        return _start(ctx, key, argv, cpus, port, 60, env)

    return start


PINNED = f"CPU {GATEWAY_CPU}"
SYSTEMS = {
    s.key: s
    for s in (
        System("direct", "direct (no proxy)", _direct, "-"),
        System("nginx", "nginx reverse proxy", _nginx, PINNED + " (master + 1 worker)"),
        System("aiohttp", "aiohttp floor", _aiohttp, PINNED),
        System("litellm", "LiteLLM proxy", _litellm, PINNED + " (whole process tree)"),
        System("wg-pass", "Wardgate passthrough", _wardgate("passthrough", 19104), PINNED),
        System("wg-checks", "Wardgate + demo checks", _wardgate("demo-checks", 19105), PINNED),
        System("wg-holdback", "Wardgate hold-back 200", _wardgate("holdback", 19106), PINNED),
        System(
            "wg-meter", "Wardgate + demo checks + metering", _wardgate("metering", 19107), PINNED
        ),
        System(
            "wg-discovery",
            "Wardgate + demo checks + discovery",
            _wardgate("discovery", 19108),
            PINNED,
        ),
    )
}


def check(ctx: Ctx, running: Running, *, stream: bool) -> list[str]:
    """One plain and (optionally) one streamed request; the problems found, if any."""
    problems = []
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {BEARER}",
        "User-Agent": "wardgate-bench/1 (check)",
    }
    try:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        conn.request("POST", PATH, body=ctx.body_file.read_bytes(), headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or b"chat.completion" not in body:
            problems.append(f"plain request: HTTP {response.status}: {body[:200]!r}")
        if stream:
            conn.request("POST", PATH, body=ctx.stream_body_file.read_bytes(), headers=headers)
            response = conn.getresponse()
            body = response.read()
            kind = response.getheader("Content-Type", "")
            events = body.count(b"data:")
            if response.status != 200 or not kind.startswith("text/event-stream") or events != 21:
                problems.append(
                    f"streamed request: HTTP {response.status}, {kind}, {events} events"
                )
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        problems.append(f"request failed: {exc!r}")
    if problems and running.log_path is not None:
        problems.append("log tail: " + tail(running.log_path, 5).replace("\n", " | "))
    return problems
