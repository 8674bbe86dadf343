#!/usr/bin/env python3
"""Choose Wardgate's server + upstream-client stack by measurement.

    python3 bench/stacks.py            # 3 rounds, ~13 min, writes docs/stack-comparison.md
    python3 bench/stacks.py --quick    # 2 s runs, writes bench/results/stack-comparison-quick.md

Starts a fast fake upstream, then each candidate proxy in turn (the shared aiohttp floor as it
is, and the candidates in bench/stacks/), checks that it forwards and streams correctly,
drives it with wrk at 1, 16 and 64 connections while reading its CPU time from /proc, and
last probes its HTTP parser with ambiguous framing. The candidates run from their own venv,
bench/.venv-stacks, made here with pinned versions; wrk comes from Debian. Linux only
(taskset, /proc). Every process it starts is stopped at the end, also on Ctrl-C.

bench/stacks/ holds the candidates (aiohttp_lowlevel, asgi_aiohttp, asgi_httpx, rsgi_aiohttp,
httptools_aiohttp, with proxy_common), the upstream, and this script's own modules
(processes, load, report, parser_probe).
"""

import argparse
import ast
import datetime
import http.client
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACKS = REPO / "bench" / "stacks"
sys.path.insert(0, str(STACKS))

# These modules are standard library only, so they run under any python3.
from load import REQUEST_PATH, chat_request_body, run_wrk, write_wrk_script  # noqa: E402
from parser_probe import probe_all  # noqa: E402
from processes import (  # noqa: E402
    CandidateFailed,
    Launcher,
    free_port,
    read_cpu_clock,
    wait_until_listening,
)
from report import (  # noqa: E402
    DIRECT,
    Candidate,
    Row,
    RunDescription,
    kept_notes,
    render,
)

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
    # Not a dependency of httpx 0.28 any more, nor of recent anyio, but httpcore 1.0.9 tries
    # to import it on every request: without it each request pays for failed imports.
    "sniffio==1.3.1",
)
CONNECTIONS = (1, 16, 64)
# This machine may be shared (other benchmarks, test suites): a run during which other
# processes used more than this share of a core is done again, at most MAX_ATTEMPTS times.
QUIET_SHARE = 0.15
MAX_ATTEMPTS = 3
RETRY_PAUSE_S = 10


def script_proxy(path: Path) -> tuple[str, ...]:
    """A proxy started like the floor: python SCRIPT --port P --upstream URL."""
    return (PYTHON, str(path), "--port", "{port}", "--upstream", "{upstream}")


# The ASGI and RSGI apps are served through each server's own CLI, as a user would run them.
UVICORN = (str(VENV / "bin" / "uvicorn"), "--host", "127.0.0.1", "--port", "{port}")
UVICORN_FLAGS = shlex.split("--loop uvloop --http httptools --no-access-log --log-level warning")
GRANIAN = (str(VENV / "bin" / "granian"), "--host", "127.0.0.1", "--port", "{port}")
GRANIAN_FLAGS = shlex.split("--loop uvloop --http 1 --no-ws --workers 1 --log-level warning")
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


@dataclass(frozen=True)
class Settings:
    warmup_s: int
    run_s: int
    rounds: int
    output: Path
    proxy_cpu: int
    load_cpu: int


# ---- setup --------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install Debian's package wrk as root, then run this again")
    print("installing wrk from Debian ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def ensure_venv() -> None:
    if not Path(PYTHON).exists():
        print(f"creating {VENV.relative_to(REPO)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Quick when all is already installed at these versions; repairs the venv when not.
    pip = [PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS]
    subprocess.run(pip, check=True)


def installed_versions() -> str:
    names = [pin.split("==")[0] for pin in PINS]
    code = "import importlib.metadata as m, sys; print([m.version(n) for n in sys.argv[1:]])"
    found = subprocess.run([PYTHON, "-c", code, *names], capture_output=True, text=True, check=True)
    versions = ast.literal_eval(found.stdout)
    return ", ".join(f"{name} {version}" for name, version in zip(names, versions, strict=True))


# ---- one candidate ------------------------------------------------------------------------


def post(port: int, body: bytes) -> tuple[int, str, bytes, float]:
    """Status, content type, body, and seconds to the first body byte, of one POST."""
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
    """The proxy's answer equals the upstream's own, and it streams: the upstream spaces its
    events 50 ms apart, so a proxy that buffers shows its first byte only after ~300 ms."""
    for stream in (False, True):
        body = chat_request_body(stream=stream)
        expected = post(upstream_port, body)[:3]
        status, content_type, answer, first_byte_s = post(port, body)
        if (status, content_type, answer) != expected:
            raise CandidateFailed(f"wrong answer (stream={stream}): {status} {answer[:80]!r}")
        if stream and first_byte_s > 0.15:
            raise CandidateFailed(f"buffers streams: first byte after {first_byte_s:.2f} s")


@dataclass(frozen=True)
class Target:
    """What wrk loads, and the processes whose CPU time is the benchmark's own."""

    candidate: Candidate
    port: int
    proxy_pid: int | None  # None when wrk loads the upstream directly
    upstream_pid: int


def measure(target: Target, connections: int, settings: Settings, script: Path) -> Row:
    """One row. A run that shared the machine with too much other work (another benchmark,
    a test suite) is done again after a pause; the quietest attempt is kept."""
    # The warm-up fills the upstream pool and the caches before anything is counted.
    run_wrk(target.port, connections, settings.warmup_s, script, settings.load_cpu)
    attempts = [measured_run(target, connections, settings, script)]
    while attempts[-1].others_share > QUIET_SHARE and len(attempts) < MAX_ATTEMPTS:
        print(f"  other work used {attempts[-1].others_share:.0%} of a core: again in a moment")
        time.sleep(RETRY_PAUSE_S)
        attempts.append(measured_run(target, connections, settings, script))
    row = min(attempts, key=lambda attempt: attempt.others_share)
    print(f"  c={connections}: {progress(row)}", flush=True)
    return row


def measured_run(target: Target, connections: int, settings: Settings, script: Path) -> Row:
    before = read_cpu_clock(target.proxy_pid, target.upstream_pid)
    load = run_wrk(target.port, connections, settings.run_s, script, settings.load_cpu)
    after = read_cpu_clock(target.proxy_pid, target.upstream_pid)
    return Row(
        target.candidate,
        connections,
        load,
        cpu_seconds=after.proxy - before.proxy if target.proxy_pid else None,
        others_cpu_seconds=(after.machine - before.machine) - (after.ours - before.ours),
    )


def progress(row: Row) -> str:
    assert row.load is not None
    cpu = f", {row.cpu_seconds:.2f} CPU-s" if row.cpu_seconds is not None else ""
    others = f", others {row.others_share:.0%} of a core"
    return f"{row.load.requests_per_s:,.0f} req/s, p50 {row.load.p50_ms:.2f} ms{cpu}{others}"


def bench_candidate(
    candidate: Candidate, launcher: Launcher, upstream: Target, settings: Settings, script: Path
) -> tuple[list[Row], dict[str, str] | None]:
    """Rows for each connection count, then the parser probes (last, so they cannot disturb
    the numbers). A failure ends the candidate with a row that says why."""
    print(f"{candidate.name}:", flush=True)
    port = free_port(18181)
    upstream_url = f"http://127.0.0.1:{upstream.port}"
    command = [part.format(port=port, upstream=upstream_url) for part in candidate.command]
    environment = {"STACKS_UPSTREAM": upstream_url}  # how the ASGI and RSGI apps learn it
    process = launcher.start(candidate.name, command, settings.proxy_cpu, environment)
    target = Target(candidate, port, process.pid, upstream.upstream_pid)
    rows: list[Row] = []
    try:
        wait_until_listening(process, port)
        check_forwarding(port, upstream.port)
        for connections in CONNECTIONS:
            rows.append(measure(target, connections, settings, script))
            if process.poll() is not None:
                raise CandidateFailed(f"died under load, exit code {process.returncode}")
        return rows, probe_all(port)
    except (CandidateFailed, OSError) as failure:
        reason = f"{failure}; its log ends: {launcher.log_tail(candidate.name)}"
        print(f"  FAILED: {reason}", flush=True)
        return [*rows, Row(candidate, 0, failure=reason)], None
    finally:
        launcher.stop(process)


# ---- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 s warm-up, 2 s runs: a smoke test")
    names = [candidate.name for candidate in CANDIDATES]
    parser.add_argument("--only", action="append", choices=names, help="repeatable")
    parser.add_argument("--rounds", type=int, help="default 3, or 1 with --quick")
    parser.add_argument("--output", type=Path, help="where to write the markdown report")
    return parser.parse_args()


def make_settings(args: argparse.Namespace) -> Settings:
    quick_output = REPO / "bench" / "results" / "stack-comparison-quick.md"  # git-ignored
    cpus = sorted(os.sched_getaffinity(0))
    return Settings(
        warmup_s=1 if args.quick else 2,
        run_s=2 if args.quick else 8,
        rounds=args.rounds or (1 if args.quick else 3),
        output=args.output
        or (quick_output if args.quick else REPO / "docs" / "stack-comparison.md"),
        proxy_cpu=cpus[0],
        load_cpu=cpus[1] if len(cpus) > 1 else cpus[0],  # on one core, all share it
    )


def describe_run(args: argparse.Namespace, settings: Settings) -> RunDescription:
    return RunDescription(
        command="python3 bench/stacks.py" + (" --quick" if args.quick else ""),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_average=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
        versions=installed_versions(),
        proxy_cpu=settings.proxy_cpu,
        load_cpu=settings.load_cpu,
        warmup_s=settings.warmup_s,
        run_s=settings.run_s,
        rounds=settings.rounds,
        quiet_share=QUIET_SHARE,
        max_attempts=MAX_ATTEMPTS,
    )


def run_all(
    candidates: list[Candidate], settings: Settings
) -> tuple[list[Row], dict[str, dict[str, str]]]:
    """All rounds: the rows of every run, and each candidate's parser probe answers."""
    rows: list[Row] = []
    probes: dict[str, dict[str, str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="wardgate-stacks-") as tmp,
        Launcher(Path(tmp), cwd=REPO, pythonpath=STACKS) as launcher,
    ):
        script = write_wrk_script(Path(tmp))
        upstream_port = free_port(18180)
        upstream_command = [PYTHON, str(STACKS / "upstream.py"), "--port", str(upstream_port)]
        upstream_process = launcher.start("upstream", upstream_command, settings.load_cpu)
        wait_until_listening(upstream_process, upstream_port)
        upstream = Target(DIRECT, upstream_port, None, upstream_process.pid)
        for round_number in range(1, settings.rounds + 1):
            print(f"== round {round_number} of {settings.rounds}\ndirect:", flush=True)
            for connections in CONNECTIONS:
                rows.append(measure(upstream, connections, settings, script))
            for candidate in candidates:
                candidate_rows, answers = bench_candidate(
                    candidate, launcher, upstream, settings, script
                )
                rows += candidate_rows
                if answers is not None:
                    probes[candidate.name] = answers  # the same every round
    return rows, probes


def main() -> None:
    args = parse_args()
    settings = make_settings(args)
    # SIGTERM as an exception, so that the Launcher stops everything, as it does on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    ensure_venv()
    run = describe_run(args, settings)
    candidates = [c for c in CANDIDATES if not args.only or c.name in args.only]
    rows, probes = run_all(candidates, settings)
    report = render(rows, probes, run, kept_notes(settings.output))
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(report)
    print(report)
    print(f"written to {settings.output}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything started is stopped by then
        sys.exit(130)
