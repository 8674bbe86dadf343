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

from lib import sections as core
from lib.report import SectionResult, Target, num, percentile, table
from lib.systems import SYSTEMS, Ctx
from lib.wrk import write_lua

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


def discovery(ctx: Ctx) -> SectionResult:
    lua = write_lua(ctx.tmp / "post.lua", ctx.body_file, core.PATH, core.BEARER)
    rounds = 1 if ctx.quick else 3
    samples: dict[str, list[core.Load]] = {"wg-checks": [], "wg-discovery": []}
    for round_number in range(rounds):
        # Alternate which system goes first: a fixed order biases the second one.
        order = list(samples) if round_number % 2 == 0 else list(reversed(samples))
        for key in order:
            system = SYSTEMS[key]
            running = core._launch(ctx, system, stream=False)
            if running is None:
                continue
            try:
                samples[key].append(core._measure(ctx, system, running, CONNECTIONS, lua))
            finally:
                system.stop(ctx, running)
    medians = {
        key: sorted(runs, key=lambda x: x.rps)[len(runs) // 2] if runs else None
        for key, runs in samples.items()
    }
    off, on = medians["wg-checks"], medians["wg-discovery"]
    drop = 1 - on.rps / off.rps if off and on and off.rps else None
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
            f"Requests/s drop with learning on (median of {rounds}, {CONNECTIONS} conn.)",
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
        [key, num(m.rps), num(m.p50_ms, 3), num(m.p99_ms, 3), ", ".join(num(x.rps) for x in runs)]
        for key, runs in samples.items()
        if (m := medians[key]) is not None
    ]
    md = f"""Requests/s through Wardgate with the demo checks, without and with discovery
learning from every request (`discovery: {{enabled: true}}`: 0.5 % CPU budget, bounded
queue), {CONNECTIONS} connections, {rounds} interleaved rounds (which system goes first
alternates), median:

{table(["system", "req/s", "p50 ms", "p99 ms", "rounds (req/s)"], rows)}

Inventory memory: {calls:,} calls over {memory["endpoints"]:,} endpoints (ids in paths,
query parameters, JSON bodies) learned in one process: RSS
{num(memory["rss_before_mb"], 0)} MB before, {num(memory["rss_after_mb"], 0)} MB after
(+{num(grown, 0)} MB); {num(memory["calls_per_s"], 0)} calls learned per second on one core.
"""
    return SectionResult(
        md,
        targets,
        {"loads": {k: [vars(x) for x in v] for k, v in samples.items()}, "memory": memory},
    )
