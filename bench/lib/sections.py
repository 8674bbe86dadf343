"""The core sections of the benchmark: throughput, streaming, memory, workers.

Each takes the run's `Ctx` and returns a `SectionResult` (markdown, targets, raw data).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from dataclasses import asdict, dataclass

from lib.procs import cpu_seconds, foreign_since, foreign_ticks, log, rss_mb, settle_cpu
from lib.report import SectionResult, Target, num, percentile, table
from lib.systems import (
    BEARER,
    BENCH,
    LOAD_CPU,
    PATH,
    PYTHON,
    SYSTEMS,
    Ctx,
    Running,
    System,
    check,
    upstream_requests,
)
from lib.wrk import WrkResult, parse, run_wrk, write_lua

CONNECTIONS = (1, 16, 64)
ROUNDS = 3
COMPARED = ("aiohttp", "wg-pass", "wg-checks", "wg-meter")
FLOOR_SHARE = {"wg-pass": 0.80, "wg-checks": 0.60}  # of the aiohttp floor's requests/CPU-s
ADDED_P50_MS = 0.5
TTFB_MS = 1.0
RSS_LIMIT_MB = 150.0
FLAT_MB = 10.0
OTHERS_NOTE = 0.10  # cores used by outside processes during a run worth a note


@dataclass
class Load:
    """One wrk run against one system, with the system's CPU time over it."""

    system: str
    label: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    cpu_s: float | None
    non_2xx: int
    socket_errors: int
    others: float = 0.0  # cores used by processes outside the run meanwhile

    @property
    def cpu_per_1k(self) -> float | None:
        return self.cpu_s / self.requests * 1000 if self.cpu_s and self.requests else None

    @property
    def per_cpu_s(self) -> float | None:
        return self.requests / self.cpu_s if self.cpu_s and self.requests else None

    @property
    def busy(self) -> float | None:
        return self.cpu_s / self.seconds if self.cpu_s is not None and self.seconds else None


def _launch(ctx: Ctx, system: System, *, stream: bool, **kwargs: object) -> Running | None:
    try:
        running = system.launch(ctx, **kwargs)  # type: ignore[arg-type]
    except RuntimeError as exc:
        ctx.note(f"{system.label}: not measured: {str(exc).splitlines()[0]}")
        return None
    problems = check(ctx, running, stream=stream)
    if problems:
        ctx.note(
            f"{system.label}: failed its functional check, not measured: {'; '.join(problems)}"
        )
        system.stop(ctx, running)
        return None
    return running


def _measure(ctx: Ctx, system: System, running: Running, connections: int, lua_path) -> Load:
    warm, seconds = (1, 2) if ctx.quick else (2, 10)
    ctx.wait_quiet(f"{system.label}, {connections} connections")
    run_wrk(ctx.procs, running.port, lua_path, connections, warm)
    ctx.load_ended()
    pids = running.pids
    before = cpu_seconds(pids()) if running.proc else None
    outside, started = foreign_ticks(), time.monotonic()
    upstream_before = upstream_requests(ctx)
    result = run_wrk(ctx.procs, running.port, lua_path, connections, seconds)
    ctx.load_ended()
    forwarded = upstream_requests(ctx) - upstream_before
    if abs(forwarded - result.requests) > connections + result.requests // 100:
        ctx.note(
            f"{system.label}, {connections} connections: wrk counted {result.requests:,} "
            f"responses but the upstream saw {forwarded:,} requests"
        )
    others, top = foreign_since(outside, time.monotonic() - started)
    if others >= OTHERS_NOTE:
        ctx.note(
            f"{system.label}, {connections} connections: processes outside this run used "
            f"{others:.2f} cores meanwhile ({', '.join(top)})"
        )
    after = settle_cpu(pids) if running.proc else None
    log(f"  {system.label} c={connections}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.3f} ms")
    _note_errors(ctx, f"{system.label}, {connections} connections", result)
    return Load(
        system.key,
        system.label,
        connections,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        result.requests,
        result.seconds,
        None if before is None else after - before,  # type: ignore[operator]
        result.non_2xx,
        sum(result.socket_errors.values()),
        others,
    )


def _note_errors(ctx: Ctx, what: str, result: WrkResult) -> None:
    if result.rc != 0 or not result.requests:
        ctx.note(f"{what}: wrk exited {result.rc}: {result.raw[-300:]!r}")
    if result.errors:
        ctx.note(
            f"{what}: {result.non_2xx} non-2xx/3xx responses, socket errors "
            f"{result.socket_errors} out of {result.requests} requests"
        )


def throughput(ctx: Ctx) -> SectionResult:
    lua = write_lua(ctx.tmp / "post.lua", ctx.body_file, PATH, BEARER)
    samples: dict[tuple[str, int], list[Load]] = {}

    def measure(key: str) -> None:
        system = SYSTEMS[key]
        running = _launch(ctx, system, stream=False)
        if running is None:
            return
        try:
            for c in CONNECTIONS:
                samples.setdefault((key, c), []).append(_measure(ctx, system, running, c, lua))
        finally:
            system.stop(ctx, running)

    for key in ("direct", "nginx", "litellm"):
        measure(key)
    # The rows the targets compare are measured in interleaved rounds and the median kept:
    # on this shared VM one 10 s run can be 20 % off the next.
    rounds = 1 if ctx.quick else ROUNDS
    for _ in range(rounds):
        for key in COMPARED:
            measure(key)
    order = ("direct", "nginx", "aiohttp", "litellm", *COMPARED[1:])
    loads: list[Load] = []
    spread: dict[tuple[str, int], str] = {}
    for key in order:
        for c in CONNECTIONS:
            runs = samples.get((key, c))
            if not runs:
                continue
            ranked = sorted(runs, key=lambda x: x.per_cpu_s or 0.0)
            loads.append(ranked[len(ranked) // 2])
            if len(runs) > 1:
                spread[(key, c)] = f"{num(ranked[0].per_cpu_s)}-{num(ranked[-1].per_cpu_s)}"
    by = {(x.system, x.connections): x for x in loads}

    def floor_ratio(x: Load) -> float | None:
        floor = by.get(("aiohttp", x.connections))
        if x.system not in FLOOR_SHARE or floor is None or not floor.per_cpu_s or not x.per_cpu_s:
            return None
        return x.per_cpu_s / floor.per_cpu_s

    def added_p50(x: Load) -> float | None:
        direct = by.get(("direct", x.connections))
        return x.p50_ms - direct.p50_ms if direct and x.system != "direct" else None

    rows = [
        [
            x.label,
            str(x.connections),
            num(x.rps),
            num(x.p50_ms, 3),
            num(x.p99_ms, 3),
            num(added_p50(x), 3),
            num(x.cpu_per_1k, 3),
            num(x.per_cpu_s),
            spread.get((x.system, x.connections), "-"),
            num(x.busy * 100 if x.busy is not None else None, 0, " %"),
            num(floor_ratio(x) * 100 if floor_ratio(x) is not None else None, 0, " %"),
            f"{x.non_2xx} / {x.socket_errors}",
            num(x.others * 100, 0, " %"),
        ]
        for x in loads
    ]
    targets = []
    for key, share in FLOOR_SHARE.items():
        for c in CONNECTIONS:
            x = by.get((key, c))
            ratio = floor_ratio(x) if x else None
            targets.append(
                Target(
                    f"{SYSTEMS[key].label}: requests per CPU-second vs aiohttp floor, {c} conn.",
                    f">= {share:.0%}",
                    num(ratio * 100 if ratio is not None else None, 0, " %"),
                    None if ratio is None else ratio >= share,
                )
            )
    for key in FLOOR_SHARE:
        x = by.get((key, 1))
        added = added_p50(x) if x else None
        targets.append(
            Target(
                f"{SYSTEMS[key].label}: added p50 latency over direct, 1 conn.",
                f"<= {ADDED_P50_MS} ms",
                num(added, 3, " ms"),
                None if added is None else added <= ADDED_P50_MS,
            )
        )
    seconds = 2 if ctx.quick else 10
    md = f"""wrk, 1 thread, POSTing the {ctx.body_file.stat().st_size}-byte JSON body to
`{PATH}` at 1, 16 and 64 connections: {seconds} s measured after a {1 if ctx.quick else 2} s
warm-up at the same connection count. The upstream answers a {ctx.facts["completion_bytes"]}-byte
`chat.completion` JSON. *CPU-s / 1k req* is the system's own CPU time (user + system, all
threads; nginx master + worker; LiteLLM's whole process tree) read from `/proc/PID/stat` before
and after the run, per 1,000 requests. *busy* is that CPU time over the run's wall time: near
100 % means the system under test was the bottleneck on its core; well under 100 % means the
load side (wrk + upstream, sharing CPU {LOAD_CPU}) was. *vs floor* is requests per CPU-second
relative to the aiohttp floor at the same connection count. *errors* is wrk's non-2xx/3xx
responses / socket errors. *others* is the CPU that processes outside this run (other work on
the machine) used meanwhile, in % of one core: above a few % the row is disturbed.
The aiohttp floor and the Wardgate rows are measured in {1 if ctx.quick else ROUNDS}
interleaved rounds (each system started afresh every round); each row is the round with
the median requests per CPU-second, and *all rounds* gives their range: on this shared VM
one 10 s run can differ from the next by 20 %.

{
        table(
            [
                "system",
                "conn.",
                "req/s",
                "p50 ms",
                "p99 ms",
                "+p50 vs direct",
                "CPU-s / 1k req",
                "req / CPU-s",
                "req / CPU-s, all rounds",
                "busy",
                "vs floor",
                "errors",
                "others",
            ],
            rows,
        )
    }
"""
    return SectionResult(md, targets, {"loads": [asdict(x) for x in loads]})


STREAM_MODES = {
    "burst": "all 64 requests written at the same moment (each round)",
    "steady": "64 streams always in flight, their starts spread evenly over one stream's "
    "duration, each client starting its next stream when one ends",
}


def _stream_run(ctx: Ctx, system: System, running: Running, mode: str, rounds: int) -> dict | None:
    argv = [
        str(PYTHON),
        str(BENCH / "lib" / "stream_client.py"),
        "--port",
        str(running.port),
        "--path",
        PATH,
        "--streams",
        "64",
        "--rounds",
        str(rounds),
        "--body-file",
        str(ctx.stream_body_file),
        "--bearer",
        BEARER,
    ]
    if mode == "steady":
        argv += ["--steady", str(21 * ctx.event_delay_ms / 1000)]
    ctx.wait_quiet(f"{system.label}, {mode} streams")
    outside, started = foreign_ticks(), time.monotonic()
    rc, out = ctx.procs.run("stream-client", argv, cpus=LOAD_CPU, timeout=600)
    ctx.load_ended()
    others, top = foreign_since(outside, time.monotonic() - started)
    if others >= OTHERS_NOTE:
        ctx.note(
            f"{system.label}, {mode} streams: processes outside this run used "
            f"{others:.2f} cores meanwhile ({', '.join(top)})"
        )
    if rc != 0:
        ctx.note(f"{system.label}, {mode} streams: client exited {rc}: {out[-300:]}")
        return None
    data = json.loads(out)
    errors = [e for r in data["rounds"] for e in r["errors"]]
    if errors:
        ctx.note(
            f"{system.label}, {mode} streams: {len(errors)} of {rounds * 64} streams "
            f"failed, e.g. {errors[0]}"
        )
    events = [s for r in data["rounds"] for s in r["events"]]
    short = sum(1 for s in events if len(s) != 21)
    if short:
        ctx.note(f"{system.label}, {mode} streams: {short} streams did not deliver 21 events")
    ttfb = [t for r in data["rounds"] for t in r["ttfb"]]
    relay = [d for r in data["rounds"] for stream in r["relay"] for d in stream]
    log(
        f"  {system.label}, {mode}: TTFB p50 {percentile(ttfb, 50) * 1000:.2f} ms, "
        f"event relay p50 {percentile(relay, 50) * 1000:.2f} ms"
    )
    return {"label": system.label, "ttfb": ttfb, "relay": relay}


def _pair(a: float | None, b: float | None, digits: int = 2) -> str:
    return f"{num(a, digits)} / {num(b, digits)}"


def _stream_rows(results: dict[str, dict], gap_ms: float) -> tuple[list[list[str]], dict]:
    rows, summary = [], {}
    direct = results.get("direct")
    for key, r in results.items():
        row: dict = {"streams": len(r["ttfb"]), "events": len(r["relay"])}
        for name, values in (("ttfb", r["ttfb"]), ("relay", r["relay"])):
            for q in (50, 99):
                row[f"{name}{q}"] = percentile(values, q) * 1000
                if direct:
                    row[f"{name}_d{q}"] = row[f"{name}{q}"] - percentile(direct[name], q) * 1000
        row["held"] = sum(1 for d in r["relay"] if d * 1000 > gap_ms / 2)
        summary[key] = row
        rows.append(
            [
                r["label"],
                str(row["streams"]),
                _pair(row["ttfb50"], row["ttfb99"]),
                _pair(row.get("ttfb_d50"), row.get("ttfb_d99")),
                _pair(row["relay50"], row["relay99"], 3),
                _pair(row.get("relay_d50"), row.get("relay_d99"), 3),
                f"{row['held']} / {row['events']}",
            ]
        )
    return rows, summary


def streaming(ctx: Ctx) -> SectionResult:
    rounds = 2 if ctx.quick else 10
    results: dict[str, dict[str, dict]] = {mode: {} for mode in STREAM_MODES}
    for key in ("direct", "aiohttp", "wg-pass", "wg-holdback"):
        system = SYSTEMS[key]
        running = _launch(ctx, system, stream=True)
        if running is None:
            continue
        try:
            for mode in STREAM_MODES:
                if (r := _stream_run(ctx, system, running, mode, rounds)) is not None:
                    results[mode][key] = r
        finally:
            system.stop(ctx, running)
    gap = ctx.event_delay_ms
    headers = [
        "system",
        "streams",
        "TTFB ms p50 / p99",
        "TTFB over direct p50 / p99",
        "event relay ms p50 / p99",
        "relay over direct p50 / p99",
        "events late > half a gap",
    ]
    tables, targets, summaries = [], [], {}
    for mode, description in STREAM_MODES.items():
        rows, summary = _stream_rows(results[mode], gap)
        summaries[mode] = summary
        tables.append(f"**{mode.capitalize()}**: {description}.\n\n{table(headers, rows)}")
        wg = summary.get("wg-pass", {})
        for q in ("50", "99"):
            added = wg.get(f"ttfb_d{q}")
            targets.append(
                Target(
                    f"Wardgate passthrough: TTFB p{q} over direct, 64 {mode} streams",
                    f"<= {TTFB_MS:g} ms",
                    num(added, 2, " ms"),
                    None if added is None else added <= TTFB_MS,
                )
            )
        held = wg.get("held")
        targets.append(
            Target(
                f"Wardgate passthrough: events late > {gap / 2:g} ms (held back), {mode} streams, "
                "no hold-back configured",
                "0",
                "-" if held is None else f"{held} of {wg['events']}",
                None if held is None else held == 0,
            )
        )
    blank = "\n\n"
    md = f"""64 concurrent streaming requests (`"stream": true`, same
{ctx.stream_body_file.stat().st_size}-byte body) from an asyncio raw-socket client pinned to
CPU {LOAD_CPU}, in two patterns (after one warm-up burst, not counted), {rounds} streams per
client each. The upstream sends the first of 20 `chat.completion.chunk` events at once, then
one every {gap:g} ms, then `data: [DONE]` (events of {ctx.facts["event_bytes"]} bytes before
chunk framing), and stamps every chunk with the time it wrote it (`system_fingerprint`).
*TTFB* is from writing the request to the first body byte. *Event relay* is each event's
arrival at the client minus the upstream's stamp (same host, same monotonic clock): the delay
the path adds to every event, whatever happened before the stream began. *Over direct*
subtracts direct's percentile in the same pattern. An event is *late* when its relay took more
than half the inter-event gap ({gap / 2:g} ms): it was held back for later events (hold-back)
or queued that long behind other work.
A burst of 64 requests at one instant queues on the single core a Python gateway runs on, so
burst TTFB is mostly per-request CPU cost times queue position; the steady pattern is what 64
independent streaming clients see.

{blank.join(tables)}
"""
    return SectionResult(md, targets, {"streams": summaries})


def memory(ctx: Ctx) -> SectionResult:
    count = 20_000 if ctx.quick else 1_000_000
    interval = 1.0 if ctx.quick else 5.0
    system = SYSTEMS["wg-pass"]
    running = _launch(ctx, system, stream=False)
    if running is None or running.proc is None:
        return SectionResult(
            "Not measured (see anomalies).",
            [Target("Wardgate passthrough RSS", "flat, < 150 MB", "-", None)],
        )
    lua = write_lua(ctx.tmp / "post-limit.lua", ctx.body_file, PATH, BEARER, count=count)
    samples: list[tuple[int, float]] = []
    try:
        base = upstream_requests(ctx)
        samples.append((0, rss_mb(running.proc.pid) or math.nan))
        argv = [
            "wrk",
            "-t1",
            "-c64",
            "-d3600s",
            "--timeout=10s",
            "--latency",
            "-s",
            str(lua),
            f"http://127.0.0.1:{running.port}/",
        ]
        ctx.wait_quiet("the memory run")
        started, outside = time.monotonic(), foreign_ticks()
        wrk = ctx.procs.start("wrk-memory", argv, cpus=LOAD_CPU)
        next_sample = started + interval
        while wrk.poll() is None:
            time.sleep(0.25)
            done = upstream_requests(ctx) - base
            if done >= count:
                # The Lua script stopped sending at `count` responses, but wrk waits out -d:
                # SIGINT makes it stop and print its report.
                time.sleep(0.5)
                wrk.send_signal(signal.SIGINT)
                try:
                    wrk.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    ctx.note("memory run: wrk did not stop on SIGINT")
                break
            if time.monotonic() >= next_sample:
                next_sample += interval
                samples.append((done, rss_mb(running.proc.pid) or math.nan))
                if len(samples) % 12 == 0:
                    log(f"  {done:,} requests, RSS {samples[-1][1]:.1f} MB")
        ctx.load_ended()
        elapsed = time.monotonic() - started
        others, top = foreign_since(outside, elapsed)
        if others >= OTHERS_NOTE:
            ctx.note(
                f"memory run: processes outside this run used {others:.2f} cores "
                f"meanwhile ({', '.join(top)})"
            )
        ctx.procs.stop("wrk-memory")
        time.sleep(2)
        samples.append((upstream_requests(ctx) - base, rss_mb(running.proc.pid) or math.nan))
        result = parse(ctx.procs.log_path("wrk-memory").read_text(errors="replace"))
        _note_errors(ctx, "memory run", result)
    finally:
        system.stop(ctx, running)
    done = samples[-1][0]
    tenth = next((rss for n, rss in samples if n >= done / 10), samples[-1][1])
    final, peak = samples[-1][1], max(rss for _, rss in samples)
    growth = final - tenth
    half = next((rss for n, rss in samples if n >= done / 2), samples[-1][1])
    step = max(1, (len(samples) - 1) // 12)
    shown = [*samples[:-1:step], samples[-1]]
    rows = [[f"{n:,}", num(rss, 1)] for n, rss in shown]
    targets = [
        Target(
            "Wardgate passthrough: RSS over the run",
            f"< {RSS_LIMIT_MB:g} MB",
            f"peak {peak:.1f} MB, final {final:.1f} MB",
            peak < RSS_LIMIT_MB,
        ),
        Target(
            f"Wardgate passthrough: RSS flat (growth after the first 10 % of "
            f"requests <= {FLAT_MB:g} MB)",
            "flat",
            f"{growth:+.1f} MB",
            growth <= FLAT_MB,
        ),
    ]
    md = f"""Wardgate passthrough (pinned to CPU 0) under wrk at 64 connections until
{count:,} responses ({done:,} reached the upstream; {elapsed:.0f} s, {result.rps:,.0f} req/s,
p99 {result.p99_ms:.2f} ms), VmRSS from `/proc/PID/status` every {interval:g} s; requests done
as counted by the upstream. Every request also wrote its event to SQLite in the state dir.
Final RSS (2 s after the load stopped): **{final:.1f} MB**; peak {peak:.1f} MB; after the first
10 % of requests {tenth:.1f} MB, at half-way {half:.1f} MB (growth over the second half:
{final - half:+.1f} MB).

{table(["requests done", "RSS MB"], rows)}
"""
    return SectionResult(md, targets, {"samples": samples, "rps": result.rps})


def workers(ctx: Ctx) -> SectionResult:
    lua = write_lua(ctx.tmp / "post.lua", ctx.body_file, PATH, BEARER)
    system = SYSTEMS["wg-pass"]
    loads: dict[int, Load] = {}
    for count, cpus in ((1, "0"), (2, None)):
        running = _launch(ctx, system, stream=False, cpus=cpus, workers=count)
        if running is None:
            continue
        try:
            time.sleep(2 if count > 1 else 0)  # let every worker bind the port
            loads[count] = _measure(ctx, system, running, 64, lua)
        finally:
            system.stop(ctx, running)
    rows = [
        [
            str(n),
            "CPU 0" if n == 1 else "not pinned (CPUs 0-1)",
            num(x.rps),
            num(x.p50_ms, 3),
            num(x.p99_ms, 3),
            num(x.cpu_per_1k, 3),
            num(x.busy * 100 if x.busy else None, 0, " %"),
            f"{x.non_2xx} / {x.socket_errors}",
            num(x.others * 100, 0, " %"),
        ]
        for n, x in loads.items()
    ]
    scale = loads[2].rps / loads[1].rps if len(loads) == 2 and loads[1].rps else None
    md = f"""Wardgate passthrough with `--workers 1` (pinned to CPU 0) and `--workers 2` (not
pinned), wrk at 64 connections as above. With 2 workers the gateway competes with wrk and the
upstream (both still pinned to CPU {
        LOAD_CPU
    }) for the same 2 cores, so this figure **understates** how
far workers scale on a machine with spare cores. *busy* counts the whole process tree (the
supervisor and both workers), so above 100 % means more than one core.
2 workers / 1 worker throughput: **{num(scale, 2, "x")}**.

{
        table(
            [
                "workers",
                "pinning",
                "req/s",
                "p50 ms",
                "p99 ms",
                "CPU-s / 1k req",
                "busy",
                "errors",
                "others",
            ],
            rows,
        )
    }
"""
    return SectionResult(
        md, [], {"loads": {n: asdict(x) for n, x in loads.items()}, "scale": scale}
    )
