"""The sensitive-data section: finding and masking PII and secrets in a 4 KB prompt.

In this process, pinned to the gateway's CPU after `gc.freeze()`: `find_sensitive` plus
the default masking over three 4 KB prompts: a chat prompt (business prose with an email,
a phone number, a card, an IBAN, a name and a date of birth), a support log (dense with
numbers, ids, timestamps, addresses and a few personal values) and a code paste
(configuration and code with assignments everywhere and one credential). The target is
the chat prompt's; the other two show where the cost grows.
"""

from __future__ import annotations

import gc
import os
import time

from lib.report import SectionResult, Target, num, percentile, table

P99_LIMIT_MS = 0.5

PROSE = (
    "Hi team, following up on yesterday's call about the renewal. The customer asked us to "
    "summarise the open items before the quarterly review, and to keep the tone friendly "
    "but precise. They mentioned that the migration plan looked reasonable, that the "
    "training sessions should move to the second half of the month, and that the pricing "
    "discussion can wait until legal has reviewed the draft. Please also double-check the "
    "service levels we promised in the original proposal and flag anything that changed. "
)
PERSONAL = (
    "My name is Maria Gonzalez, you can reach me at maria.gonzalez@example-corp.com or on "
    "+44 20 7946 0958. Please charge the card 4111 1111 1111 1111 and refund to IBAN "
    "GB82 WEST 1234 5698 7654 32. I was born on 12 March 1984. "
)
LOG_LINE = (
    "2024-05-14T10:22:{s:02d}Z order={n} user_id={u} ip=10.0.{a}.{b} status=200 "
    "latency_ms={l} path=/api/v2/orders/{n}/items amount=1{a}.{b} currency=EUR\n"
)
CODE = """def connect(settings):
    host = settings.get("host", "localhost")
    port = int(settings.get("port", 5432))
    retries: int = 3
    for attempt in range(retries):
        try:
            return Client(host=host, port=port, timeout=5.0, ssl=True)
        except ConnectionError as error:
            log.warning("attempt %d failed: %s", attempt, error)
    raise RuntimeError("no connection")

config = {"region": "eu-west-1", "bucket": "reports", "max_items": 100, "debug": False}
"""


def _prompts() -> dict[str, str]:
    chat = (PROSE * 12)[:3700] + PERSONAL
    log = "".join(
        LOG_LINE.format(s=i % 60, n=88000 + i, u=1000 + 7 * i, a=i % 200, b=i % 250, l=5 + i)
        for i in range(40)
    )
    log = (log[:3900] + " contact: jane.doe@example.org, +1 415 555 2671")[:4096]
    code = (CODE * 6)[:3950] + '\nGITHUB_TOKEN = "ghp_1234567890abcdefghijABCDEFGHIJ123456"\n'
    return {"chat prompt": chat[:4096], "support log": log, "code paste": code[:4096]}


def sensitive(ctx) -> SectionResult:
    from wardgate.detect.sensitive import find_sensitive, mask

    runs = 50 if ctx.quick else 2000
    prompts = _prompts()
    gc.collect()
    gc.freeze()
    os.sched_setaffinity(0, {0})
    results: dict[str, dict[str, float]] = {}
    try:
        for label, text in prompts.items():
            for _ in range(20):
                mask(text, find_sensitive(text))
            values = []
            for _ in range(runs):
                started = time.perf_counter_ns()
                mask(text, find_sensitive(text))
                values.append((time.perf_counter_ns() - started) / 1e6)
            results[label] = {
                "p50": percentile(values, 50),
                "p99": percentile(values, 99),
                "findings": float(len(find_sensitive(text))),
                "chars": float(len(text)),
            }
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    chat = results["chat prompt"]["p99"]
    targets = [
        Target(
            "PII and secrets, detection plus masking of a 4 KB chat prompt, p99",
            f"<= {P99_LIMIT_MS:g} ms",
            num(chat, 3, " ms"),
            chat <= P99_LIMIT_MS,
        )
    ]
    rows = [
        [label, f"{int(r['chars']):,}", str(int(r["findings"])), num(r["p50"], 3, " ms"),
         num(r["p99"], 3, " ms")]
        for label, r in results.items()
    ]  # fmt: skip
    md = f"""`find_sensitive` plus masking, one core, {runs:,} runs each after `gc.freeze()`
(Presidio's throughput beside ours is in docs/detection.md, `make eval`):

{table(["4 KB prompt", "characters", "findings", "p50", "p99"], rows)}
"""
    return SectionResult(md, targets, {"latency_ms": results})
