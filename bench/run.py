#!/usr/bin/env python3
"""`make bench`: Wardgate's performance targets, measured beside baselines in one run.

    .venv/bin/python bench/run.py                    # full run (~20-30 min) -> docs/performance.md
    .venv/bin/python bench/run.py --quick            # every section, tiny durations
    .venv/bin/python bench/run.py --only streaming   # one section

A full run writes docs/performance.md (entirely, every time); --quick and --only write to
bench/results/ instead (unless --output says where), so a partial run never replaces the
full report. Every number in the report comes from the run that wrote it.

Systems run as separate processes, each in its own process group: the system under test
pinned to CPU 0, the fast upstream (bench/fast_upstream.py), wrk and the streaming client
pinned to CPU 1. Setup is idempotent: Debian's wrk and nginx, bench/.venv-upstream
(httptools, uvloop) and bench/.venv-litellm (LiteLLM rows only; skipped if it won't install).
Linux only (taskset, /proc).
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import attacks, consumption, discovery, guardrails, sections as core, sensitive
from lib.procs import Procs, foreign_cpu, log
from lib.report import SectionResult, Target, table, verdict
from lib.setup_env import code_version, facts, setup
from lib.systems import BENCH, QUIET_CORES, REPO, Ctx, start_upstream

BODY_BYTES = 2048
EVENT_DELAY_MS = 20.0


@dataclass(frozen=True)
class Section:
    title: str
    run: Callable[[Ctx], SectionResult]
    takes: str  # rough duration of a full run, for the progress output


# ---------------------------------------------------------------------------------------------
# Section registry. Later sections (limits, detectors, ...) are added here: a name (for
# --only), a title, and a function that takes the run's Ctx (processes, upstream port, body
# files, quick flag) and returns a SectionResult (markdown, targets, raw data). Start systems
# with lib.systems.SYSTEMS[...].launch(ctx) and stop them in a `finally`. Order = report order.
# ---------------------------------------------------------------------------------------------
SECTIONS: dict[str, Section] = {
    "throughput": Section("Throughput, latency and CPU cost", core.throughput, "~6 min"),
    "streaming": Section(
        "Streaming: time to first byte and per-event delay", core.streaming, "~1 min"
    ),
    "memory": Section("Memory under sustained load", core.memory, "~5-10 min"),
    "workers": Section("Worker processes", core.workers, "~1 min"),
    "consumption": Section(
        "Consumption control: limit decisions, call parsing, token estimates",
        consumption.consumption,
        "~1 min",
    ),
    "attacks": Section(
        "Attack detection: inspection latency, builtin beside crs", attacks.attacks, "~3 min"
    ),
    "guardrails": Section(
        "Prompt and output guardrails: injection scoring, streamed checks, first token",
        guardrails.guardrails,
        "~2 min",
    ),
    "sensitive": Section(
        "Sensitive data: PII and secrets in a 4 KB prompt", sensitive.sensitive, "~1 min"
    ),
    "discovery": Section(
        "Discovery: learning's cost to traffic, inventory memory", discovery.discovery, "~5 min"
    ),
}


def make_body(stream: bool) -> bytes:
    """An OpenAI chat-completions request of exactly BODY_BYTES bytes."""
    doc: dict = {
        "model": "bench",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": ""},
        ],
        "max_tokens": 96,
        "temperature": 0.2,
    }
    if stream:
        doc["stream"] = True  # serialized as `"stream": true`, which the upstream looks for
    filler = "Summarize the following notes about the quarterly report. " * 64
    room = BODY_BYTES - len(json.dumps(doc).encode())
    doc["messages"][1]["content"] = filler[:room]
    body = json.dumps(doc).encode()
    assert len(body) == BODY_BYTES, len(body)
    return body


def note_others(ctx: Ctx) -> None:
    """Note CPU used by processes outside this run (other benchmarks, builds...) at the start."""
    cores, top = foreign_cpu(1.0)
    if cores >= QUIET_CORES:
        ctx.note(
            f"at the start, processes outside this run used {cores:.2f} cores "
            f"({', '.join(top)}); see the *others* columns for each measurement"
        )


def write_report(path: Path, ctx: Ctx, results: dict[str, SectionResult], argv: list[str]) -> None:
    f = ctx.facts
    targets: list[Target] = [t for r in results.values() for t in r.targets]
    mode = "quick smoke run (tiny durations: not for decisions)" if ctx.quick else "full run"
    if len(results) < len(SECTIONS):
        mode += f"; only {', '.join(results)}"
    parts = [
        "# Performance",
        "",
        "<!-- Generated by bench/run.py (`make bench`); rewritten whole by every full run. "
        "Do not edit by hand. -->",
        "",
        f"Measured on **{f['date']}** ({mode}, {f['minutes']} min"
        + (f", after waiting {f['waited']} min for other work to go quiet" if f["waited"] else "")
        + f") at commit {f['commit']}. "
        "Every number below comes from that one run.",
        "",
        "## Targets",
        "",
        table(
            ["target", "goal", "measured", "verdict"],
            [[t.what, t.goal, t.measured, verdict(t.met)] for t in targets],
            "lllc",
        )
        if targets
        else "No targets in the sections that ran.",
        "",
        "## How it was measured",
        "",
        f"- **Machine**: {f['cores']} cores ({f['cpu']}), {f['memory']} RAM, Linux "
        f"{f['kernel']}. Load average at the start: {f['loadavg']}. The machine also runs "
        "idle database/broker services of the development image. Its speed at the start: "
        f"{f.get('python_speed', '?')} ms for a fixed loop of 2,000,000 Python additions "
        "(best of 5 on CPU 0; it is a shared host whose speed changes from day to day, so "
        "compare absolute timings of two reports only together with this figure).",
        "- **CPU pinning** (`taskset`): the system under test on CPU 0; the fast upstream, wrk "
        "and the streaming client on CPU 1. **The load generator shares the machine's 2 cores** "
        "with the upstream (and, for `--workers 2`, with the gateway), so absolute numbers are "
        "lower than on dedicated load hosts; the comparisons are like for like.",
        f"- **Inputs**: request body {BODY_BYTES} bytes of OpenAI chat-completions JSON "
        f"(`Content-Type: application/json`, POST `{core.PATH}`); non-streamed answer: a "
        f"{f['completion_bytes']}-byte `chat.completion` JSON with Content-Length; streamed "
        f"answer: chunked `text/event-stream`, 20 `chat.completion.chunk` events of "
        f"{f['event_bytes']} bytes + `data: [DONE]`, {ctx.event_delay_ms:g} ms apart. Every "
        "request also carries `Authorization: Bearer sk-bench` (LiteLLM's master key; the others "
        "forward it) and a `User-Agent` (which the `access` check tests). HTTP/1.1 keep-alive "
        "throughout; wrk's timeout 10 s.",
        "- **Systems**: *direct* = wrk to the upstream; *nginx* = 1 worker, upstream keepalive 64, "
        "`proxy_http_version 1.1`, `proxy_buffering off`, no access log; *aiohttp floor* = "
        "`shared/bench/aiohttp_proxy.py` as it is (the Python reference); *LiteLLM* = "
        "`litellm --config bench/litellm_config.yaml --num_workers 1` (no database, no "
        "callbacks, log level ERROR) "
        + (
            f"({f['litellm']})"
            if ctx.litellm_problem is None
            else f"— **not measured: {ctx.litellm_problem}**"
        )
        + "; *Wardgate* = `wardgate serve --workers 1` with `bench/policies/passthrough.yaml` "
        "(no checks, no usage metering: a pure proxy), `demo-checks.yaml` (the `access` and "
        "`request_limits` checks of the default policy), `metering.yaml` (the same with usage "
        "metering on, as by default on AI routes: each call and its answer parsed for model "
        "and tokens into the event) or `holdback.yaml` "
        "(`stream_holdback: 200`). Wardgate writes one event per "
        "request to SQLite in a temporary state dir, as in production.",
        f"- **Software**: {f['python']}; gateway venv: {f['gateway_packages']}; upstream: raw "
        f"asyncio.Protocol with {f['upstream_packages']}; {f['wrk']}; {f['nginx']}.",
        f"- **Reproduce**: `make bench` (= `.venv/bin/python bench/run.py`); "
        f"`--quick` for a smoke run of every section, `--only SECTION` for one of "
        f"{', '.join(SECTIONS)}; `--wait-quiet SECONDS` waits (up to that long in all) "
        "for other processes to go quiet before each measurement. This report: "
        f"`{' '.join(argv)}`. Process logs of the run: `bench/results/logs/`.",
        "",
    ]
    for name, result in results.items():
        parts += [f"## {SECTIONS[name].title}", "", result.markdown.strip(), ""]
    parts += ["## Anomalies", ""]
    parts += [f"- {a}" for a in ctx.anomalies] or [
        "None: every request answered 2xx, no socket errors, no error lines in any process's "
        "output."
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny durations (smoke run)")
    parser.add_argument("--only", choices=list(SECTIONS), help="run one section")
    parser.add_argument("--output", type=Path, help="report path (default: see above)")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM rows")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on a shared machine: before the run and each measurement, wait for other "
        "processes to go quiet, up to this many seconds in all",
    )
    args = parser.parse_args()
    if args.output is None:
        if args.quick or args.only:
            suffix = ("-quick" if args.quick else "") + (f"-{args.only}" if args.only else "")
            args.output = BENCH / "results" / f"performance{suffix}.md"
        else:
            args.output = REPO / "docs" / "performance.md"
    if (os.cpu_count() or 1) < 2:
        log("needs at least 2 CPUs (gateway on CPU 0, load on CPU 1)")
        return 2

    started = time.monotonic()
    logs = BENCH / "results" / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="wardgate-bench-"))
    procs = Procs(logs)

    def cleanup() -> None:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    atexit.register(cleanup)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    try:
        litellm_problem = setup(args.no_litellm)
        body, stream_body = tmp / "body.json", tmp / "stream-body.json"
        body.write_bytes(make_body(stream=False))
        stream_body.write_bytes(make_body(stream=True))
        ctx = Ctx(
            procs,
            tmp,
            args.quick,
            body,
            stream_body,
            EVENT_DELAY_MS,
            litellm_problem=litellm_problem,
        )
        if litellm_problem:
            ctx.note(f"LiteLLM rows skipped: {litellm_problem}")
        ctx.quiet_budget = args.wait_quiet
        waiting = time.monotonic()
        ctx.wait_quiet("the run", settle=60.0)
        waited = time.monotonic() - waiting
        ctx.facts = facts(litellm_problem is None)
        ctx.facts["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        note_others(ctx)
        start_upstream(ctx)
        results: dict[str, SectionResult] = {}
        for name in [args.only] if args.only else list(SECTIONS):
            log(f"== {name} ({'quick' if args.quick else SECTIONS[name].takes})")
            results[name] = SECTIONS[name].run(ctx)
        ended_at = code_version()
        if ended_at != ctx.facts["commit"]:
            ctx.note(
                f"the gateway's code changed during this run: {ctx.facts['commit']} at the "
                f"start, {ended_at} at the end; systems started after the change ran the new code"
            )
        ctx.facts["minutes"] = f"{(time.monotonic() - started - waited) / 60:.0f}"
        ctx.facts["waited"] = f"{waited / 60:.0f}" if waited > 90 else ""
        write_report(args.output, ctx, results, ["python", "bench/run.py", *sys.argv[1:]])
        raw = (
            args.output.with_suffix(".json")
            if args.output.parent != REPO / "docs"
            else (BENCH / "results" / "performance.json")
        )
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(
            json.dumps(
                {
                    "facts": ctx.facts,
                    "anomalies": ctx.anomalies,
                    "sections": {
                        n: {"targets": [asdict(t) for t in r.targets], "data": r.data}
                        for n, r in results.items()
                    },
                },
                indent=1,
            )
        )
        log(f"wrote {args.output} (raw numbers: {raw})")
        for t in (t for r in results.values() for t in r.targets):
            log(f"  {verdict(t.met):>13}  {t.what}: {t.measured} (goal {t.goal})")
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
