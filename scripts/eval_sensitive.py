"""Measure the PII and secrets detectors beside Presidio's analyzer on `shared/data/pii_secrets`.

PII: the 1,500 synthetic sentences of presidio-research (`synth_dataset_v2.json`), per
entity type, `wardgate.detect.sensitive.find_sensitive` against Presidio's `AnalyzerEngine`
on the same texts, with the span rule of `shared/EVAL.md`. Secrets: the `examples`
(positives) and `negative_examples` (negatives) of Nosey Parker's rules, used as data only.
Throughput: texts per second of each detector over the PII texts, one process pinned to one
core, detector calls only, the median of several repeats taken in turns.

Presidio (`pip install presidio-analyzer`, the `eval-sensitive` extra) runs without a spaCy
model, which cannot be downloaded here: its own `NoOpNlpEngine` (no tokens, no lemmas, no
NER) and a `RecognizerRegistry` with its predefined English recognizers, which are then the
pattern recognizers only. Its in-text context boosts and its NER types (PERSON, LOCATION,
NRP, ORGANIZATION) are therefore absent; the section says so.

Writes the `sensitive` section of `docs/detection.md` (other sections are kept) and, with
`--json`, the raw numbers and every miss and false finding.

    python scripts/eval_sensitive.py                  # the full run (a minute or two)
    python scripts/eval_sensitive.py --smoke --out /tmp/detection.md   # a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import report_sections
import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "pii_secrets"
DEFAULT_OUT = REPO / "docs" / "detection.md"
PII_FILE = Path("presidio_research") / "synth_dataset_v2.json"
RULES_DIR = Path("noseyparker") / "rules"
TOOLS = ("wardgate", "presidio")
SMOKE_TEXTS = 100
REPEATS = 5

# Gold entity type of the data set -> the type both tools use for it. Address parts (street
# lines, cities and countries, postcodes) are all LOCATION, the one address type either tool
# has; a web address is Presidio's URL. A type is scored for a tool when that tool claims it.
GOLD_TO_TYPE = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "DOMAIN_NAME": "URL",
    "CREDIT_CARD": "CREDIT_CARD",
    "DATE_TIME": "DATE_TIME",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}
# Gold types that neither tool claims: not scored (their spans are simply not gold for any
# scored type, so a finding on them is a false finding of its own type).
NOT_SCORED = ("ORGANIZATION", "TITLE", "AGE", "NRP")


@dataclass(frozen=True, slots=True)
class Span:
    """`text[start:end]` is of `type` (code points, end exclusive)."""

    type: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Doc:
    text: str
    gold: tuple[Span, ...]


Detector = Callable[[str], list[Span]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A detector under test and the entity types it claims to find."""

    name: str
    detect: Detector
    claims: frozenset[str]
    setup: str
    finds_secrets: bool


# --- the tools ------------------------------------------------------------------------------


def wardgate_tool() -> Tool:
    from wardgate.detect.pii import PII_TYPES
    from wardgate.detect.sensitive import find_sensitive

    def detect(text: str) -> list[Span]:
        return [Span(m.type, m.start, m.end) for m in find_sensitive(text)]

    return Tool("wardgate", detect, frozenset(PII_TYPES), "`find_sensitive`, defaults", True)


def presidio_unavailable() -> str | None:
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError as error:
        return f"not installed ({error}); `pip install -e '.[eval-sensitive]'`"
    return None


def presidio_version() -> str:
    from importlib.metadata import version

    return version("presidio-analyzer")


def presidio_tool() -> Tool:
    """Presidio's analyzer as far as it goes without a spaCy model: pattern recognizers."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine.no_op_nlp_engine import NoOpNlpEngine

    # Its email recognizer asks `tldextract`, which would fetch the public-suffix list over
    # the network on first use; the snapshot bundled with tldextract is used instead.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = offline  # type: ignore[assignment]
    tldextract.tldextract.TLD_EXTRACTOR = offline
    nlp = NoOpNlpEngine([{"lang_code": "en", "model_name": "no_op"}])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])

    def detect(text: str) -> list[Span]:
        found = engine.analyze(text=text, language="en")
        return [Span(r.entity_type, r.start, r.end) for r in found]

    recognizers = sorted({type(r).__name__ for r in registry.recognizers})
    setup = (
        f"presidio-analyzer {presidio_version()}, `AnalyzerEngine(nlp_engine=NoOpNlpEngine("
        "[{'lang_code': 'en', 'model_name': 'no_op'}]), registry=RecognizerRegistry())`"
        " after `registry.load_predefined_recognizers(languages=['en'], nlp_engine=...)`,"
        " `analyze(text, language='en')` with its default score threshold (0), all entities,"
        f" overlapping results kept as returned; recognizers: {', '.join(recognizers)}"
    )
    claims = frozenset(engine.get_supported_entities("en"))
    return Tool("presidio", detect, claims, setup, False)  # no secret recognizers


TOOL_FACTORIES: dict[str, Callable[[], Tool]] = {
    "wardgate": wardgate_tool,
    "presidio": presidio_tool,
}


def tool_unavailable(name: str) -> str | None:
    return presidio_unavailable() if name == "presidio" else None


# --- the data -------------------------------------------------------------------------------


def load_pii(data_dir: Path) -> list[Doc]:
    rows = json.loads((data_dir / PII_FILE).read_text(encoding="utf-8"))
    docs = []
    for row in rows:
        text = row["full_text"]
        gold = []
        for span in row["spans"]:
            start, end = span["start_position"], span["end_position"]
            if text[start:end] != span["entity_value"]:
                raise ValueError(f"span does not match its value: {span}")
            gold.append(Span(span["entity_type"], start, end))
        docs.append(Doc(text, tuple(sorted(gold, key=lambda s: s.start))))
    return docs


@dataclass(frozen=True, slots=True)
class SecretCase:
    """One example string of a Nosey Parker rule: `label` 1 holds a secret, 0 does not.

    `gold` are the spans of the rule's capture groups in `text` when its pattern could be
    run by Python's `re`; empty otherwise (then any secret finding counts as the hit)."""

    rule_id: str
    categories: tuple[str, ...]
    label: int
    text: str
    gold: tuple[tuple[int, int], ...]


@cache
def load_secret_cases(data_dir: Path) -> tuple[SecretCase, ...]:
    """Every example of every rule, in file order. Cached: Python's backtracking engine
    takes seconds on one rule's examples (`np.phpmailer.1`) that Rust's runs in linear time."""
    cases = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted((data_dir / RULES_DIR).glob("*.yml")):
        for rule in yaml.load(path.read_text(encoding="utf-8"), Loader=loader)["rules"]:
            pattern = rust_regex(rule["pattern"])
            categories = tuple(rule.get("categories") or ())
            for text in rule.get("examples") or ():
                gold = capture_spans(pattern, text) if pattern is not None else ()
                cases.append(SecretCase(rule["id"], categories, 1, text, gold))
            for text in rule.get("negative_examples") or ():
                cases.append(SecretCase(rule["id"], categories, 0, text, ()))
    return tuple(cases)


_LEADING_FLAGS = re.compile(r"\A(?:\(\?[a-zA-Z]+\))+")
_COMMENT_GROUP = re.compile(r"\(\?#[^)]*\)")  # `(?# ... )`, as PCRE and Hyperscan read it
_POSIX = {
    "alnum": "A-Za-z0-9",
    "alpha": "A-Za-z",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
    "space": r"\s",
    "word": r"\w",
}


def rust_regex(pattern: str) -> re.Pattern[str] | None:
    """`pattern` (Rust `regex` syntax, as Nosey Parker writes it) compiled by Python's `re`,
    or None where the syntax has no faithful translation.

    Leading flag groups are merged (`(?x)(?i)` -> `(?ix)`); `(?#...)` comments go; verbose
    mode is applied here,
    since Rust ignores whitespace inside character classes too and Python does not; POSIX
    classes, `\\x{..}`, `\\z` and `(?<name>` are rewritten; Unicode classes and class set
    operations give None."""
    flags = ""
    lead = _LEADING_FLAGS.match(pattern)
    if lead:
        flags = "".join(re.findall(r"\(\?([a-zA-Z]+)\)", lead.group()))
        pattern = pattern[lead.end() :]
    if set(flags) - set("imsx"):
        return None
    pattern = _COMMENT_GROUP.sub("", pattern)
    if "x" in flags:
        pattern = _strip_verbose(pattern)
        flags = flags.replace("x", "")
    if re.search(r"\\[pP]|\[[^\]]*(?:&&|--|~~)|\(\?[a-zA-Z]*[Ux]", pattern):
        return None
    pattern = re.sub(r"\[:(\w+):\]", lambda m: _POSIX.get(m.group(1), m.group()), pattern)
    pattern = re.sub(
        r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: f"\\U{int(m.group(1), 16):08x}", pattern
    )
    # `(?:(?s)...)`: the flags hold to the end of that group, which is what `(?s:...)` says.
    pattern = re.sub(r"\(\?:\(\?([imsx]+)\)", r"(?\1:", pattern)
    pattern = pattern.replace(r"\z", r"\Z")
    pattern = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    try:
        return re.compile(f"(?{''.join(sorted(set(flags)))})" * bool(flags) + pattern)
    except re.error:
        return None


def _strip_verbose(pattern: str) -> str:
    """Rust's `x` mode by hand: unescaped whitespace and `#` comments go, in classes too."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char.isspace():
            i += 1
            continue
        if char == "#" and not in_class:
            newline = pattern.find("\n", i)
            i = len(pattern) if newline < 0 else newline + 1
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            i += 1
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":  # a leading `]` is literal
                out.append("\\]")
                i += 1
            continue
        if char == "[" and in_class and pattern[i : i + 2] == "[:":
            close = pattern.find(":]", i)
            if close > 0:
                out.append(pattern[i : close + 2])
                i = close + 2
                continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def capture_spans(pattern: re.Pattern[str], text: str) -> tuple[tuple[int, int], ...]:
    """The spans of the capture groups of the first match of `pattern` in `text` (the whole
    match where it has none); empty when it does not match."""
    match = pattern.search(text)
    if match is None:
        return ()
    if not pattern.groups:
        return (match.span(),)
    return tuple(match.span(g) for g in range(1, pattern.groups + 1) if match.start(g) >= 0)


# --- metrics --------------------------------------------------------------------------------


def covered(start: int, end: int, others: Iterable[tuple[int, int]]) -> int:
    """How many characters of [start, end) lie inside the union of `others`."""
    marks = bytearray(end - start)
    for lo, hi in others:
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            marks[lo - start : hi - start] = b"\x01" * (hi - lo)
    return sum(marks)


def half_covered(start: int, end: int, others: Iterable[tuple[int, int]]) -> bool:
    return 2 * covered(start, end, others) >= end - start > 0


def mapped_gold(doc: Doc) -> list[Span]:
    return [Span(GOLD_TO_TYPE[s.type], s.start, s.end) for s in doc.gold if s.type in GOLD_TO_TYPE]


@dataclass
class Tally:
    gold: int = 0
    found: int = 0
    findings: int = 0
    right: int = 0

    def to_json(self) -> dict[str, Any]:
        precision = self.right / self.findings if self.findings else None
        recall = self.found / self.gold if self.gold else None
        if recall is None:
            f1 = None
        elif precision is None or precision + recall == 0:
            f1 = 0.0  # no findings, or none right, with gold spans to find
        else:
            f1 = 2 * precision * recall / (precision + recall)
        return {
            "gold": self.gold,
            "found": self.found,
            "findings": self.findings,
            "right": self.right,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }


def score_pii(
    docs: Sequence[Doc], predictions: Sequence[list[Span]], claims: frozenset[str]
) -> tuple[dict[str, Tally], dict[str, int], list[dict[str, Any]]]:
    """Per claimed gold type: spans found and findings right, by the rule of EVAL.md.

    Also the count of findings of types the data has no gold for, and every error."""
    gold_types = set(GOLD_TO_TYPE.values())
    tallies: dict[str, Tally] = {t: Tally() for t in sorted(gold_types & claims)}
    unannotated: Counter[str] = Counter()
    errors = []
    for index, (doc, predicted) in enumerate(zip(docs, predictions, strict=True)):
        gold = mapped_gold(doc)
        by_type: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for span in gold:
            by_type[span.type].append((span.start, span.end))
        found_by_type: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for span in predicted:
            found_by_type[span.type].append((span.start, span.end))
        for span in gold:
            if span.type not in tallies:
                continue
            tally = tallies[span.type]
            tally.gold += 1
            if half_covered(span.start, span.end, found_by_type[span.type]):
                tally.found += 1
            else:
                errors.append(_error(index, doc, "missed", span))
        for span in predicted:
            if span.type not in tallies:
                if span.type not in gold_types:
                    unannotated[span.type] += 1
                continue
            tally = tallies[span.type]
            tally.findings += 1
            if half_covered(span.start, span.end, by_type[span.type]):
                tally.right += 1
            else:
                errors.append(_error(index, doc, "false", span))
    return tallies, dict(sorted(unannotated.items())), errors


def _error(index: int, doc: Doc, kind: str, span: Span) -> dict[str, Any]:
    gold = [f"{s.type}:{doc.text[s.start : s.end]}" for s in doc.gold]
    return {
        "doc": index,
        "kind": kind,
        "type": span.type,
        "value": doc.text[span.start : span.end],
        "text": doc.text,
        "gold": gold,
    }


def score_secrets(cases: Sequence[SecretCase], detect: Detector) -> dict[str, Any]:
    """Example-level recall and precision, span precision, recall per rule category."""
    hits: list[bool] = []
    findings = right = 0
    for case in cases:
        secrets = [(s.start, s.end) for s in detect(case.text) if s.type.startswith("SECRET")]
        if case.label:
            if case.gold:
                hit = any(half_covered(lo, hi, secrets) for lo, hi in case.gold)
                right += sum(half_covered(lo, hi, case.gold) for lo, hi in secrets)
            else:
                hit = bool(secrets)
                right += len(secrets)
            findings += len(secrets)
        else:
            hit = bool(secrets)
            findings += len(secrets)
        hits.append(hit)
    positives = [c for c, h in zip(cases, hits, strict=True) if c.label]
    found = sum(h for c, h in zip(cases, hits, strict=True) if c.label)
    flagged_negatives = sum(h for c, h in zip(cases, hits, strict=True) if not c.label)
    per_category: dict[str, Tally] = defaultdict(Tally)
    for case, hit in zip(cases, hits, strict=True):
        if case.label:
            for category in case.categories or ("(none)",):
                per_category[category].gold += 1
                per_category[category].found += hit
    missed = Counter(c.rule_id for c, h in zip(cases, hits, strict=True) if c.label and not h)
    false = Counter(c.rule_id for c, h in zip(cases, hits, strict=True) if not c.label and h)
    negatives = len(cases) - len(positives)
    flagged = found + flagged_negatives
    return {
        "positives": len(positives),
        "positives_with_capture_span": sum(bool(c.gold) for c in positives),
        "negatives": negatives,
        "found": found,
        "flagged_negatives": flagged_negatives,
        "recall": found / len(positives) if positives else None,
        "precision": found / flagged if flagged else None,
        "negative_flag_rate": flagged_negatives / negatives if negatives else None,
        "span_findings": findings,
        "span_right": right,
        "span_precision": right / findings if findings else None,
        "recall_by_category": {
            name: {"n": t.gold, "found": t.found, "recall": t.found / t.gold}
            for name, t in sorted(per_category.items())
        },
        "missed_rule_ids": dict(sorted(missed.items())),
        "flagged_negative_rule_ids": dict(sorted(false.items())),
    }


# --- throughput -----------------------------------------------------------------------------


@contextmanager
def one_core() -> Iterator[str]:
    """Pin this process to one CPU for the block (Linux), and say which."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity)"
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, before)


def predict_all(detect: Detector, texts: Sequence[str]) -> list[list[Span]]:
    return [detect(text) for text in texts]


def throughput(
    detectors: Mapping[str, Detector], texts: Sequence[str], repeats: int
) -> dict[str, dict[str, Any]]:
    """Texts per second over `texts` for each detector, the median of `repeats` timed passes
    (after one untimed warm-up call each). The passes alternate between the detectors, so a
    drift of the host's speed (tens of percent on shared machines) slows them alike and
    their ratio holds."""
    for detect in detectors.values():
        if texts:
            detect(texts[0])
    rates: dict[str, list[float]] = {name: [] for name in detectors}
    for _ in range(repeats):
        for name, detect in detectors.items():
            started = time.perf_counter()
            for text in texts:
                detect(text)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return {
        name: {
            "texts": len(texts),
            "repeats": repeats,
            "texts_per_second": statistics.median(found),
            "all": [round(r, 1) for r in found],
        }
        for name, found in rates.items()
    }


def throughput_ratio(runs: Mapping[str, Any]) -> float | None:
    """Wardgate's texts per second over Presidio's: the median of the ratios of passes that
    ran in turn (each pair saw the host at the same speed); None without both tools."""
    if "wardgate" not in runs or "presidio" not in runs:
        return None
    ours, theirs = runs["wardgate"]["throughput"]["all"], runs["presidio"]["throughput"]["all"]
    return statistics.median([a / b for a, b in zip(ours, theirs, strict=True) if b > 0])


# --- the run --------------------------------------------------------------------------------


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


def evaluate(
    tools: Sequence[Tool], docs: Sequence[Doc], cases: Sequence[SecretCase], repeats: int
) -> dict[str, Any]:
    texts = [doc.text for doc in docs]
    results: dict[str, Any] = {}
    with one_core() as pinning:
        for tool in tools:
            started = time.perf_counter()
            predictions = predict_all(tool.detect, texts)
            tallies, unannotated, errors = score_pii(docs, predictions, tool.claims)
            results[tool.name] = {
                "setup": tool.setup,
                "claims": sorted(tool.claims),
                "pii": {t: tally.to_json() for t, tally in tallies.items()},
                "unannotated_findings": unannotated,
                "errors": errors,
                "secrets": score_secrets(cases, tool.detect) if tool.finds_secrets else None,
            }
            took = time.perf_counter() - started
            print(f"{tool.name}: {took:.1f} s", file=sys.stderr)
        rates = throughput({tool.name: tool.detect for tool in tools}, texts, repeats)
    for name, rate in rates.items():
        results[name]["throughput"] = rate
    return {"results": results, "pinning": pinning}


def gold_counts(docs: Sequence[Doc]) -> dict[str, int]:
    return dict(sorted(Counter(s.type for d in docs for s in d.gold).items()))


# --- markdown -------------------------------------------------------------------------------

BEGIN, END = report_sections.markers("sensitive")
TITLE = "# Detection quality"
EXAMPLES_PER_TYPE = 3
TEXT_CHARS = 90


def write_section(path: Path, section: str) -> None:
    report_sections.write_section(path, "sensitive", section, TITLE)


_table = report_sections.table


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def snippet(text: str, limit: int = TEXT_CHARS) -> str:
    return report_sections.code_span(text, limit)


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    """Per type both tools score: whether wardgate's F1 is at or above Presidio's."""
    runs = result["results"]
    if "wardgate" not in runs or "presidio" not in runs:
        return {}
    ours, theirs = runs["wardgate"]["pii"], runs["presidio"]["pii"]
    out = {}
    for kind in sorted(set(ours) & set(theirs)):
        a, b = ours[kind]["f1"], theirs[kind]["f1"]
        if a is None or b is None:
            continue
        out[kind] = "at or above" if a >= b - 1e-9 else "below"
    return out


def targets(result: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets: met (True), missed (False) or not measurable here (None)."""
    runs = result["results"]
    verdict = verdicts(result)
    secrets = runs.get("wardgate", {}).get("secrets")
    ratio = throughput_ratio(runs)
    return {
        "f1_at_or_above_presidio_on_every_shared_type": (
            all(v != "below" for v in verdict.values()) if verdict else None
        ),
        "secrets_precision_90_at_recall_90": (
            secrets["precision"] is not None
            and secrets["precision"] >= 0.9
            and secrets["recall"] >= 0.9
            if secrets
            else None
        ),
        "throughput_10x_presidio": ratio >= 10 if ratio is not None else None,
    }


def _target_lines(result: dict[str, Any]) -> list[str]:
    words = {True: "met", False: "**not met**", None: "not measured (Presidio did not run)"}
    goals = result["targets"]
    runs = result["results"]
    secrets = runs.get("wardgate", {}).get("secrets") or {}
    return [
        "### Targets",
        "",
        "- F1 at or above Presidio's on every entity type both score:"
        f" {words[goals['f1_at_or_above_presidio_on_every_shared_type']]}.",
        "- Secrets precision ≥ 90% at recall ≥ 90%:"
        f" {words[goals['secrets_precision_90_at_recall_90']]} (precision"
        f" {_pct(secrets.get('precision'))}, recall {_pct(secrets.get('recall'))}).",
        f"- ≥ 10 times Presidio's throughput: {words[goals['throughput_10x_presidio']]}.",
        "",
    ]


def _pii_table(result: dict[str, Any]) -> list[str]:
    runs = result["results"]
    names = [n for n in TOOLS if n in runs]
    kinds = sorted({k for run in runs.values() for k in run["pii"]})
    header = ["type", "gold spans"]
    for name in names:
        header += [f"{name} P", f"{name} R", f"{name} F1"]
    rows = []
    for kind in kinds:
        gold = next(run["pii"][kind]["gold"] for run in runs.values() if kind in run["pii"])
        row = [kind, str(gold)]
        for name in names:
            cell = runs[name]["pii"].get(kind)
            if cell is None:
                row += ["not claimed", "", ""]
            else:
                row += [_pct(cell["precision"]), _pct(cell["recall"]), _pct(cell["f1"])]
        rows.append(row)
    return _table(header, rows)


def _mapping_lines(result: dict[str, Any]) -> list[str]:
    counts = result["gold_counts"]
    groups: dict[str, list[str]] = defaultdict(list)
    for gold, kind in GOLD_TO_TYPE.items():
        groups[kind].append(f"{gold} ({counts.get(gold, 0)})")
    mapped = "; ".join(f"{kind} ← {', '.join(golds)}" for kind, golds in sorted(groups.items()))
    skipped = ", ".join(f"{t} ({counts.get(t, 0)})" for t in NOT_SCORED)
    return [
        f"Gold types, with their span counts in this run, become the tools' types: {mapped}."
        " A type is scored for a tool when the tool claims it (for Presidio, the entities"
        " its configured recognizers support). Not scored, since neither tool claims them:"
        f" {skipped}.",
        "",
    ]


def _verdict_lines(result: dict[str, Any]) -> list[str]:
    verdict = verdicts(result)
    if not verdict:
        return ["No comparison: Presidio did not run.", ""]
    below = [k for k, v in verdict.items() if v == "below"]
    above = [k for k, v in verdict.items() if v != "below"]
    lines = [
        f"Types both tools score: {', '.join(verdict)}. Wardgate's F1 is at or above"
        f" Presidio's on {', '.join(above) or 'none'}"
        + (f"; below it on **{', '.join(below)}**." if below else "."),
    ]
    only = sorted(set(result["results"]["wardgate"]["pii"]) - set(verdict))
    if only:
        lines.append(
            f"Scored for one tool only: {', '.join(only)} (the other does not claim the type;"
            " Presidio's PERSON and LOCATION come from spaCy NER, absent here)."
        )
    return [*lines, ""]


def _unannotated_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, run in result["results"].items():
        counts = run["unannotated_findings"]
        listed = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
        lines.append(f"- {name}: {listed}")
    return [
        "Findings of types the data set has no gold spans for (its texts hold only the"
        " annotated kinds, so these are false findings, but they are not in the table):",
        "",
        *lines,
        "",
    ]


def _throughput_lines(result: dict[str, Any]) -> list[str]:
    env = result["environment"]
    runs = result["results"]
    rows = [
        [
            name,
            f"{run['throughput']['texts_per_second']:,.0f}",
            ", ".join(f"{r:,.0f}" for r in run["throughput"]["all"]),
        ]
        for name, run in runs.items()
    ]
    lines = [
        "### Throughput",
        "",
        f"Texts per second over the {env['texts']} PII texts (median"
        f" {env['text_chars_median']} characters, max {env['text_chars_max']}), detector"
        f" calls only, one process {result['pinning']}, {env['cpu']}, Python"
        f" {env['python']}; the median of {env['repeats']} passes after a warm-up call, the"
        " tools' passes taking turns (a drift of the host slows them alike).",
        "",
        *_table(["tool", "texts/s (median)", "each pass"], rows),
    ]
    ratio = throughput_ratio(runs)
    if ratio is not None:
        lines += [
            f"Wardgate is {ratio:.1f} times Presidio's throughput (the median of the ratios of"
            " passes run in turn).",
            "",
        ]
    return lines


def _secrets_lines(result: dict[str, Any]) -> list[str]:
    runs = result["results"]
    names = [name for name, run in runs.items() if run["secrets"] is not None]
    if not names:
        return ["### Secrets", "", "Not run: no tool here finds secrets.", ""]
    first = runs[names[0]]["secrets"]
    rows = []
    for label, key in (
        ("recall (examples found)", "recall"),
        ("precision (examples)", "precision"),
        ("negatives flagged", "negative_flag_rate"),
        ("span precision (findings)", "span_precision"),
    ):
        rows.append([label, *(_pct(runs[n]["secrets"][key]) for n in names)])
    categories = sorted({c for n in names for c in runs[n]["secrets"]["recall_by_category"]})
    category_rows = [
        [
            category,
            str(first["recall_by_category"].get(category, {}).get("n", 0)),
            *(_pct(runs[n]["secrets"]["recall_by_category"].get(category, {}).get("recall"))
              for n in names),
        ]
        for category in categories
    ]  # fmt: skip
    lines = [
        "### Secrets",
        "",
        f"{first['positives']} example strings of the Nosey Parker rules are positives,"
        f" {first['negatives']} negative examples are negatives. A positive is found when"
        " `SECRET*` findings cover at least half of one of the rule's capture groups in it"
        f" (its pattern run by Python's `re` after translation from Rust syntax;"
        f" {first['positives_with_capture_span']} of {first['positives']} examples), or, where"
        " the pattern does not translate or match, when there is any `SECRET*` finding. A"
        " negative is flagged by any `SECRET*` finding. Precision (examples) = found"
        " positives / (found positives + flagged negatives); span precision = findings"
        " covering at least half of a capture group / all `SECRET*` findings on the examples."
        " The rules are evaluation data only; no pattern of theirs is in Wardgate. Presidio"
        " has no secret recognizers and is not run on them.",
        "",
        *_table(["metric", *names], rows),
        "Recall per rule category (an example counts in every category of its rule):",
        "",
        *_table(["category", "positives", *names], category_rows),
    ]
    for name in names:
        secrets = runs[name]["secrets"]
        missed = ", ".join(
            f"`{rule}`" + (f" ({n})" if n > 1 else "")
            for rule, n in secrets["missed_rule_ids"].items()
        )
        flagged = ", ".join(
            f"`{rule}`" + (f" ({n})" if n > 1 else "")
            for rule, n in secrets["flagged_negative_rule_ids"].items()
        )
        lines += [
            f"{name}: positives missed, by rule id: {missed or 'none'}.",
            "",
            f"{name}: negatives flagged, by rule id: {flagged or 'none'}.",
            "",
        ]
    return lines


def _examples(result: dict[str, Any]) -> list[str]:
    run = result["results"].get("wardgate")
    if run is None:
        return []
    taken: Counter[tuple[str, str]] = Counter()
    rows = []
    for error in run["errors"]:
        key = (error["type"], error["kind"])
        if taken[key] < EXAMPLES_PER_TYPE:
            taken[key] += 1
            rows.append([error["type"], error["kind"], snippet(error["value"], 40),
                         snippet(error["text"])])  # fmt: skip
    if not rows:
        return []
    rows.sort(key=lambda r: (r[0], r[1]))
    return [
        f"### Wardgate's PII errors (up to {EXAMPLES_PER_TYPE} per type and kind)",
        "",
        "`missed`: a gold span not found; `false`: a finding not on a gold span of its type."
        " Every error is in the `--json` output.",
        "",
        *_table(["type", "kind", "value", "text"], rows),
    ]


def render_section(result: dict[str, Any]) -> str:
    data = ", ".join(f"{source} `{ref}`" for source, ref in sorted(result["data"].items()))
    notes = [f"- {name}: not run, {why}." for name, why in result["missing_tools"].items()]
    if result["smoke"]:
        notes.append(f"- Smoke run: the first {SMOKE_TEXTS} PII texts only, one timed pass.")
    setups = [f"- {name}: {run['setup']}." for name, run in result["results"].items()]
    lines = [
        "## PII and secrets",
        "",
        f"Reproduce with `python scripts/eval_sensitive.py` (this run:"
        f" `{result['command'].strip()}`; Presidio from the `eval-sensitive` extra). Data"
        f" `shared/data/pii_secrets`: {data or 'no MANIFEST.json'}.",
        "",
        "Spans follow `shared/EVAL.md`: a gold span is found when findings of its type cover"
        " at least half of its characters; a finding is right when at least half of its"
        " characters lie inside gold spans of its type. Recall = found / gold spans,"
        " precision = right / findings, F1 their harmonic mean. The same rule and texts for"
        " both tools.",
        "",
        "Tools as run:",
        "",
        *setups,
        "",
        "Presidio is configured without a spaCy model (none can be downloaded here): its"
        " `NoOpNlpEngine` gives no tokens, lemmas or named entities, so only its pattern"
        " recognizers run, without the context words of the text raising their scores, and"
        " it finds no PERSON or LOCATION. Its email recognizer is given tldextract's bundled"
        " public-suffix list instead of a download.",
        "",
        *notes,
        *([""] if notes else []),
        *_target_lines(result),
        "### PII per entity type (presidio-research synth_dataset_v2)",
        "",
        *_mapping_lines(result),
        *_pii_table(result),
        *_verdict_lines(result),
        *_unannotated_lines(result),
        *_secrets_lines(result),
        *_throughput_lines(result),
        *_examples(result),
    ]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------


def _tools(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(names) - set(TOOLS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown tool {unknown}; choose from {TOOLS}")
    return names


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument("--data", type=Path, default=DEFAULT_DATA, help="pii_secrets data folder")
    cli.add_argument("--tools", type=_tools, default=TOOLS, help="comma-separated")
    cli.add_argument(
        "--smoke", action="store_true", help=f"first {SMOKE_TEXTS} PII texts, one timed pass"
    )
    cli.add_argument("--repeats", type=int, default=REPEATS, help="timed passes per tool")
    cli.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to update")
    cli.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    return cli


def main(
    argv: Sequence[str] | None = None,
    *,
    factories: dict[str, Callable[[], Tool]] | None = None,
    availability: Callable[[str], str | None] = tool_unavailable,
) -> int:
    args = parser().parse_args(argv)
    factories = TOOL_FACTORIES if factories is None else factories
    if not (args.data / PII_FILE).exists() or not (args.data / RULES_DIR).is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    docs = load_pii(args.data)
    if args.smoke:
        docs = docs[:SMOKE_TEXTS]
    cases = load_secret_cases(args.data)
    missing = {name: why for name in args.tools if (why := availability(name)) is not None}
    tools = [factories[name]() for name in args.tools if name not in missing]
    if not tools:
        print(f"no tool ran: {missing}", file=sys.stderr)
        return 1
    repeats = 1 if args.smoke else max(1, args.repeats)
    evaluated = evaluate(tools, docs, cases, repeats)
    sizes = [len(doc.text) for doc in docs]
    result = {
        "command": " ".join(
            ["scripts/eval_sensitive.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "smoke": args.smoke,
        "data": dataset_commits(args.data),
        "gold_counts": gold_counts(docs),
        "environment": {
            "python": platform.python_version(),
            "cpu": report_sections.cpu_model(),
            "texts": len(docs),
            "text_chars_median": statistics.median(sizes) if sizes else 0,
            "text_chars_max": max(sizes, default=0),
            "repeats": repeats,
        },
        "missing_tools": missing,
        "pinning": evaluated["pinning"],
        "results": evaluated["results"],
        "verdicts": {},
        "targets": {},
    }
    result["verdicts"] = verdicts(result)
    result["targets"] = targets(result)
    write_section(args.out, render_section(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
