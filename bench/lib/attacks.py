"""The attacks section: what inspecting a request costs, builtin beside crs.

Measured in this process (the gateway's venv) pinned to the gateway's CPU, on the engines
the `attacks` check builds, after `gc.freeze()` as the gateway does once it has started.
Bodies are JSON a REST or AI API receives: records (many short fields) and a chat request
(few long fields), at 4 KB and 64 KB. Then the `wardgate scan request` command's throughput
on 10,000 requests (a fixed mix of attack and benign requests from the web_attacks data).
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from lib.report import SectionResult, Target, num, percentile, table

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "web_attacks"
P99_4KB_MS = 1.0
P99_64KB_MS = 5.0
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "customers",
    "order",
    "invoices",
    "and",
    "the",
    "shipment",
    "is",
    "pending",
    "from",
    "where",
    "it",
    "was",
    "sent",
    "if",
    "then",
    "address",
    "city",
    "name",
    "note",
    "total",
]


def _records(size: int, rng: random.Random) -> bytes:
    items: list[dict[str, object]] = []
    while len(orjson.dumps({"items": items})) < size:
        n = len(items)
        items.append(
            {
                "id": n,
                "name": " ".join(rng.choice(WORDS) for _ in range(3)),
                "email": f"user{n}@example.com",
                "tags": ["a", "b"],
                "note": "ok",
            }
        )
    return orjson.dumps({"items": items})


def _chat(size: int, rng: random.Random) -> bytes:
    messages: list[dict[str, str]] = []
    while len(orjson.dumps({"model": "gpt-4o", "messages": messages})) < size:
        role = "user" if len(messages) % 2 == 0 else "assistant"
        text = " ".join(rng.choice(WORDS) for _ in range(40)) + "."
        messages.append({"role": role, "content": text})
    return orjson.dumps({"model": "gpt-4o", "messages": messages})


def _latencies(engine: object, sample: object, runs: int) -> list[float]:
    inspect = engine.inspect  # type: ignore[attr-defined]
    for _ in range(min(20, runs)):
        inspect(sample)
    out = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        inspect(sample)
        out.append((time.perf_counter_ns() - started) / 1e6)
    return out


def _scan_lines(count: int) -> bytes:
    """`count` scan-request lines: a fixed sample of the evaluation's requests."""
    sys.path.insert(0, str(REPO / "scripts"))
    from web_attack_cases import load_cases

    cases = load_cases(DATA)
    rng = random.Random(20261126)
    lines = []
    for case in rng.choices(cases, k=count):
        s = case.sample
        lines.append(
            orjson.dumps(
                {
                    "method": s.method,
                    "path": s.path,
                    "query": s.query,
                    "headers": dict(s.headers),
                    "body": s.body.decode("utf-8", "replace"),
                }
            )
        )
    return b"\n".join(lines) + b"\n"


def _scan_throughput(lines: bytes, engine: str, count: int) -> float | None:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as handle:
        handle.write(lines)
        handle.flush()
        command = ["taskset", "-c", "0", sys.executable, "-m", "wardgate", "scan", "request"]
        started = time.perf_counter()
        with open(handle.name, "rb") as stdin:
            done = subprocess.run(
                [*command, "--engine", engine], stdin=stdin, capture_output=True, timeout=1800
            )
        elapsed = time.perf_counter() - started
    if done.returncode != 0 or done.stdout.count(b"\n") != count:
        return None
    return count / elapsed


def attacks(ctx) -> SectionResult:
    from wardgate.detect.attacks.crs import crs_available
    from wardgate.detect.attacks.engines import build_engine
    from wardgate.detect.attacks.model import HttpSample

    rng = random.Random(7)
    runs = 50 if ctx.quick else 400
    headers = (
        ("Host", "api.example"),
        ("Content-Type", "application/json"),
        ("User-Agent", "openai-python/3.51.0"),
    )
    bodies = {
        "4 KB records": _records(4096, rng),
        "4 KB chat": _chat(4096, rng),
        "64 KB records": _records(65536, rng),
        "64 KB chat": _chat(65536, rng),
    }
    crs_missing = crs_available()
    engines = {"builtin": build_engine("builtin")}
    if crs_missing is None:
        engines["crs"] = build_engine("crs")
    gc.collect()
    gc.freeze()
    os.sched_setaffinity(0, {0})
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for name, engine in engines.items():
            for label, body in bodies.items():
                sample = HttpSample("POST", "/v1/items", "", headers, body)
                count = runs if name == "builtin" or "4 KB" in label else max(20, runs // 10)
                values = _latencies(engine, sample, count)
                results.setdefault(name, {})[label] = {
                    "p50": percentile(values, 50),
                    "p99": percentile(values, 99),
                    "runs": count,
                    "bytes": len(body),
                }
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    count = 500 if ctx.quick else 10_000
    throughput: dict[str, float | None] = {}
    if DATA.exists():
        lines = _scan_lines(count)
        for name in engines:
            throughput[name] = _scan_throughput(lines, name, count)
    rows = []
    for label in bodies:
        row = [f"{label} ({len(bodies[label]):,} B)"]
        for name in ("builtin", "crs"):
            measured = results.get(name, {}).get(label)
            row.append(num(measured["p50"], 2, " ms") if measured else "-")
            row.append(num(measured["p99"], 2, " ms") if measured else "-")
        rows.append(row)
    builtin = results["builtin"]
    worst_4kb = max(builtin["4 KB records"]["p99"], builtin["4 KB chat"]["p99"])
    worst_64kb = max(builtin["64 KB records"]["p99"], builtin["64 KB chat"]["p99"])
    targets = [
        Target(
            "Attack inspection (builtin), 4 KB JSON body, p99",
            f"<= {P99_4KB_MS:g} ms",
            num(worst_4kb, 2, " ms"),
            worst_4kb <= P99_4KB_MS,
        ),
        Target(
            "Attack inspection (builtin), 64 KB JSON body, p99",
            f"<= {P99_64KB_MS:g} ms",
            num(worst_64kb, 2, " ms"),
            worst_64kb <= P99_64KB_MS,
        ),
    ]
    scan_rows = [
        [f"`wardgate scan request --engine {name}`", num(rate, 0, " requests/s")]
        for name, rate in throughput.items()
    ]
    md = f"""One `inspect` of a whole request (parts extraction, decoding, signatures, tokenisers,
semantic checks), {runs} runs per body in the benchmark's process pinned to CPU 0 (crs: a
tenth as many on 64 KB bodies), after `gc.freeze()` as in the gateway. The builtin engine
runs on the event loop; the `attacks` check moves bodies over 64 KB, and every crs
inspection, to a thread. {"" if crs_missing is None else f"crs did not run: {crs_missing}."}

{table(["JSON body", "builtin p50", "builtin p99", "crs p50", "crs p99"], rows)}

Throughput of the command on {count:,} requests (a fixed sample of the web_attacks
evaluation's requests, attack and benign; process start included; pinned to CPU 0):

{table(["command", "throughput"], scan_rows or [["(data not found)", "-"]])}
"""
    return SectionResult(md, targets, {"latency_ms": results, "scan_per_s": throughput})
