"""The guardrails section: prompt-injection scoring and streamed-output checks.

In this process (the gateway's venv) pinned to the gateway's CPU: the injection detector on
1 KB and 16 KB prompts, and the output check's cost per streamed event. Then, through a real
gateway in front of the demo upstream streaming 4-character events 10 ms apart, the time to
the first answer text with the output check and no hold-back, and with a 200-character
hold-back (what a client waits for the guarantee that no unsafe span is released).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import orjson

from lib.report import SectionResult, Target, num, percentile, table

INJECTION_MS_PER_KB = 2.0
EVENT_P99_MS = 0.2
SENTENCE = (
    "please summarise the attached quarterly report and list the main risks with owners "
    "dates budget figures and any open questions for the finance team before friday"
)
WORDS = SENTENCE.split()


def _prompt(size: int, rng: random.Random) -> str:
    words: list[str] = []
    while len(" ".join(words)) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:size]


def _timings(fn, runs: int) -> list[float]:
    for _ in range(min(10, runs)):
        fn()
    out = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - started) / 1e6)
    return out


def _event_costs(runs: int) -> list[float]:
    from wardgate.checks.output import Config, OutputCheck
    from wardgate.exchange import Exchange
    from wardgate.pipeline import StreamEvent
    from wardgate.providers.call import LLMCall, Message, Origin

    check = OutputCheck(Config(canary=True, allowed_hosts=["*.example.org"]))
    text = (
        "Here is the summary you asked for. See ![chart](https://img.example.org/c.png) and "
        "the [report](https://docs.example.org/q3) for details; risks: budget, staffing. "
    ) * 20
    pieces = [text[i : i + 20] for i in range(0, len(text), 20)][:runs]
    call = LLMCall("chat", "m", (Message("system", Origin.SYSTEM, "You are terse.", "x"),))
    ex = Exchange("bench", "POST", "/v1/chat/completions", "", {}, "127.0.0.1")
    ex.call = call
    events = [
        StreamEvent(orjson.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}).decode())
        for p in pieces
    ]
    costs = []
    for event in events:
        started = time.perf_counter_ns()
        # The check never awaits: drive its coroutine directly rather than time a loop.
        coroutine = check.check_chunk(ex, event)
        with contextlib.suppress(StopIteration):
            coroutine.send(None)
        costs.append((time.perf_counter_ns() - started) / 1e6)
    return costs


async def _first_text_ms(base: str, rounds: int) -> list[float]:
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": " ".join(WORDS)}],
    }
    headers = {
        "Authorization": "Bearer demo-key",
        "x-demo-chunk-size": "4",
        "x-demo-chunk-delay-ms": "10",
    }
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(rounds):
            started = time.perf_counter()
            async with session.post(f"{base}/v1/chat/completions", json=body, headers=headers) as r:
                async for line in r.content:
                    if b'"content":"' in line and b'"content":""' not in line:
                        out.append((time.perf_counter() - started) * 1000)
                        break
                await r.read()
    return out


async def _ttft(holdback: int, rounds: int) -> list[float]:
    from wardgate.demo.upstream import start_demo_upstream
    from wardgate.policy.load import parse_policy
    from wardgate.runtime import start_gateway

    runner, port = await start_demo_upstream()
    with tempfile.TemporaryDirectory() as state:
        os.environ["WARDGATE_STATE_DIR"] = state
        policy = textwrap.dedent(f"""
            version: 1
            events: {{sinks: [{{type: sqlite, path: "{Path(state) / "e.db"}"}}]}}
            upstreams: {{up: {{targets: ["http://127.0.0.1:{port}"]}}}}
            routes:
              - name: chat
                match: {{path_prefix: /v1}}
                upstream: up
                provider: openai
                stream_holdback: {holdback}
                checks:
                  - {{type: output, canary: true}}
        """)
        gateway = await start_gateway(parse_policy(policy, "bench.yaml"), "127.0.0.1", 0)
        try:
            return await _first_text_ms(f"http://127.0.0.1:{gateway.port}", rounds)
        finally:
            await gateway.stop()
            await runner.cleanup()


def guardrails(ctx) -> SectionResult:
    from wardgate.detect.injection import InjectionDetector

    rng = random.Random(11)
    detector = InjectionDetector.default()
    runs = 30 if ctx.quick else 300
    prompts = {"1 KB": _prompt(1024, rng), "16 KB": _prompt(16384, rng)}
    gc.collect()
    gc.freeze()
    os.sched_setaffinity(0, {0})
    latency: dict[str, dict[str, float]] = {}
    try:
        for label, text in prompts.items():
            for origin in ("user", "document"):
                count = runs if label == "1 KB" else max(20, runs // 5)
                values = _timings(lambda t=text, o=origin: detector.score(t, o), count)
                latency[f"{label} {origin}"] = {
                    "p50": percentile(values, 50),
                    "p99": percentile(values, 99),
                }
        events = _event_costs(200 if ctx.quick else 2000)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    rounds = 5 if ctx.quick else 30
    ttft = {h: asyncio.run(_ttft(h, rounds)) for h in (0, 200)}
    event_p99 = percentile(events, 99)
    worst_per_kb = max(
        latency["1 KB user"]["p99"],
        latency["1 KB document"]["p99"],
        latency["16 KB user"]["p99"] / 16,
        latency["16 KB document"]["p99"] / 16,
    )
    targets = [
        Target(
            "Injection detector, p99 per KB (1 KB and 16 KB prompts)",
            f"<= {INJECTION_MS_PER_KB:g} ms",
            num(worst_per_kb, 2, " ms"),
            worst_per_kb <= INJECTION_MS_PER_KB,
        ),
        Target(
            "Output check per streamed event, p99",
            f"<= {EVENT_P99_MS:g} ms",
            num(event_p99, 3, " ms"),
            event_p99 <= EVENT_P99_MS,
        ),
    ]
    rows = [[key, num(v["p50"], 2, " ms"), num(v["p99"], 2, " ms")] for key, v in latency.items()]
    ttft_rows = [
        [
            f"hold-back {h} characters",
            num(percentile(v, 50), 1, " ms"),
            num(percentile(v, 99), 1, " ms"),
        ]
        for h, v in ttft.items()
    ]
    md = f"""Injection detector (`InjectionDetector.score`, model and rules, deobfuscation
included), one core, after `gc.freeze()`:

{table(["prompt", "p50", "p99"], rows)}

Output check per streamed event (20-character deltas; exfiltration, active HTML, canary
and verbatim-prompt detectors on): p50 {num(percentile(events, 50), 3, " ms")}, p99
{num(event_p99, 3, " ms")} over {len(events):,} events.

Time to the first answer text through the gateway (demo upstream streaming 4-character
events 10 ms apart; output check with canary on; {rounds} requests each): the hold-back
keeps text until that many characters stand behind it, so the first text waits for them.

{table(["route setting", "p50", "p99"], ttft_rows)}
"""
    data = {"latency_ms": latency, "event_ms_p99": event_p99, "ttft_ms": ttft}
    return SectionResult(md, targets, data)
