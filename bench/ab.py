#!/usr/bin/env python3
"""Paired A/B timing of this checkout's detectors against another git revision's.

    .venv/bin/python bench/ab.py --rev HEAD~3                 # every workload
    .venv/bin/python bench/ab.py --rev main --only attacks    # attacks, sensitive, injection

The shared hosts these benchmarks run on change speed by tens of percent from one minute
to the next, so two runs of `make bench` cannot resolve a 10 % change. This script imports
both versions into one process (the other revision's package exported by `git archive` and
renamed `wardgate_ab`), pins it to CPU 0, and times the two alternately, call by call, on
the same inputs as `make bench`; a drift of the machine then slows both sides of every pair
alike. It reports the median of the per-pair ratios (new / old) with its interquartile
range, and each side's p50 and p99. It times pure functions only (no sockets).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from lib import attacks as attack_bodies  # noqa: E402
from lib.guardrails import _prompt as injection_prompt  # noqa: E402
from lib.sensitive import _prompts  # noqa: E402

OLD_NAME = "wardgate_ab"
PAIRS = 300

Workload = dict[str, tuple[Callable[[], object], Callable[[], object]]]


def export_revision(rev: str, into: Path) -> None:
    """`rev`'s src/wardgate as the package `wardgate_ab` under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "src/wardgate"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / OLD_NAME
    (into / "src" / "wardgate").rename(package)
    imports = re.compile(r"\bwardgate(?=[.\s])")
    for path in package.rglob("*.py"):
        path.write_text(imports.sub(OLD_NAME, path.read_text(encoding="utf-8")), encoding="utf-8")


def attacks(new: ModuleType, old: ModuleType) -> Workload:
    from wardgate.detect.attacks.engines import build_engine
    from wardgate.detect.attacks.model import HttpSample

    old_engines = __import__(f"{OLD_NAME}.detect.attacks.engines", fromlist=["build_engine"])
    old_model = __import__(f"{OLD_NAME}.detect.attacks.model", fromlist=["HttpSample"])
    new_engine, old_engine = build_engine("builtin"), old_engines.build_engine("builtin")
    rng = random.Random(7)
    bodies = {
        "4 KB records": attack_bodies._records(4096, rng),
        "4 KB chat": attack_bodies._chat(4096, rng),
        "64 KB records": attack_bodies._records(65536, rng),
        "64 KB chat": attack_bodies._chat(65536, rng),
    }
    headers = (("Host", "api.example"), ("Content-Type", "application/json"))
    workload: Workload = {}
    for label, body in bodies.items():
        new_sample = HttpSample("POST", "/v1/items", "", headers, body)
        old_sample = old_model.HttpSample("POST", "/v1/items", "", headers, body)
        workload[f"attacks, {label}"] = (
            lambda s=new_sample: new_engine.inspect(s),
            lambda s=old_sample: old_engine.inspect(s),
        )
    return workload


def sensitive(new: ModuleType, old: ModuleType) -> Workload:
    from wardgate.detect.sensitive import find_sensitive, mask

    old_sensitive = __import__(f"{OLD_NAME}.detect.sensitive", fromlist=["find_sensitive"])
    workload: Workload = {}
    for label, text in _prompts().items():
        workload[f"sensitive, {label}"] = (
            lambda t=text: mask(t, find_sensitive(t)),
            lambda t=text: old_sensitive.mask(t, old_sensitive.find_sensitive(t)),
        )
    return workload


def injection(new: ModuleType, old: ModuleType) -> Workload:
    from wardgate.detect.injection import InjectionDetector

    old_injection = __import__(f"{OLD_NAME}.detect.injection", fromlist=["InjectionDetector"])
    new_detector = InjectionDetector.default()
    # Its own model file: `default_model_path` names the package `wardgate` in a string.
    old_model = Path(old_injection.__file__).parents[1] / "data" / "models" / "injection.json.gz"
    old_detector = old_injection.InjectionDetector.from_file(old_model)
    rng = random.Random(11)
    workload: Workload = {}
    for label, size in (("1 KB", 1024), ("16 KB", 16384)):
        text = injection_prompt(size, rng)
        for origin in ("user", "document"):
            workload[f"injection, {label} {origin}"] = (
                lambda t=text, o=origin: new_detector.score(t, o),
                lambda t=text, o=origin: old_detector.score(t, o),
            )
    return workload


WORKLOADS = {"attacks": attacks, "sensitive": sensitive, "injection": injection}


def paired(new: Callable[[], object], old: Callable[[], object], pairs: int) -> dict[str, float]:
    for _ in range(10):
        new()
        old()
    ratios, new_ms, old_ms = [], [], []
    clock = time.perf_counter_ns
    for i in range(pairs):
        # Alternate which side goes first: the second call of a pair runs on warmer caches.
        first, second = (old, new) if i % 2 else (new, old)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        a, b = (t2 - t1, t1 - t0) if i % 2 else (t1 - t0, t2 - t1)
        ratios.append(a / b)
        new_ms.append(a / 1e6)
        old_ms.append(b / 1e6)
    for values in (ratios, new_ms, old_ms):
        values.sort()

    def q(values: list[float], share: float) -> float:
        return values[min(len(values) - 1, int(len(values) * share))]

    return {
        "ratio": q(ratios, 0.5),
        "ratio_q1": q(ratios, 0.25),
        "ratio_q3": q(ratios, 0.75),
        "old_p50": q(old_ms, 0.5),
        "old_p99": q(old_ms, 0.99),
        "new_p50": q(new_ms, 0.5),
        "new_p99": q(new_ms, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", required=True, help="the git revision to compare against")
    parser.add_argument("--only", choices=list(WORKLOADS), help="one workload")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export_revision(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        import wardgate

        old = __import__(OLD_NAME)
        workload: Workload = {}
        for name in [args.only] if args.only else list(WORKLOADS):
            workload.update(WORKLOADS[name](wardgate, old))
        os.sched_setaffinity(0, {0})
        gc.collect()
        gc.freeze()
        print(f"new = this checkout, old = {args.rev}; {args.pairs} pairs each, CPU 0")
        print(f"{'workload':32} {'new/old':>8} {'IQR':>13} {'old p50':>9} {'new p50':>9}"
              f" {'old p99':>9} {'new p99':>9}")  # fmt: skip
        for label, (new_call, old_call) in workload.items():
            r = paired(new_call, old_call, args.pairs)
            print(
                f"{label:32} {r['ratio']:8.3f} {r['ratio_q1']:6.3f}-{r['ratio_q3']:.3f}"
                f" {r['old_p50']:9.3f} {r['new_p50']:9.3f} {r['old_p99']:9.3f}"
                f" {r['new_p99']:9.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
