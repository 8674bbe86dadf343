"""Measure the attack-detection engines on the web-attack data sets (`make eval`).

Runs every engine at every paranoia level over the requests of `web_attack_cases.py` and
writes the figures into the `attacks` section of `docs/detection.md` (other sections of that
file are kept) and, with `--json`, the raw numbers and every missed training attack of the builtin
engine at its default setting. Metrics follow `shared/EVAL.md`: "blocked" is
`Report.refused` at the engine's default threshold for that paranoia level: what the
`attacks` check does in enforce mode (403 over the threshold, 400 for a body that is not
what its content type declares).

    python scripts/eval_attacks.py --limit 20 --out /tmp/detection.md   # a smoke run
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import report_sections
from web_attack_cases import Case, load_cases

from wardgate.detect.attacks.model import Engine

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "web_attacks"
DEFAULT_OUT = REPO / "docs" / "detection.md"
ENGINES = ("builtin", "crs")
LEVELS = (1, 2, 3, 4)
DEFAULT_SETTING = ("builtin", 1)

EngineFactory = Callable[[str, int], Engine]
"""Builds engine `name` at a paranoia level; raises ValueError for a level it lacks."""
Availability = Callable[[str], str | None]
"""Why engine `name` cannot run here, or None when it can."""

K = TypeVar("K", bound=Hashable)


def build_engine(name: str, paranoia: int) -> Engine:
    from wardgate.detect.attacks.engines import build_engine as build

    return build(name, paranoia=paranoia)


def engine_unavailable(name: str) -> str | None:
    try:
        importlib.import_module("wardgate.detect.attacks.engines")
        if name == "crs":
            from wardgate.detect.attacks.crs import crs_available

            return crs_available()
    except ImportError as error:
        return f"cannot be imported ({error})"
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one engine said about one case."""

    blocked: bool
    nanoseconds: int


@dataclass(frozen=True, slots=True)
class Run:
    """One engine at one paranoia level over all cases (`outcomes[i]` is for `cases[i]`)."""

    engine: str
    paranoia: int
    threshold: int | None
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class Rate:
    """`hits` of `n` cases: blocked attacks (TPR) or blocked benign requests (FPR)."""

    n: int
    hits: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "blocked": self.hits, "rate": self.value}


# --- running ------------------------------------------------------------------------------


def inspect_all(engine: Engine, cases: Sequence[Case]) -> tuple[Outcome, ...]:
    if cases:
        engine.inspect(cases[0].sample)  # warm-up: lazy compilation is not per-request cost
    outcomes = []
    for case in cases:
        start = time.perf_counter_ns()
        try:
            report = engine.inspect(case.sample)
        except Exception as error:
            raise RuntimeError(f"{engine.name} raised on {case.payload_id}") from error
        elapsed = time.perf_counter_ns() - start
        outcomes.append(Outcome(report.refused, elapsed))
    return tuple(outcomes)


def run_engines(
    cases: Sequence[Case],
    levels: dict[str, tuple[int, ...]],
    factory: EngineFactory,
    skipped: dict[str, str],
) -> list[Run]:
    """Every engine at every level it supports; levels it refuses are noted in `skipped`."""
    runs = []
    for name, wanted in levels.items():
        for level in wanted:
            try:
                engine = factory(name, level)
            except (ValueError, RuntimeError) as error:
                skipped[f"{name} p{level}"] = str(error)
                continue
            if getattr(engine, "paranoia", level) != level:
                skipped[f"{name} p{level}"] = "the engine has no such level"
                continue
            started = time.perf_counter()
            outcomes = inspect_all(engine, cases)
            threshold = getattr(engine, "threshold", None)
            runs.append(Run(name, level, threshold, outcomes))
            took = time.perf_counter() - started
            print(f"{name} p{level}: {len(cases)} cases in {took:.1f} s", file=sys.stderr)
    return runs


# --- metrics ------------------------------------------------------------------------------


def family(case: Case) -> str:
    return case.source.split("/", 1)[0]


def rates(cases: Sequence[Case], run: Run, key: Callable[[Case], K | None]) -> dict[K, Rate]:
    """Block rate per `key(case)`, over the cases whose key is not None, in key order."""
    counts: dict[K, list[int]] = defaultdict(lambda: [0, 0])
    for case, outcome in zip(cases, run.outcomes, strict=True):
        group = key(case)
        if group is not None:
            counts[group][0] += 1
            counts[group][1] += outcome.blocked
    return {group: Rate(*counts[group]) for group in sorted(counts, key=str)}


def attack(key: Callable[[Case], K]) -> Callable[[Case], K | None]:
    return lambda case: key(case) if case.label == 1 else None


def benign(key: Callable[[Case], K]) -> Callable[[Case], K | None]:
    return lambda case: key(case) if case.label == 0 else None


def percentile(sorted_values: Sequence[int], share: float) -> int:
    """Nearest-rank percentile of a sorted, non-empty sequence."""
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def latency_us(run: Run) -> dict[str, float]:
    values = sorted(outcome.nanoseconds for outcome in run.outcomes)
    if not values:
        return {}
    return {f"p{p}": round(percentile(values, p / 100) / 1000, 1) for p in (50, 95, 99)}


def _rows(table: dict[Any, Rate], names: tuple[str, ...]) -> list[dict[str, Any]]:
    def keyed(group: Any) -> dict[str, Any]:
        return dict(zip(names, group if isinstance(group, tuple) else (group,), strict=True))

    return [{**keyed(group), **rate.to_json()} for group, rate in table.items()]


_BREAKDOWNS: tuple[tuple[str, Callable[[Case], Any], tuple[str, ...]], ...] = (
    ("tpr_by_split", attack(lambda c: c.split), ("split",)),
    ("tpr_by_category", attack(lambda c: (c.split, c.category)), ("split", "category")),
    ("tpr_by_source", attack(lambda c: c.source), ("source",)),
    ("tpr_by_placement", attack(lambda c: (family(c), c.placement)), ("family", "placement")),
    (
        "tpr_by_gotestwaf_encoding",
        attack(lambda c: (c.placement, c.encoder) if family(c) == "gotestwaf" else None),
        ("placement", "encoder"),
    ),
    ("fpr_by_source", benign(lambda c: c.source), ("source",)),
)


def measure(cases: Sequence[Case], run: Run) -> dict[str, Any]:
    """The figures of one run, as JSON-ready rows."""
    overall = rates(cases, run, benign(lambda c: "all")).get("all", Rate(0, 0))
    return {
        "engine": run.engine,
        "paranoia": run.paranoia,
        "threshold": run.threshold,
        **{name: _rows(rates(cases, run, key), names) for name, key, names in _BREAKDOWNS},
        "fpr_overall": overall.to_json(),
        "latency_us": latency_us(run),
    }


def missed(cases: Sequence[Case], run: Run) -> dict[str, list[dict[str, str]]]:
    """Every training attack the run let through, by category. Held-out misses are counted
    in the rates but never listed: payloads we can read are payloads we would tune on."""
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    for case, outcome in zip(cases, run.outcomes, strict=True):
        if case.label == 1 and case.split == "train" and not outcome.blocked:
            found[case.category].append(
                {
                    "source": case.source,
                    "payload_id": case.payload_id,
                    "placement": case.placement,
                    "encoder": case.encoder,
                    "payload": case.payload,
                }
            )
    return dict(sorted(found.items()))


# --- context for the report ---------------------------------------------------------------


def case_counts(cases: Sequence[Case]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str, str, int], int] = defaultdict(int)
    for case in cases:
        counts[(family(case), case.split, case.category, case.label)] += 1
    names = ("family", "split", "category", "label")
    return [{**dict(zip(names, key, strict=True)), "n": n} for key, n in sorted(counts.items())]


def dataset_commits(data_dir: Path) -> dict[str, str]:
    manifest = data_dir.parent / "MANIFEST.json"
    if not manifest.exists():
        return {}
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    prefix = data_dir.name + "/"
    return {
        entry["source"]: f"{entry['repo']}@{entry['commit']}"
        for entry in entries
        if str(entry.get("file", "")).startswith(prefix)
    }


def environment(cases: Sequence[Case]) -> dict[str, Any]:
    sizes = [len(c.sample.path) + len(c.sample.query) + len(c.sample.body) for c in cases]
    return {
        "python": platform.python_version(),
        "cpu": report_sections.cpu_model(),
        "request_bytes_median": statistics.median(sizes) if sizes else 0,
        "request_bytes_max": max(sizes, default=0),
    }


# --- markdown -----------------------------------------------------------------------------

BEGIN, END = report_sections.markers("attacks")
TITLE = "# Detection quality"
EXAMPLES_PER_CATEGORY = 5
PAYLOAD_CHARS = 80


def write_section(path: Path, section: str) -> None:
    report_sections.write_section(path, "attacks", section, TITLE)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


_table = report_sections.table


def _label(run: dict[str, Any]) -> str:
    return f"{run['engine']} p{run['paranoia']}"


def snippet(payload: str, limit: int = PAYLOAD_CHARS) -> str:
    return report_sections.code_span(payload, limit)


def _pivot(result: dict[str, Any], section: str, keys: Sequence[str]) -> list[str]:
    """One row per group of `section`, one rate column per run."""
    labels = [_label(run) for run in result["runs"]]
    cells: dict[tuple[str, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    for run in result["runs"]:
        for row in run[section]:
            cells[tuple(str(row[key]) for key in keys)][_label(run)] = row
    rows = [
        [*group, str(next(iter(by_run.values()))["n"])]
        + [_pct(by_run[label]["rate"]) if label in by_run else "-" for label in labels]
        for group, by_run in cells.items()
    ]
    return _table([*keys, "n", *labels], rows)


def _summary(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    splits = ("train", "eval")
    benign_sources = sorted({row["source"] for run in runs for row in run["fpr_by_source"]})
    header = ["run", "threshold", *(f"TPR {split}" for split in splits), "FPR all"]
    header += [f"FPR `{source}`" for source in benign_sources]
    header += ["p50 µs", "p95 µs", "p99 µs"]
    rows = []
    for run in runs:
        tpr = {row["split"]: row["rate"] for row in run["tpr_by_split"]}
        fpr = {row["source"]: row["rate"] for row in run["fpr_by_source"]}
        latency = run["latency_us"]
        rows.append(
            [_label(run), str(run["threshold"])]
            + [_pct(tpr.get(split)) for split in splits]
            + [_pct(run["fpr_overall"]["rate"])]
            + [_pct(fpr.get(source)) for source in benign_sources]
            + [str(latency.get(p, "-")) for p in ("p50", "p95", "p99")]
        )
    return _table(header, rows)


def _category_rates(run: dict[str, Any], split: str) -> dict[str, dict[str, Any]]:
    return {row["category"]: row for row in run["tpr_by_category"] if row["split"] == split}


def _matched(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    title = ["### Engines compared at matched false-positive rate", ""]
    base = next((r for r in runs if (r["engine"], r["paranoia"]) == DEFAULT_SETTING), None)
    others = [run for run in runs if run["engine"] == "crs"]
    if base is None or not others:
        absent = ("builtin", "builtin p1") if base is None else ("crs", "crs")
        why = result["missing_engines"].get(absent[0]) or result["skipped_levels"].get(absent[1])
        return [*title, f"No comparison: {absent[0]} did not run ({why or 'not asked'}).", ""]

    def fpr(run: dict[str, Any]) -> float:
        return float(run["fpr_overall"]["rate"] or 0.0)

    match = min(others, key=lambda run: (abs(fpr(run) - fpr(base)), run["paranoia"]))
    tpr = {
        _label(run): {row["split"]: row["rate"] for row in run["tpr_by_split"]}
        for run in (base, match)
    }
    text = (
        f"builtin at its default setting (paranoia {base['paranoia']}) blocks "
        f"{_pct(fpr(base))} of all benign requests; crs comes closest at paranoia "
        f"{match['paranoia']} ({_pct(fpr(match))}). At these settings builtin blocks "
        f"{_pct(tpr[_label(base)].get('eval'))} of held-out attacks "
        f"({_pct(tpr[_label(base)].get('train'))} of training attacks) and crs "
        f"{_pct(tpr[_label(match)].get('eval'))} ({_pct(tpr[_label(match)].get('train'))})."
    )
    return [*title, text + _per_source_fpr(base, match) + _largest_gaps(base, match), ""]


def _per_source_fpr(base: dict[str, Any], match: dict[str, Any]) -> str:
    theirs = {row["source"]: row["rate"] for row in match["fpr_by_source"]}
    parts = [
        f"`{row['source']}` {_pct(row['rate'])} vs {_pct(theirs.get(row['source']))}"
        for row in base["fpr_by_source"]
    ]
    return " Benign blocked per source (builtin vs crs): " + "; ".join(parts) + "." if parts else ""


def _largest_gaps(base: dict[str, Any], match: dict[str, Any], count: int = 3) -> str:
    ours, theirs = _category_rates(base, "eval"), _category_rates(match, "eval")
    gaps = sorted(
        (abs((ours[c]["rate"] or 0.0) - (theirs[c]["rate"] or 0.0)), c)
        for c in ours.keys() & theirs.keys()
    )
    shown = [c for gap, c in reversed(gaps) if gap > 0][:count]
    if not shown:
        return ""
    parts = [f"{c} {_pct(ours[c]['rate'])} vs {_pct(theirs[c]['rate'])}" for c in shown]
    return " Largest held-out gaps (builtin vs crs): " + "; ".join(parts) + "."


_SPLITS_TEXT = (
    "- **train** (signatures may be developed on these): `payloadsallthethings/` (each line as"
    " a query parameter and as a JSON field; XXE lines as an XML body) and"
    " `httpparams/payload_train.csv` (query parameter; its benign rows are CSIC 2010 values).",
    "- **eval** (held out): `gotestwaf/` (each payload x encoder x placeholder as GoTestWAF"
    " sends it; `false-pos/texts.yml` is the benign side) and `seclists/ssrf/` (query"
    " parameter).",
)


def _header(result: dict[str, Any]) -> list[str]:
    thresholds = ", ".join(f"{_label(run)} = {run['threshold']}" for run in result["runs"])
    data = ", ".join(f"{source} `{ref}`" for source, ref in sorted(result["data"].items()))
    env = result["environment"]
    return [
        "## Attack detection",
        "",
        f"Reproduce with `make eval` (this run: `{result['command'].strip()}`). Definitions"
        " follow `shared/EVAL.md`: TPR = blocked attacks / attacks, FPR = blocked benign /"
        " benign, where blocked is what the `attacks` check does in enforce mode: refused"
        " with a 403 at the engine's default threshold for the paranoia level, or with a 400"
        " when the body is not what its content type declares"
        f" (thresholds: {thresholds or 'no run'}).",
        "",
        f"Data `shared/data/web_attacks`: {data or 'no MANIFEST.json'}. How each value"
        " becomes a request is documented in `scripts/web_attack_cases.py`.",
        "",
        *_SPLITS_TEXT,
        "",
        f"Latency: one `inspect` per request, single-threaded, {env['cpu']}, Python"
        f" {env['python']}; requests of median {env['request_bytes_median']} bytes (max"
        f" {env['request_bytes_max']}) of path, query and body.",
        "",
        *_not_run(result),
    ]


def _not_run(result: dict[str, Any]) -> list[str]:
    notes = [f"- {name}: not run, {why}." for name, why in result["missing_engines"].items()]
    notes += [f"- {label}: skipped, {why}." for label, why in result["skipped_levels"].items()]
    if result["limit"] is not None:
        notes.append(f"- Smoke run: at most {result['limit']} cases per source.")
    return [*notes, ""] if notes else []


def _examples(result: dict[str, Any]) -> list[str]:
    title = [
        f"### Training attacks missed by builtin p{DEFAULT_SETTING[1]} "
        f"(up to {EXAMPLES_PER_CATEGORY} each; held-out misses are not listed)"
    ]
    rows = [
        [category, f"`{case['source']}`", case["placement"], snippet(case["payload"])]
        for category, cases in result["missed_builtin_default"].items()
        for case in _distinct_payloads(cases)[:EXAMPLES_PER_CATEGORY]
    ]
    if not rows:
        return []
    note = "One placement per payload; every miss is listed in the `--json` output."
    return [*title, "", note, "", *_table(["category", "source", "placement", "payload"], rows)]


def _distinct_payloads(cases: list[dict[str, str]]) -> list[dict[str, str]]:
    first: dict[str, dict[str, str]] = {}
    for case in cases:
        first.setdefault(case["payload_id"], case)
    return list(first.values())


def render_section(result: dict[str, Any]) -> str:
    """The markdown of the attacks section, from the numbers `main` collects."""
    lines = _header(result) + _matched(result)
    lines += ["### Summary", "", *_summary(result)]
    columns = ("family", "split", "category", "n")
    counts = [[str(row[column]) for column in columns] for row in result["cases"]]
    lines += ["### Cases", "", *_table(columns, counts)]
    lines += ["### Attacks blocked, by split and category", ""]
    lines += _pivot(result, "tpr_by_category", ("split", "category"))
    lines += ["### Attacks blocked, by placement", ""]
    lines += _pivot(result, "tpr_by_placement", ("family", "placement"))
    lines += ["### GoTestWAF attacks blocked, by placeholder and encoder", ""]
    lines += _pivot(result, "tpr_by_gotestwaf_encoding", ("placement", "encoder"))
    lines += ["### Attacks blocked, by source file", ""]
    lines += _pivot(result, "tpr_by_source", ("source",))
    return "\n".join(lines + _examples(result))


# --- command line -------------------------------------------------------------------------


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of levels: {text!r}") from None
    if not levels or any(level not in LEVELS for level in levels):
        raise argparse.ArgumentTypeError(f"levels are among {LEVELS}: {text!r}")
    return levels


def _engines(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(names) - set(ENGINES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown engine {unknown}; choose from {ENGINES}")
    return names


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument("--data", type=Path, default=DEFAULT_DATA, help="web_attacks data folder")
    cli.add_argument("--engines", type=_engines, default=ENGINES, help="comma-separated")
    cli.add_argument("--paranoia", type=_levels, default=LEVELS, help="crs levels: 1,2,3,4")
    cli.add_argument(
        "--builtin-paranoia", type=_levels, default=LEVELS, help="builtin levels to try"
    )
    cli.add_argument("--limit", type=int, default=None, help="at most N cases per source")
    cli.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to update")
    cli.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    return cli


def limited(cases: Sequence[Case], limit: int | None) -> list[Case]:
    if limit is None:
        return list(cases)
    taken: dict[str, int] = defaultdict(int)
    kept = []
    for case in cases:
        if taken[case.source] < limit:
            taken[case.source] += 1
            kept.append(case)
    return kept


def main(
    argv: Sequence[str] | None = None,
    *,
    factory: EngineFactory = build_engine,
    availability: Availability = engine_unavailable,
) -> int:
    args = parser().parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    cases = limited(load_cases(args.data), args.limit)
    missing = {name: why for name in args.engines if (why := availability(name)) is not None}
    wanted = {"builtin": args.builtin_paranoia, "crs": args.paranoia}
    levels = {name: wanted[name] for name in args.engines if name not in missing}
    skipped: dict[str, str] = {}
    runs = run_engines(cases, levels, factory, skipped)
    if not runs:
        print(f"no engine ran: {missing | skipped}", file=sys.stderr)
        return 1
    default = next((r for r in runs if (r.engine, r.paranoia) == DEFAULT_SETTING), None)
    result = {
        "command": " ".join(["scripts/eval_attacks.py", *(sys.argv[1:] if argv is None else argv)]),
        "limit": args.limit,
        "data": dataset_commits(args.data),
        "environment": environment(cases),
        "cases": case_counts(cases),
        "missing_engines": missing,
        "skipped_levels": skipped,
        "runs": [measure(cases, run) for run in runs],
        "missed_builtin_default": missed(cases, default) if default else {},
    }
    write_section(args.out, render_section(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
