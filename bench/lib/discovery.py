"""The discovery section: what learning costs the traffic, and how big the inventory gets.

1. Requests/s through Wardgate with the demo checks, with and without discovery learning
   from every request (same policy plus `discovery: {enabled: true}`), measured in
   interleaved rounds at 16 connections, the median of each kept.
2. Memory: 1,000,000 calls over 10,000 endpoints learned in this process (paths with ids,
   query parameters, small JSON bodies), RSS before and after, and the learning rate.
"""

from __future__ import annotations

import gc
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lib import sections as core
from lib.procs import cpu_seconds, log, settle_cpu
from lib.report import SectionResult, Target, num, percentile, table
from lib.systems import LOAD_CPU, SYSTEMS, Ctx
from lib.wrk import WrkResult, run_wrk, write_lua

DROP_LIMIT = 0.03
RSS_LIMIT_MB = 500.0
CONNECTIONS = 16


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _memory(calls: int, endpoints: int) -> dict[str, float]:
    from wardgate.discovery.inventory import Inventory
    from wardgate.discovery.observation import Observation

    rng = random.Random(5)
    # camelCase resource names (`alphaBravo`): static names the templater keeps apart, so
    # the inventory really holds `endpoints` templates, each with an id parameter.
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
             "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
             "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray",
             "yankee", "zulu", "amber", "basil", "cedar", "dune", "ember", "fern", "grove",
             "harbor", "iris", "jade", "kelp", "lotus", "maple", "nectar", "onyx", "pearl",
             "quartz", "raven", "sage", "thistle", "umber", "violet", "willow",
             "yarrow"]  # fmt: skip
    names = [a + b.capitalize() for a in words for b in words if a != b]
    # An API of 10,000 endpoints is a hierarchy: 100 services of 100 resources each.
    width = int(endpoints**0.5)
    services, resources = names[:width], names[width : 2 * width]
    gc.collect()
    before = _rss_mb()
    inventory = Inventory(max_templates_per_host=endpoints + 10)
    started = time.perf_counter()
    for n in range(calls):
        service = services[n % width]
        resource = resources[(n // width) % width]
        body = b'{"name":"n%d","qty":%d,"tags":["a","b"]}' % (n, n % 7)
        inventory.add(
            Observation(
                method="GET",
                path=f"/api/{service}/{resource}/{rng.randrange(1, 10**9)}",
                host="api.example.com",
                query=(("page", str(n % 50)), ("sort", "asc")),
                request_type="application/json" if n % 3 == 0 else "",
                request_body=body if n % 3 == 0 else b"",
                status=200,
                response_type="application/json",
                response_body=b'{"id":%d,"ok":true}' % n,
                time=1.7e9 + n,
            )
        )
    seconds = time.perf_counter() - started
    learned = len(inventory.endpoints())
    gc.collect()
    return {
        "calls": calls,
        "endpoints": learned,
        "rss_before_mb": before,
        "rss_after_mb": _rss_mb(),
        "calls_per_s": calls / seconds,
    }


ORDER_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "bench", "version": "1"},
    "paths": {
        "/v1/orders/{orderId}": {
            "put": {
                "parameters": [
                    {"name": "orderId", "in": "path", "required": True,
                     "schema": {"type": "integer"}}
                ],
                "requestBody": {"content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Order"}}}},
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
    "components": {"schemas": {
        "Order": {"type": "object", "required": ["customer", "items"], "properties": {
            "customer": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 200},
                "email": {"type": "string", "format": "email"},
                "tier": {"type": "string", "enum": ["free", "pro", "enterprise"]}}},
            "items": {"type": "array", "maxItems": 500, "items": {
                "$ref": "#/components/schemas/Item"}},
            "note": {"type": "string", "maxLength": 2000},
            "coupon": {"type": "string", "nullable": True}}},
        "Item": {"type": "object", "required": ["sku", "qty"], "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"},
            "qty": {"type": "integer", "minimum": 1},
            "price": {"type": "number"},
            "gift": {"type": "boolean"},
            "options": {"type": "array", "items": {"type": "string"}}}},
    }},
}  # fmt: skip
SCHEMA_P99_US = 200.0


def _schema_timings(runs: int) -> tuple[list[float], int]:
    """Both phases of the schema check on a 4 KB order (40 items), microseconds."""
    import asyncio

    import orjson

    from wardgate.checks.schema import Config, SchemaCheck
    from wardgate.exchange import Exchange

    check = SchemaCheck.from_spec(ORDER_SPEC, Config(learned="(in memory)"))
    items = [
        {"sku": f"AB-{i:04d}", "qty": i % 9 + 1, "price": 9.5 + i, "gift": i % 2 == 0,
         "options": ["red", "large"]}
        for i in range(40)
    ]  # fmt: skip
    order = {
        "customer": {"name": "Ann Example", "email": "ann@example.org", "tier": "pro"},
        "items": items,
        "note": "leave at the door " * 20,
        "coupon": None,
    }
    body = orjson.dumps(order)
    headers = {"content-type": "application/json"}

    async def measure() -> list[float]:
        values = []
        for _ in range(runs):
            ex = Exchange("r", "PUT", "/v1/orders/4711", "", headers, "127.0.0.1", body=body)
            started = time.perf_counter_ns()
            first = await check.check_request(ex)
            second = await check.check_request(ex)
            values.append((time.perf_counter_ns() - started) / 1e3)
            assert not first.findings and not second.findings
        return values

    return asyncio.run(measure()), len(body)


def _round_drop(runs: dict[str, list[core.Load]]) -> float | None:
    """1 - (requests/s with learning) / (requests/s without), each the mean of its runs."""
    off, on = runs["wg-checks"], runs["wg-discovery"]
    if not off or not on:
        return None
    off_rps, on_rps = sum(x.rps for x in off) / len(off), sum(x.rps for x in on) / len(on)
    return 1 - on_rps / off_rps if off_rps else None


def _cpu_ms_per_1k(runs: list[core.Load]) -> float | None:
    measured = [x for x in runs if x.cpu_s and x.requests]
    if not measured:
        return None
    return sum(x.cpu_s or 0.0 for x in measured) / sum(x.requests for x in measured) * 1e6


@dataclass
class Pair:
    """One side-by-side run: both gateways on one core at once, each under its own wrk."""

    rps: dict[str, float]
    cpu_us: dict[str, float]  # CPU per request

    @property
    def drop(self) -> float:
        off, on = self.rps["wg-checks"], self.rps["wg-discovery"]
        return 1 - on / off if off else float("nan")


def _side_by_side(ctx: Ctx, lua: Path, seconds: float) -> Pair | None:
    keys = ("wg-checks", "wg-discovery")
    running = {key: core._launch(ctx, SYSTEMS[key], stream=False) for key in keys}
    try:
        if any(r is None for r in running.values()):
            return None
        ports = {key: r.port for key, r in running.items() if r is not None}

        def load(key: str, duration: float) -> WrkResult:
            return run_wrk(ctx.procs, ports[key], lua, CONNECTIONS, duration, cpus=LOAD_CPU,
                           name=f"wrk-{key}")  # fmt: skip

        ctx.wait_quiet("discovery side by side")
        with ThreadPoolExecutor(len(keys)) as pool:
            list(pool.map(lambda key: load(key, 2), keys))  # warm-up
            before = {key: cpu_seconds(r.pids()) for key, r in running.items() if r}
            results = dict(zip(keys, pool.map(lambda key: load(key, seconds), keys), strict=True))
        ctx.load_ended()
        cpu = {key: settle_cpu(r.pids) - before[key] for key, r in running.items() if r}
    finally:
        for key, r in running.items():
            if r is not None:
                SYSTEMS[key].stop(ctx, r)
    for key, result in results.items():
        if result.errors or not result.requests:
            ctx.note(f"discovery side by side, {key}: {result.errors} errors, "
                     f"{result.requests} responses")  # fmt: skip
            return None
    pair = Pair(
        {key: r.rps for key, r in results.items()},
        {key: cpu[key] / r.requests * 1e6 for key, r in results.items()},
    )
    log(
        "  side by side: "
        + ", ".join(f"{k} {v:,.0f} req/s" for k, v in pair.rps.items())
        + f" (drop {pair.drop:.1%})"
    )
    return pair


def discovery(ctx: Ctx) -> SectionResult:
    lua = write_lua(ctx.tmp / "post.lua", ctx.body_file, core.PATH, core.BEARER)
    rounds = 1 if ctx.quick else 3
    keys = ("wg-checks", "wg-discovery")
    samples: dict[str, list[core.Load]] = {key: [] for key in keys}
    drops: list[float] = []
    for round_number in range(rounds):
        # Each round runs A B B A (B A A B the next): this machine's speed drifts by tens
        # of percent within a minute, and a mirrored order cancels a steady drift that a
        # plain A B would book as the difference between the systems.
        first, second = keys if round_number % 2 == 0 else reversed(keys)
        runs: dict[str, list[core.Load]] = {key: [] for key in keys}
        for key in (first, second, second, first):
            system = SYSTEMS[key]
            running = core._launch(ctx, system, stream=False)
            if running is None:
                continue
            try:
                runs[key].append(core._measure(ctx, system, running, CONNECTIONS, lua))
            finally:
                system.stop(ctx, running)
        for key in keys:
            samples[key].extend(runs[key])
        if (round_drop := _round_drop(runs)) is not None:
            drops.append(round_drop)
    pairs = [
        pair
        for _ in range(rounds)
        if (pair := _side_by_side(ctx, lua, 2 if ctx.quick else 10)) is not None
    ]
    drop = sorted(p.drop for p in pairs)[len(pairs) // 2] if pairs else None
    os.sched_setaffinity(0, {0})
    try:
        calls, endpoints = (50_000, 10_000) if ctx.quick else (1_000_000, 10_000)
        memory = _memory(calls, endpoints)
        schema_us, schema_bytes = _schema_timings(500 if ctx.quick else 20000)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    grown = memory["rss_after_mb"] - memory["rss_before_mb"]
    targets = [
        Target(
            f"Requests/s drop with learning on "
            f"(median of {rounds} side-by-side rounds, {CONNECTIONS} conn.)",
            f"<= {DROP_LIMIT:.0%}",
            num(drop * 100 if drop is not None else None, 1, " %"),
            None if drop is None else drop <= DROP_LIMIT,
        ),
        Target(
            f"Inventory of {memory['endpoints']:,} endpoints from {calls:,} calls, RSS",
            f"< {RSS_LIMIT_MB:g} MB",
            num(memory["rss_after_mb"], 0, " MB"),
            memory["rss_after_mb"] < RSS_LIMIT_MB if not ctx.quick else None,
        ),
        Target(
            f"Schema check of a {schema_bytes:,}-byte JSON body (both phases), p99",
            f"<= {SCHEMA_P99_US:g} µs",
            num(percentile(schema_us, 99), 1, " µs"),
            percentile(schema_us, 99) <= SCHEMA_P99_US,
        ),
    ]
    rows = [
        [
            key,
            num(sorted(x.rps for x in runs)[len(runs) // 2]),
            num(percentile([x.p50_ms for x in runs], 50), 3),
            num(_cpu_ms_per_1k(runs), 1),
            ", ".join(num(x.rps) for x in runs),
        ]
        for key, runs in samples.items()
        if runs
    ]
    pair_rows = [
        [
            str(n + 1),
            num(pair.rps["wg-checks"]),
            num(pair.rps["wg-discovery"]),
            num(pair.cpu_us["wg-checks"], 1),
            num(pair.cpu_us["wg-discovery"], 1),
            f"{pair.drop * 100:.1f} %",
        ]
        for n, pair in enumerate(pairs)
    ]
    round_drops = ", ".join(f"{d * 100:.1f} %" for d in drops)
    per_request = [
        x.cpu_s / x.requests * 1e6 for x in samples["wg-checks"] if x.cpu_s and x.requests
    ]
    spread = f"{min(per_request):.0f} to {max(per_request):.0f}" if per_request else "n/a"
    md = f"""Requests/s through Wardgate with the demo checks, without (A, `wg-checks`) and with
(B, `wg-discovery`) discovery learning from every request (`discovery: {{enabled: true}}`:
0.5 % CPU budget, bounded queue), {CONNECTIONS} connections per gateway.

This machine's speed drifts: in this run the same gateway, alone on its core, cost from
{spread} µs of CPU per request from one 10-second run to the next (the runs below), far
more than the 3 % to be measured. The target therefore reads side-by-side rounds: both
gateways, freshly started, pinned to the same core at the same time, each driven by its own
wrk; both are CPU-bound, the core is shared evenly, so the ratio of their requests/s is the
ratio of their costs per request, whatever the machine does meanwhile. Median of {rounds} rounds:

{table(["round", "A req/s", "B req/s", "A CPU µs/req", "B CPU µs/req", "drop"], pair_rows)}

The same comparison run one gateway at a time, as the core benchmark runs: {rounds} rounds
of four fresh runs in mirrored order (A B B A, then B A A B), a round's drop comparing the
mean requests/s of its two runs per system. Drop per round: {round_drops or "n/a"}.

{table(["system", "median req/s", "median p50 ms", "CPU ms / 1k req", "runs (req/s)"], rows)}

Inventory memory: {calls:,} calls over {memory["endpoints"]:,} endpoints (ids in paths,
query parameters, JSON bodies) learned in one process: RSS
{num(memory["rss_before_mb"], 0)} MB before, {num(memory["rss_after_mb"], 0)} MB after
(+{num(grown, 0)} MB); {num(memory["calls_per_s"], 0)} calls learned per second on one core.
"""
    return SectionResult(
        md,
        targets,
        {
            "loads": {k: [vars(x) for x in v] for k, v in samples.items()},
            "round_drops": drops,
            "side_by_side": [vars(pair) for pair in pairs],
            "memory": memory,
        },
    )
