#!/usr/bin/env python3
"""Choose Wardgate's server + upstream-client stack by measurement.

    python3 bench/stacks.py            # full run (~6 min), writes docs/stack-comparison.md
    python3 bench/stacks.py --quick    # 2 s runs, writes bench/results/stack-comparison-quick.md

Starts a fast fake upstream (bench/stacks/upstream.py), then each candidate proxy in turn
(bench/stacks/*.py, and the shared aiohttp floor as it is), checks that it forwards and
streams correctly, probes its HTTP parser with ambiguous framing, and drives it with wrk at
1, 16 and 64 connections, reading the proxy's CPU time from /proc. Candidates run from their
own venv, bench/.venv-stacks, made here with pinned versions; wrk comes from Debian.
Runs only on Linux (taskset, /proc); stops every process it started, also on Ctrl-C.
"""

import argparse
import ast
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACKS = REPO / "bench" / "stacks"
VENV = REPO / "bench" / ".venv-stacks"
PYTHON = str(VENV / "bin" / "python")
FLOOR = REPO.parent / "shared" / "bench" / "aiohttp_proxy.py"
PINS = (
    "aiohttp==3.14.5",
    "uvloop==0.23.0",
    "httptools==0.9.0",
    "uvicorn==0.54.0",
    "httpx==0.28.1",
    "granian==2.8.7",
)
CONNECTIONS = (1, 16, 64)
REQUEST_PATH = "/v1/chat/completions"
REQUEST_BODY_BYTES = 2048
NOTES_MARKER = (
    "<!-- Written by hand below this line; bench/stacks.py keeps it when it rewrites the file. -->"
)

sys.path.insert(0, str(STACKS))
import parser_probe  # noqa: E402  (stdlib only; lives beside the candidates)


@dataclass(frozen=True)
class Candidate:
    name: str
    server: str
    client: str
    command: tuple[str, ...]  # "{port}" and "{upstream}" are filled in at start


def script_proxy(path: Path) -> tuple[str, ...]:
    return (PYTHON, str(path), "--port", "{port}", "--upstream", "{upstream}")


UVICORN = (str(VENV / "bin" / "uvicorn"), "--host", "127.0.0.1", "--port", "{port}")
UVICORN_FLAGS = (
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
)
GRANIAN = (str(VENV / "bin" / "granian"), "--host", "127.0.0.1", "--port", "{port}")
GRANIAN_FLAGS = (
    "--loop",
    "uvloop",
    "--http",
    "1",
    "--no-ws",
    "--workers",
    "1",
    "--log-level",
    "warning",
)
CANDIDATES = (
    Candidate("floor", "aiohttp web.Application", "aiohttp", script_proxy(FLOOR)),
    Candidate(
        "aiohttp-lowlevel",
        "aiohttp web.Server",
        "aiohttp",
        script_proxy(STACKS / "aiohttp_lowlevel.py"),
    ),
    Candidate(
        "uvicorn-aiohttp", "uvicorn", "aiohttp", (*UVICORN, *UVICORN_FLAGS, "asgi_aiohttp:app")
    ),
    Candidate("uvicorn-httpx", "uvicorn", "httpx", (*UVICORN, *UVICORN_FLAGS, "asgi_httpx:app")),
    Candidate(
        "granian-asgi-aiohttp",
        "granian ASGI",
        "aiohttp",
        (*GRANIAN, "--interface", "asgi", *GRANIAN_FLAGS, "asgi_aiohttp:app"),
    ),
    Candidate(
        "granian-rsgi-aiohttp",
        "granian RSGI",
        "aiohttp",
        (*GRANIAN, "--interface", "rsgi", *GRANIAN_FLAGS, "rsgi_aiohttp:app"),
    ),
    Candidate(
        "httptools-aiohttp",
        "asyncio.Protocol + httptools",
        "aiohttp",
        script_proxy(STACKS / "httptools_aiohttp.py"),
    ),
)
DIRECT = Candidate("direct", "none: wrk straight to the upstream", "-", ())


class CandidateFailed(Exception):
    """A candidate did not start, answered wrongly, or died under load."""


@dataclass(frozen=True)
class Settings:
    warmup_s: int
    run_s: int
    output: Path
    proxy_cpu: int
    load_cpu: int


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    connections: int
    load: Load | None = None
    cpu_seconds: float | None = None  # proxy process tree, all threads; None for direct
    failure: str | None = None


# ---- processes ----------------------------------------------------------------------------


class Launcher:
    """Starts pinned processes in their own process groups and stops every one of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, command: list[str], cpu: int, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115  (the child keeps it)
        # A session of its own: Ctrl-C reaches us, not it, and its workers die with its group.
        process = subprocess.Popen(
            ["taskset", "-c", str(cpu), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(STACKS), **(env or {})},
        )
        log.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        for sig, grace_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)  # the group we made for it: its id is its pid
                process.wait(grace_s)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.running.remove(process)

    def log_tail(self, name: str, lines: int = 3) -> str:
        text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        # Skip the ~~~^^^ lines with which Python underlines the failing code in tracebacks.
        telling = [line.strip() for line in text.splitlines() if line.strip(" ~^")]
        return " / ".join(telling[-lines:]) or "(no output)"

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in list(self.running):
            self.stop(process)


def free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 200):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {preferred}..{preferred + 199}")


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout_s: float = 20
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CandidateFailed(f"exited with code {process.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise CandidateFailed(f"not listening on port {port} after {timeout_s:.0f} s")


def tree_cpu_seconds(root_pid: int) -> float:
    """utime + stime of a process, its threads (counted in its own stat) and descendants."""
    stats = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        pid = int(stat_file.parent.name)
        stats[pid] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, ticks
    family, ticks = {root_pid}, 0
    for pid in sorted(stats):  # children have larger pids than parents here (no pid wrap)
        if pid in family or stats[pid][0] in family:
            family.add(pid)
            ticks += stats[pid][1]
    return ticks / os.sysconf("SC_CLK_TCK")


# ---- setup --------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install Debian's package (apt-get install wrk) as root")
    print("installing wrk from Debian ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def ensure_venv() -> None:
    if not Path(PYTHON).exists():
        print(f"creating {VENV.relative_to(REPO)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Idempotent and quick when everything is already there at these versions.
    pip = [PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS]
    subprocess.run(pip, check=True)


def installed_versions() -> str:
    names = [pin.split("==")[0] for pin in PINS]
    code = "import importlib.metadata as m, sys; print([m.version(n) for n in sys.argv[1:]])"
    found = subprocess.run([PYTHON, "-c", code, *names], capture_output=True, text=True, check=True)
    versions = ast.literal_eval(found.stdout)
    return ", ".join(f"{name} {version}" for name, version in zip(names, versions, strict=True))


def chat_request_body(size: int = REQUEST_BODY_BYTES, stream: bool = False) -> bytes:
    """An OpenAI-style chat request, its user message padded so the JSON is exactly `size`."""
    request = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a careful assistant for financial reports."},
            {"role": "user", "content": ""},
        ],
        "temperature": 0.2,
        "stream": stream,
    }
    padding = size - len(json.dumps(request))
    request["messages"][1]["content"] = ("Summarise the quarterly report below. " * 100)[:padding]
    body = json.dumps(request).encode()
    assert len(body) == size
    return body


def write_wrk_script(directory: Path) -> Path:
    script = directory / "post-chat.lua"
    body = chat_request_body().decode()
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"\n'
        f"wrk.body = [==[{body}]==]\n"
    )
    return script


# ---- checks and load ----------------------------------------------------------------------


def post(port: int, body: bytes) -> tuple[int, str, bytes, float]:
    """Status, content type, body and seconds to the first body byte of one POST."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        started = time.monotonic()
        connection.request("POST", REQUEST_PATH, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        first = response.read(1)
        first_byte_s = time.monotonic() - started
        rest = response.read()
        return response.status, response.getheader("Content-Type", ""), first + rest, first_byte_s
    finally:
        connection.close()


def check_forwarding(port: int, upstream_port: int) -> None:
    """Same answer as the upstream's own, and streamed: the first event comes before the
    last is sent (the upstream spaces its events 50 ms apart)."""
    for stream in (False, True):
        body = chat_request_body(stream=stream)
        want_status, want_type, want_body, _ = post(upstream_port, body)
        status, content_type, got, first_byte_s = post(port, body)
        if (status, content_type, got) != (want_status, want_type, want_body):
            raise CandidateFailed(
                f"wrong answer (stream={stream}): {status} {content_type} {got[:80]!r}"
            )
        if stream and first_byte_s > 0.15:
            raise CandidateFailed(f"buffers streams: first byte after {first_byte_s:.2f} s")


WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> Load:
    def number(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise CandidateFailed(f"unexpected wrk output: {output[-300:]!r}")
        return match

    def latency_ms(percent: int) -> float:
        value, unit = number(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$").groups()
        return float(value) * WRK_UNITS_MS[unit]

    done = number(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    errors += int(non_2xx[1]) if non_2xx else 0
    return Load(
        requests=int(done[1]),
        seconds=float(done[2]) * WRK_UNITS_MS[done[3]] / 1000,
        requests_per_s=float(number(r"Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=latency_ms(50),
        p99_ms=latency_ms(99),
        errors=errors,
    )


def run_wrk(port: int, connections: int, seconds: int, script: Path, cpu: int) -> Load:
    command = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += [
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{REQUEST_PATH}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise CandidateFailed(f"wrk failed: {result.stderr.strip() or result.stdout[-200:]}")
    load = parse_wrk(result.stdout)
    if load.requests == 0:
        raise CandidateFailed(f"no request completed in {seconds} s")
    return load


def measure_load(
    candidate: Candidate,
    port: int,
    pid: int | None,
    connections: int,
    settings: Settings,
    script: Path,
) -> Row:
    # The warm-up fills the client pool and the allocator before anything is counted.
    run_wrk(port, connections, settings.warmup_s, script, settings.load_cpu)
    cpu_before = tree_cpu_seconds(pid) if pid else 0.0
    load = run_wrk(port, connections, settings.run_s, script, settings.load_cpu)
    cpu_seconds = tree_cpu_seconds(pid) - cpu_before if pid else None
    return Row(candidate, connections, load, cpu_seconds)


def bench_candidate(
    candidate: Candidate, launcher: Launcher, upstream_port: int, settings: Settings, script: Path
) -> tuple[list[Row], dict[str, str] | None]:
    """Rows for each connection count, then the parser probes (last, so they cannot disturb
    the numbers); a failure ends the candidate with a row that says why."""
    print(f"{candidate.name}:", flush=True)
    port = free_port(18181)
    upstream = f"http://127.0.0.1:{upstream_port}"
    command = [part.format(port=port, upstream=upstream) for part in candidate.command]
    environment = {"STACKS_UPSTREAM": upstream}  # for the ASGI and RSGI apps
    process = launcher.start(candidate.name, command, settings.proxy_cpu, environment)
    rows: list[Row] = []
    try:
        wait_until_listening(process, port)
        check_forwarding(port, upstream_port)
        for connections in CONNECTIONS:
            rows.append(measure_load(candidate, port, process.pid, connections, settings, script))
            if process.poll() is not None:
                raise CandidateFailed(f"died under load, exit code {process.returncode}")
            print(f"  {format_progress(rows[-1])}", flush=True)
        return rows, parser_probe.probe_all(port)
    except CandidateFailed as failure:
        reason = f"{failure}; its log ends: {launcher.log_tail(candidate.name)}"
        print(f"  FAILED: {reason}", flush=True)
        return [*rows, Row(candidate, 0, failure=reason)], None
    finally:
        launcher.stop(process)


def format_progress(row: Row) -> str:
    assert row.load is not None
    cpu = f", {row.cpu_seconds:.1f} CPU-s" if row.cpu_seconds is not None else ""
    load = row.load
    return f"c={row.connections}: {load.requests_per_s:.0f} req/s, p50 {load.p50_ms:.2f} ms{cpu}"


# ---- report -------------------------------------------------------------------------------


def table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def result_cells(row: Row) -> list[str]:
    head = [f"`{row.candidate.name}`", row.candidate.server, row.candidate.client]
    if row.load is None:
        failure = (row.failure or "").replace("|", "\\|")  # a | would end the table cell
        return [*head, "-", f"**failed:** {failure}", *[""] * 6]
    load, cpu = row.load, row.cpu_seconds
    per_cpu = [
        f"{cpu / load.requests * 1000:.3f}" if cpu else "-",
        f"{load.requests / cpu:,.0f}" if cpu else "-",
        f"{cpu / load.seconds:.0%}" if cpu else "-",
    ]
    return [
        *head,
        str(row.connections),
        f"{load.requests_per_s:,.0f}",
        f"{load.p50_ms:.2f}",
        f"{load.p99_ms:.2f}",
        *per_cpu,
        str(load.errors),
    ]


def results_table(rows: list[Row]) -> list[str]:
    header = ["stack", "server", "client", "conns", "req/s", "p50 ms", "p99 ms"]
    header += ["proxy CPU-s / 1k req", "req / CPU-s", "proxy core busy", "errors"]
    return [
        table_line(header),
        table_line(["---"] * 3 + ["---:"] * 8),
        *map(table_line, map(result_cells, rows)),
    ]


def requests_per_cpu_second(row: Row) -> float:
    assert row.load is not None and row.cpu_seconds
    return row.load.requests / row.cpu_seconds


def p50_ms(row: Row) -> float:
    assert row.load is not None
    return row.load.p50_ms


def summary(rows: list[Row]) -> list[str]:
    """The two questions the run answers, computed from the rows."""
    measured = [row for row in rows if row.load and row.cpu_seconds]
    lines = []
    for connections in CONNECTIONS:
        same_load = [row for row in measured if row.connections == connections]
        ranked = sorted(same_load, key=requests_per_cpu_second, reverse=True)[:3]
        best = ", ".join(f"`{r.candidate.name}` {requests_per_cpu_second(r):,.0f}" for r in ranked)
        lines.append(f"- Most requests per CPU-second at {connections} connection(s): {best}.")
    direct = [p50_ms(r) for r in rows if r.candidate is DIRECT and r.connections == 1 and r.load]
    if direct:
        at_one = sorted((row for row in measured if row.connections == 1), key=p50_ms)
        added = ", ".join(f"`{r.candidate.name}` +{p50_ms(r) - direct[0]:.3f}" for r in at_one)
        lines.append(f"- p50 added over direct at 1 connection, in ms, lowest first: {added}.")
    return lines


def probe_table(probes: dict[str, dict[str, str]]) -> list[str]:
    names = list(parser_probe.PROBES)
    lines = [table_line(["stack", *names]), table_line(["---"] * (len(names) + 1))]
    lines += [
        table_line([f"`{stack}`", *(answers[n] for n in names)])
        for stack, answers in probes.items()
    ]
    return lines


def machine_description() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return (
        f"{model[1] if model else platform.machine()}, {os.cpu_count()} cores, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def kept_notes(path: Path) -> str:
    if path.exists() and NOTES_MARKER in (text := path.read_text()):
        return text.split(NOTES_MARKER, 1)[1].strip()
    return "## Conclusions\n\n(none written yet)"


def render(
    rows: list[Row], probes: dict[str, dict[str, str]], settings: Settings, context: dict[str, str]
) -> str:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[
        0
    ]
    lines = [
        "# Server + upstream-client stack comparison",
        "",
        f"Measured by `{context['command']}` (from the repo root) on {context['date']}.",
        "",
        f"- **Machine:** {machine_description()}; load average at start {context['load']}"
        " (other services run on this machine too).",
        f"- **Candidates' venv** (`bench/.venv-stacks`): {context['versions']}; uvloop everywhere.",
        f"- **Pinned with taskset:** every proxy (all its threads and worker processes) on CPU"
        f" {settings.proxy_cpu}; the upstream and wrk share CPU {settings.load_cpu}.",
        f"- **Load:** {wrk_version}, 1 thread, keep-alive, POST of a {REQUEST_BODY_BYTES}-byte"
        f" chat-completion JSON to `{REQUEST_PATH}`; {settings.warmup_s} s warm-up, then"
        f" {settings.run_s} s measured per row. The upstream (`bench/stacks/upstream.py`) answers"
        " a fixed ~600-byte chat.completion.",
        "- **CPU:** utime + stime of the proxy process, its threads and child processes, from"
        " `/proc`, over the measured run. *Proxy core busy* is that CPU time over wall time:"
        " near 100% means the proxy was the bottleneck.",
        "- **Errors:** wrk's socket errors plus non-2xx answers.",
        "",
        *results_table(rows),
        "",
        *summary(rows),
        "",
        "## How each HTTP parser treats ambiguous framing",
        "",
        "Status code each server answered to one raw request (`bench/stacks/parser_probe.py`);"
        " 200 means it accepted the request and forwarded it.",
        "",
        *probe_table(probes),
        "",
        NOTES_MARKER,
        "",
        kept_notes(settings.output),
        "",
    ]
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s runs after a 1 s warm-up: a smoke test"
    )
    parser.add_argument(
        "--only", action="append", choices=[c.name for c in CANDIDATES], help="repeatable"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="default: docs/stack-comparison.md, or bench/results/ with --quick",
    )
    return parser.parse_args()


def make_settings(args: argparse.Namespace) -> Settings:
    default_output = (
        "bench/results/stack-comparison-quick.md" if args.quick else "docs/stack-comparison.md"
    )
    cpus = sorted(os.sched_getaffinity(0))
    return Settings(
        warmup_s=1 if args.quick else 2,
        run_s=2 if args.quick else 8,
        output=args.output or REPO / default_output,
        proxy_cpu=cpus[0],
        load_cpu=cpus[1] if len(cpus) > 1 else cpus[0],  # one core: everything shares it
    )


def main() -> None:
    args = parse_args()
    settings = make_settings(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    ensure_wrk()
    ensure_venv()
    context = {
        "command": "python3 bench/stacks.py" + (" --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "versions": installed_versions(),
    }
    candidates = [c for c in CANDIDATES if not args.only or c.name in args.only]
    rows: list[Row] = []
    probes: dict[str, dict[str, str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="wardgate-stacks-") as tmp,
        Launcher(Path(tmp)) as launcher,
    ):
        script = write_wrk_script(Path(tmp))
        upstream_port = free_port(18180)
        upstream_command = [PYTHON, str(STACKS / "upstream.py"), "--port", str(upstream_port)]
        wait_until_listening(
            launcher.start("upstream", upstream_command, settings.load_cpu), upstream_port
        )
        print("direct:", flush=True)
        for connections in CONNECTIONS:
            rows.append(measure_load(DIRECT, upstream_port, None, connections, settings, script))
            print(f"  {format_progress(rows[-1])}", flush=True)
        for candidate in candidates:
            candidate_rows, answers = bench_candidate(
                candidate, launcher, upstream_port, settings, script
            )
            rows += candidate_rows
            if answers is not None:
                probes[candidate.name] = answers
    report = render(rows, probes, settings, context)
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(report)
    print(report)
    print(f"written to {settings.output}")


if __name__ == "__main__":
    main()
