"""The consumption section: what a limit decision, a call parse and a token estimate cost.

Measured in this process (the gateway's venv), pinned to the gateway's CPU, on the same
objects the gateway uses: the rate-limit check over each counter store, the OpenAI adapter
on a 4 KB chat request, and the offline token estimator on 4 KB of text.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from lib.report import SectionResult, Target, num, table

REPO = Path(__file__).resolve().parents[2]
LIMIT_DECISION_US = 20.0
PARSE_US = 100.0
ESTIMATE_US = 200.0


def _best_of(fn, repeat: int, number: int) -> float:
    """Best mean seconds per call over `repeat` rounds of `number` calls (noise only adds)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best


async def _async_best_of(fn, repeat: int, number: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            await fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def _chat_body(size: int) -> bytes:
    words = "Summarise the quarterly report and list the three largest risks with owners. "
    text = (words * (size // len(words) + 1))[: size - 200]
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a concise analyst."},
            {"role": "user", "content": text},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    return orjson.dumps(body)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _redis_script_calls() -> int | None:
    """How many scripts clients have run (each EVAL/EVALSHA is one request, one round trip;
    the commands a script runs inside Redis are not round trips)."""
    try:
        out = subprocess.run(
            ["redis-cli", "INFO", "commandstats"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    calls = 0
    for line in out.splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            calls += int(line.split("calls=", 1)[1].split(",", 1)[0])
    return calls


async def _limit_decisions(quick: bool) -> dict[str, dict[str, float]]:
    from multidict import CIMultiDict

    from wardgate.checks.base import CheckContext
    from wardgate.checks.rate_limit import Config, RateLimitCheck
    from wardgate.exchange import Exchange, Identity
    from wardgate.stores.memory import MemoryCounterStore

    stores: dict[str, object] = {"memory": MemoryCounterStore()}
    if _redis_up():
        from wardgate.stores.redis import RedisCounterStore

        stores["redis"] = RedisCounterStore(
            "redis://127.0.0.1:6379/0", prefix=f"wardgate-bench:{uuid.uuid4().hex[:8]}:"
        )
    results: dict[str, dict[str, float]] = {}
    number = 200 if quick else 5000
    for name, store in stores.items():
        check = RateLimitCheck(
            Config(requests=10**9, per=60.0),
            CheckContext(counters=store),  # type: ignore[arg-type]
        )
        ex = Exchange("r", "POST", "/v1/chat/completions", "", CIMultiDict(), "127.0.0.1")
        ex.identity = Identity("bench-consumer")
        before = _redis_script_calls() if name == "redis" else None
        seconds = await _async_best_of(functools.partial(check.check_request, ex), 5, number)
        after = _redis_script_calls() if name == "redis" else None
        row = {"us": seconds * 1e6}
        if before is not None and after is not None:
            row["commands_per_decision"] = (after - before) / (5 * number)
        results[name] = row
        await store.close()  # type: ignore[attr-defined]
    return results


def _estimator_error(quick: bool) -> str:
    script = REPO / "bench" / "token_estimate.py"
    if not script.exists():
        return "_bench/token_estimate.py is missing._"
    args = [sys.executable, str(script)] + (["--quick"] if quick else [])
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=REPO)
    except subprocess.TimeoutExpired:
        return "_the estimator comparison timed out._"
    return done.stdout.strip() or f"_the estimator comparison failed: {done.stderr[-300:]}_"


def consumption(ctx) -> SectionResult:
    os.sched_setaffinity(0, {0})
    try:
        decisions = asyncio.run(_limit_decisions(ctx.quick))
        from wardgate.detect.tokens import estimate_tokens
        from wardgate.providers.openai import OpenAIAdapter

        body = _chat_body(4096)
        adapter = OpenAIAdapter()
        number = 200 if ctx.quick else 3000
        parse_us = 1e6 * _best_of(
            lambda: adapter.parse_request("/v1/chat/completions", body), 5, number
        )
        text = orjson.loads(body)["messages"][1]["content"]
        text = (text * 2)[:4096]
        estimate_us = 1e6 * _best_of(lambda: estimate_tokens(text), 5, number)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    memory = decisions.get("memory", {})
    redis = decisions.get("redis")
    rows = [
        ["`rate_limit` decision, memory store", num(memory.get("us"), 1, " µs"), "-"],
        [
            "`rate_limit` decision, Redis store (loopback)",
            num(redis["us"], 1, " µs") if redis else "Redis not running",
            num(redis.get("commands_per_decision"), 2) if redis else "-",
        ],
        [f"OpenAI adapter: parse a {len(body):,}-byte chat request", num(parse_us, 1, " µs"), "-"],
        ["token estimate of 4,096 characters of English", num(estimate_us, 1, " µs"), "-"],
    ]
    targets = [
        Target(
            "Limit decision with the memory store",
            f"<= {LIMIT_DECISION_US:g} µs",
            num(memory.get("us"), 1, " µs"),
            memory.get("us", float("inf")) <= LIMIT_DECISION_US if memory else None,
        ),
        Target(
            "Limit decision with Redis: round trips per decision",
            "1",
            num(redis.get("commands_per_decision"), 2) if redis else "-",
            (abs(redis.get("commands_per_decision", 99) - 1) < 0.05) if redis else None,
        ),
        Target(
            "Adapter parses a 4 KB chat request",
            f"<= {PARSE_US:g} µs",
            num(parse_us, 1, " µs"),
            parse_us <= PARSE_US,
        ),
        Target(
            "Token estimate of 4 KB",
            f"<= {ESTIMATE_US:g} µs",
            num(estimate_us, 1, " µs"),
            estimate_us <= ESTIMATE_US,
        ),
    ]
    md = f"""Measured in the benchmark's own process pinned to CPU 0, best mean of 5 rounds of
{200 if ctx.quick else 5000:,} decisions (3,000 parses and estimates): the same objects the
gateway runs. A limit decision is the whole `rate_limit` check (key, GCRA, answer). For Redis
(127.0.0.1:6379, same machine) *round trips per decision* is the number of script calls
(EVALSHA) Redis counted over the decisions (`INFO commandstats`), per decision: the client
sends nothing else, so each is one request and one reply.

{table(["what", "time per call", "Redis round trips per decision"], rows)}

### Token estimate against a real tokenizer

{_estimator_error(ctx.quick)}
"""
    return SectionResult(md, targets, {"decisions": decisions, "parse_us": parse_us})
