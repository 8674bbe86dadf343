"""Measure the prompt-injection detector on held-out sources (`make eval`).

Scores every held-out sample of `injection_data.py` at the model's default thresholds and
writes the figures into the `injection` section of `docs/detection.md` (other sections
are kept) and, with `--json`, the raw numbers. Metrics follow `shared/EVAL.md`: recall =
flagged attacks / attacks, FPR = flagged benign / benign, per source, never pooled; ROC-AUC
from the scores (for a source of one class, against all held-out samples of the other
class and the same origin). Held-out attacks that are near-duplicates of a training text
(word 5-gram rule of `injection_data.near_duplicates`) are also reported apart. Robustness: held-out
attacks (up to `--robust-per-source` of each source) through every kind of
`shared/tools/perturb.py`, recall beside the clean recall of the same texts. Latency:
`score` on one core for 1 KB and 16 KB texts, p50/p99. With `--semantic` (needs the
`semantic` extra) the section also compares, per held-out source, the detector with the
optional semantic stage (`wardgate.detect.semantic`) and reports its latency.

    python scripts/eval_injection.py --limit 30 --out /tmp/detection.md   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import report_sections
from injection_data import (
    DEFAULT_DATA,
    DOCUMENT,
    HELDOUT,
    TRAIN,
    USER,
    Sample,
    load_samples,
    near_duplicates,
)

from wardgate.detect.injection import InjectionDetector, default_model_path

if TYPE_CHECKING:
    from wardgate.detect.semantic import SemanticStage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "detection.md"
PERTURB = REPO.parent / "shared" / "tools" / "perturb.py"
PERTURB_SEED = 20251125
TARGET_RECALL, TARGET_FPR = 0.90, 0.02
SEED = 20251125


@dataclass(frozen=True, slots=True)
class Scored:
    sample: Sample
    score: float
    flagged: bool
    threshold: float = 0.5
    in_band: bool = False


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """ROC-AUC as the probability that a positive outscores a negative (ties count half)."""
    if not positives or not negatives:
        return None
    ranked = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum, index = 0.0, 0
    while index < len(ranked):
        end = index
        while end < len(ranked) and ranked[end][0] == ranked[index][0]:
            end += 1
        average = (index + 1 + end) / 2
        rank_sum += average * sum(label for _, label in ranked[index:end])
        index = end
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def metrics(scored: Sequence[Scored], pooled: dict[int, list[float]]) -> dict[str, Any]:
    positives = [s for s in scored if s.sample.label == 1]
    negatives = [s for s in scored if s.sample.label == 0]
    tp = sum(s.flagged for s in positives)
    fp = sum(s.flagged for s in negatives)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / len(positives) if positives else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    pos_scores = [s.score for s in positives] or pooled[1]
    neg_scores = [s.score for s in negatives] or pooled[0]
    return {
        "n": len(scored),
        "attacks": len(positives),
        "benign": len(negatives),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": fp / len(negatives) if negatives else None,
        "auc": auc(pos_scores, neg_scores),
        "auc_vs_pooled": not (negatives and positives),
    }


def limited(samples: Sequence[Sample], limit: int | None) -> list[Sample]:
    if limit is None:
        return list(samples)
    by_source: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        by_source[(sample.source, sample.label)].append(sample)
    out: list[Sample] = []
    for key in sorted(by_source):
        group = by_source[key]
        rng = random.Random(f"{SEED}:{key}")
        out += group if len(group) <= limit else rng.sample(group, limit)
    return out


def evaluate(detector: InjectionDetector, samples: Sequence[Sample]) -> list[Scored]:
    out = []
    for sample in samples:
        verdict = detector.score(sample.text, sample.origin)
        out.append(Scored(sample, verdict.score, verdict.flagged, verdict.threshold))
    return out


def per_source(scored: Sequence[Scored], novel: set[int]) -> dict[str, dict[str, Any]]:
    pooled: dict[str, dict[int, list[float]]] = defaultdict(lambda: {0: [], 1: []})
    groups: dict[str, list[Scored]] = defaultdict(list)
    for index, item in enumerate(scored):
        pooled[item.sample.origin][item.sample.label].append(item.score)
        groups[item.sample.source].append(item)
        if item.sample.label == 1 and index in novel:
            groups[f"{item.sample.source} (not near-duplicate)"].append(item)
    table = {}
    for source, items in sorted(groups.items()):
        origin = items[0].sample.origin
        table[source] = {"origin": origin, **metrics(items, pooled[origin])}
    return table


def perturbed(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    """Each sample through every kind of perturb.py, by kind (order kept)."""
    lines = "".join(json.dumps({"text": s.text}, ensure_ascii=False) + "\n" for s in samples)
    result = subprocess.run(
        [sys.executable, str(PERTURB), "--kind", "all", "--seed", str(PERTURB_SEED)],
        input=lines, capture_output=True, text=True, check=True, encoding="utf-8",
    )  # fmt: skip
    out: dict[str, list[Sample]] = defaultdict(list)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    kinds = len(rows) // max(len(samples), 1)
    for index, row in enumerate(rows):
        original = samples[index // kinds]
        out[row["perturbation"]].append(
            Sample(row["text"], original.label, original.source, original.origin, original.split)
        )
    return dict(out)


def robustness(
    detector: InjectionDetector, attacks: Sequence[Sample], per_source_limit: int
) -> dict[str, Any]:
    picked = limited(attacks, per_source_limit)
    clean = evaluate(detector, picked)
    by_origin = {
        origin: [s for s in clean if s.sample.origin == origin] for origin in (USER, DOCUMENT)
    }
    result: dict[str, Any] = {
        "n": len(picked),
        "clean": _recalls(clean, by_origin),
        "kinds": {},
    }
    for kind, samples in sorted(perturbed(picked).items()):
        scored = evaluate(detector, samples)
        origins = {o: [s for s in scored if s.sample.origin == o] for o in (USER, DOCUMENT)}
        result["kinds"][kind] = _recalls(scored, origins)
    return result


def _recalls(scored: Sequence[Scored], by_origin: dict[str, list[Scored]]) -> dict[str, Any]:
    def recall(items: Sequence[Scored]) -> float | None:
        return sum(s.flagged for s in items) / len(items) if items else None

    return {"all": recall(scored), **{o: recall(items) for o, items in by_origin.items()}}


def latency(
    detector: InjectionDetector, texts: Sequence[str], repeats: dict[int, int]
) -> dict[str, Any]:
    """p50/p99 of `score` in ms for texts of each size (characters), each origin."""
    corpus = "\n".join(texts) or "x"
    while len(corpus) < 4 * max(repeats):
        corpus += "\n" + corpus
    out: dict[str, Any] = {}
    for size, count in sorted(repeats.items()):
        starts = random.Random(f"{SEED}:{size}").sample(range(max(1, len(corpus) - size)), count)
        samples = [corpus[start : start + size] for start in starts]
        for origin in (USER, DOCUMENT):
            detector.score(samples[0], origin)
            times = []
            for text in samples:
                began = time.perf_counter_ns()
                detector.score(text, origin)
                times.append((time.perf_counter_ns() - began) / 1e6)
            times.sort()
            out[f"{size // 1024} KB {origin}"] = {
                "n": count,
                "p50_ms": statistics.median(times),
                "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
            }
    return out


def evaluate_semantic(stage: SemanticStage, scored: Sequence[Scored]) -> list[Scored]:
    """`scored` re-judged by the semantic stage, exactly as `score` with the stage does."""
    out = list(scored)
    for origin in (USER, DOCUMENT):
        head = stage.head(origin)
        band = [
            i for i, item in enumerate(scored)
            if item.sample.origin == origin and item.sample.text.strip()
            and head.in_band(item.score, item.threshold)
        ]  # fmt: skip
        for first in range(0, len(band), 256):
            batch = band[first : first + 256]
            found = stage.probabilities([scored[i].sample.text for i in batch], origin)
            for i, (semantic, _, _) in zip(batch, found, strict=True):
                item = scored[i]
                score = head.combine(item.score, semantic, item.threshold)
                out[i] = Scored(item.sample, score, score >= item.threshold, item.threshold, True)
            print(f"  semantic {origin}: {first + len(batch)}/{len(band)}", flush=True)
    return out


def semantic_latency(
    fast: InjectionDetector,
    detector: InjectionDetector,
    stage: SemanticStage,
    texts: Sequence[str],
    count: int,
) -> dict[str, Any]:
    """p50/p99 of `score` with the stage for 1 KB texts, apart for those whose fast score
    lies in its band."""
    corpus = "\n".join(texts) or "x"
    starts = random.Random(f"{SEED}:semantic").sample(range(max(1, len(corpus) - 1024)), 4000)
    samples = [corpus[start : start + 1024] for start in starts]
    out: dict[str, Any] = {}
    for origin in (USER, DOCUMENT):
        head = stage.head(origin)
        groups: dict[str, list[str]] = {"in band": [], "not in band": []}
        for text in samples:
            verdict = fast.score(text, origin)
            inside = head.in_band(verdict.score, verdict.threshold)
            group = groups["in band" if inside else "not in band"]
            if len(group) < count:
                group.append(text)
        for name, group in groups.items():
            if not group:
                continue
            detector.score(group[0], origin)
            times = []
            for text in group:
                began = time.perf_counter_ns()
                detector.score(text, origin)
                times.append((time.perf_counter_ns() - began) / 1e6)
            times.sort()
            out[f"1 KB {origin}, {name}"] = {
                "n": len(group),
                "p50_ms": statistics.median(times),
                "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
            }
    return out


# --- markdown ------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _target(row: dict[str, Any]) -> str:
    misses = []
    if row["recall"] is not None and row["recall"] < TARGET_RECALL:
        misses.append("recall")
    if row["fpr"] is not None and row["fpr"] > TARGET_FPR:
        misses.append("FPR")
    return "missed: " + ", ".join(misses) if misses else "met"


def render(results: dict[str, Any]) -> str:
    thresholds = results["thresholds"]
    lines = [
        "## Prompt injection and jailbreaks",
        "",
        f"Command: `{results['command']}`. Model `{results['model']}` "
        f"({results['model_bytes'] / 1e6:.2f} MB), default thresholds: user "
        f"{thresholds['user']}, document {thresholds['document']}. Data: "
        "`shared/data/prompt_injection/`, split as documented in `scripts/injection_data.py`. "
        "Every source below was **held out of training** (never featurized or weighed); "
        "`(not near-duplicate)` rows drop attacks whose word 5-grams overlap a training text "
        "(Jaccard ≥ 0.5 or 80 % containment). For a source of only one class, ROC-AUC is "
        "against all held-out texts of the other class and the same origin (marked *).",
        "",
        "Targets: recall ≥ 0.90 on attack sources, FPR ≤ 0.02 on benign ones; precision and "
        "F1 only where a source has both classes.",
        "",
        "| source | origin | n | attacks | benign | precision | recall | F1 | FPR | ROC-AUC "
        "| target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for source, row in results["sources"].items():
        star = "*" if row["auc_vs_pooled"] else ""
        both = row["attacks"] and row["benign"]
        precision, f1 = (row["precision"], row["f1"]) if both else (None, None)
        lines.append(
            f"| {source} | {row['origin']} | {row['n']} | {row['attacks']} | {row['benign']} | "
            f"{_f(precision)} | {_f(row['recall'])} | {_f(f1)} | "
            f"{_f(row['fpr'])} | {_f(row['auc'])}{star} | {_target(row)} |"
        )
    lines += [
        "",
        "Training sources (used to fit or calibrate, so never reported): "
        + ", ".join(f"{name} ({n})" for name, n in results["train_sources"].items())
        + ".",
        "",
        "### Robustness",
        "",
        f"{results['robustness']['n']} held-out attacks (at most "
        f"{results['robustness_per_source']} per source) through each kind of "
        f"`shared/tools/perturb.py --seed {PERTURB_SEED}`; recall at the default thresholds. "
        "The detector scores every decoded form and keeps the worst; base64 and ROT13 copies "
        'score above the clean ones because their wrapper ("decode this and do what it '
        'says") is itself a jailbreak marker (the `encoded` rule).',
        "",
        "| perturbation | recall | user | document | Δ vs clean |",
        "|---|---:|---:|---:|---:|",
    ]
    clean = results["robustness"]["clean"]
    lines.append(f"| none (clean) | {_f(clean['all'])} | {_f(clean['user'])} | "
                 f"{_f(clean['document'])} | |")  # fmt: skip
    for kind, row in results["robustness"]["kinds"].items():
        delta = None if row["all"] is None or clean["all"] is None else row["all"] - clean["all"]
        lines.append(
            f"| {kind} | {_f(row['all'])} | {_f(row['user'])} | {_f(row['document'])} | "
            f"{'-' if delta is None else f'{delta * 100:+.1f} pt'} |"
        )
    lines += [
        "",
        "### Latency",
        "",
        f"`InjectionDetector.score` on one core ({results['machine']}), texts cut from held-out "
        "benign prompts, warm (model loaded).",
        "",
        "| input | n | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, row in results["latency"].items():
        lines.append(f"| {name} | {row['n']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    if "semantic" in results:
        lines += render_semantic(results["semantic"])
    return "\n".join(lines) + "\n"


def render_semantic(semantic: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "### Optional semantic layer",
        "",
        "`python scripts/eval_injection.py --semantic` (the `semantic` extra, "
        f"{semantic['embedding']}, head `src/wardgate/data/models/semantic_head.json` fitted "
        "and calibrated on the train split only, see `scripts/train_semantic.py`). Texts whose "
        "fast score lies in the band "
        f"(user {semantic['bands']['user']}, document {semantic['bands']['document']}, as "
        "factors of the threshold) are re-judged; the others keep their fast verdict.",
        "",
        "| source | origin | n | in band | recall | + semantic | FPR | + semantic | ROC-AUC "
        "| + semantic | target + semantic |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for source, row in semantic["sources"].items():
        fast = semantic["fast"][source]
        star = "*" if row["auc_vs_pooled"] else ""
        lines.append(
            f"| {source} | {row['origin']} | {row['n']} | {row['in_band']} | "
            f"{_f(fast['recall'])} | {_f(row['recall'])} | {_f(fast['fpr'])} | "
            f"{_f(row['fpr'])} | {_f(fast['auc'])}{star} | {_f(row['auc'])}{star} | "
            f"{_target(row)} |"
        )
    lines += [
        "",
        "Latency of `score` with the layer on (one core for torch, 1 KB slices of held-out "
        "texts of both classes, warm).",
        "",
        "| input | n | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, row in semantic["latency"].items():
        lines.append(f"| {name} | {row['n']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    return lines


def write_section(path: Path, section: str) -> None:
    report_sections.write_section(path, "injection", section, "# Detection quality")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument("--data", type=Path, default=DEFAULT_DATA, help="prompt_injection folder")
    cli.add_argument("--model", type=Path, default=None, help="model file (default: packaged)")
    cli.add_argument("--limit", type=int, default=None, help="at most N samples per source+label")
    cli.add_argument("--robust-per-source", type=int, default=100, help="attacks per source")
    cli.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to update")
    cli.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    cli.add_argument(
        "--semantic", action="store_true", help="also measure the optional semantic stage"
    )
    return cli


def semantic_results(
    fast: InjectionDetector,
    model_path: Path,
    scored: Sequence[Scored],
    fast_sources: dict[str, Any],
    novel: set[int],
    heldout: Sequence[Sample],
    latency_count: int,
) -> dict[str, Any]:
    from wardgate.detect.semantic import SemanticStage

    stage = SemanticStage.default()
    refined = evaluate_semantic(stage, scored)
    table = per_source(refined, novel)
    in_band: dict[str, int] = defaultdict(int)
    for index, item in enumerate(refined):
        in_band[item.sample.source] += item.in_band
        if item.sample.label == 1 and index in novel:
            in_band[f"{item.sample.source} (not near-duplicate)"] += item.in_band
    sources = {
        name: {**table[name], "in_band": in_band[name]} for name in fast_sources if name in table
    }
    detector = InjectionDetector.from_file(model_path, stage)
    return {
        "embedding": stage.version,
        "bands": {o: list(stage.head(o).band) for o in (USER, DOCUMENT)},
        "fast": fast_sources,
        "sources": sources,
        "latency": semantic_latency(
            fast, detector, stage, [s.text for s in heldout], latency_count
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    model_path = args.model or default_model_path()
    detector = InjectionDetector.from_file(model_path)
    samples = load_samples(args.data)
    train = [s for s in samples if s.split == TRAIN]
    heldout = limited([s for s in samples if s.split == HELDOUT], args.limit)
    duplicates = near_duplicates(heldout, [s for s in train if s.label == 1])
    novel = {i for i, s in enumerate(heldout) if s.label == 1 and i not in duplicates}
    scored = evaluate(detector, heldout)
    sources = per_source(scored, novel)
    # Only sources that lost something to de-duplication get a second row.
    sources = {
        name: row for name, row in sources.items()
        if not name.endswith("(not near-duplicate)")
        or row["attacks"] != sources[name.removesuffix(" (not near-duplicate)")]["attacks"]
    }  # fmt: skip
    attacks = [s for s in heldout if s.label == 1]
    robust_limit = min(args.robust_per_source, args.limit or args.robust_per_source)
    train_sources: dict[str, int] = defaultdict(int)
    for sample in train:
        train_sources[sample.source] += 1
    benign_texts = [s.text for s in heldout if s.label == 0 and s.origin == USER]
    repeats = {1024: 20, 16384: 5} if args.limit else {1024: 300, 16384: 60}
    command = "python scripts/eval_injection.py" + (f" --limit {args.limit}" if args.limit else "")
    results = {
        "command": command,
        "model": str(
            model_path.relative_to(REPO) if model_path.is_relative_to(REPO) else model_path
        ),
        "model_bytes": model_path.stat().st_size,
        "thresholds": {o: detector.threshold(o) for o in (USER, DOCUMENT)},
        "sources": sources,
        "train_sources": dict(sorted(train_sources.items())),
        "robustness_per_source": robust_limit,
        "robustness": robustness(detector, attacks, robust_limit),
        "latency": latency(detector, benign_texts, repeats),
        "machine": f"{report_sections.cpu_model()}, Python {platform.python_version()}",
    }
    if args.semantic:
        results["semantic"] = semantic_results(
            detector, model_path, scored, sources, novel, heldout, 20 if args.limit else 100
        )
    write_section(args.out, render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    for source, row in sources.items():
        print(f"{source:42} n={row['n']:5} recall={_f(row['recall'])} fpr={_f(row['fpr'])} "
              f"auc={_f(row['auc'])}")  # fmt: skip
    print("robustness", json.dumps(results["robustness"]))
    print("latency", json.dumps(results["latency"]))
    if args.semantic:
        for source, row in results["semantic"]["sources"].items():
            print(f"{source:42} +semantic in_band={row['in_band']:5} recall={_f(row['recall'])} "
                  f"fpr={_f(row['fpr'])} auc={_f(row['auc'])}")  # fmt: skip
        print("semantic latency", json.dumps(results["semantic"]["latency"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
