"""The prompt-injection evaluation: metrics, the markdown section, and a smoke run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "prompt_injection"

sys.path.insert(0, str(SCRIPTS))
import eval_injection  # noqa: E402
from injection_data import Sample, insert, near_duplicates  # noqa: E402


@pytest.mark.parametrize(
    ("positives", "negatives", "expected"),
    [
        ([0.9, 0.8], [0.1, 0.2], 1.0),  # perfectly separated
        ([0.1], [0.9], 0.0),  # perfectly wrong
        ([0.5, 0.5], [0.5, 0.5], 0.5),  # ties count half
        ([0.9, 0.3], [0.5, 0.1], 0.75),  # three of four pairs ordered
        ([], [0.1], None),  # one class missing
    ],
)
def test_auc(positives: list[float], negatives: list[float], expected: float | None) -> None:
    assert eval_injection.auc(positives, negatives) == expected


def test_metrics_per_source() -> None:
    def scored(label: int, score: float) -> eval_injection.Scored:
        return eval_injection.Scored(
            Sample("t", label, "s", "user", "heldout"), score, score >= 0.5
        )

    items = [scored(1, 0.9), scored(1, 0.2), scored(0, 0.7), scored(0, 0.1), scored(0, 0.0)]
    row = eval_injection.metrics(items, {0: [], 1: []})
    assert row["recall"] == 0.5
    assert row["fpr"] == pytest.approx(1 / 3)
    assert row["precision"] == 0.5
    assert row["auc"] == pytest.approx(5 / 6)  # 0.9 beats all three, 0.2 beats two


def test_write_section_keeps_other_sections(tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    out.write_text("# Detection quality\n\n<!-- attacks:begin -->\nA\n<!-- attacks:end -->\n")
    eval_injection.write_section(out, "first\n")
    eval_injection.write_section(out, "second\n")
    text = out.read_text()
    assert "<!-- attacks:begin -->\nA\n<!-- attacks:end -->" in text
    assert "second" in text and "first" not in text
    created = tmp_path / "new.md"
    eval_injection.write_section(created, "x\n")
    assert created.read_text().startswith("# Detection quality\n")


def test_insert_places_the_attack_and_reports_its_span() -> None:
    context = "First sentence here. Second sentence there. Third one."
    for where in ("start", "middle", "end"):
        text, (start, end) = insert(context, "ATTACK TEXT", where)
        assert text[start:end] == "ATTACK TEXT"


def test_near_duplicates() -> None:
    train = [Sample("one two three four five six seven eight", 1, "a", "user", "train")]
    heldout = [
        Sample("one two three four five six seven nine", 1, "b", "user", "heldout"),
        Sample("completely different words in this sentence here", 1, "b", "user", "heldout"),
    ]
    assert near_duplicates(heldout, train) == {0}


@pytest.mark.skipif(not DATA.is_dir(), reason=f"no data at {DATA}")
def test_smoke_run(tmp_path: Path) -> None:
    out, raw = tmp_path / "detection.md", tmp_path / "injection.json"
    assert eval_injection.main(["--limit", "2", "--out", str(out), "--json", str(raw)]) == 0
    text = out.read_text()
    assert text.startswith("# Detection quality")
    assert "<!-- injection:begin -->" in text and "<!-- injection:end -->" in text
    assert "injecagent_base" in text and "### Robustness" in text and "16 KB" in text
    results = json.loads(raw.read_text())
    assert set(results["robustness"]["kinds"]) == {
        "base64", "emoji", "homoglyph", "invisible", "leet", "rot13", "spacing", "tags",
    }  # fmt: skip
    assert all(row["n"] <= 4 for row in results["sources"].values())


def test_threshold_pools_sources_and_bounds_each() -> None:
    from calibration import choose_threshold

    def benign(source: str, scores: list[float]) -> list[tuple[float, Sample]]:
        return [(score, Sample(f"{source}{i}", 0, source, "user", "train")) for i, score in
                enumerate(scores)]  # fmt: skip

    quiet = benign("quiet", [0.1] * 100)
    # One loud text in 100: 1 % of that source, 0.5 % pooled with the quiet one: allowed.
    loud = benign("loud", [0.1] * 99 + [0.9])
    assert choose_threshold(quiet + loud, 0.01) == 0.5
    # Three loud texts: 1.5 % pooled breaks the 1 % bound; two of them (1 %) do not.
    louder = benign("louder", [0.1] * 97 + [0.8, 0.85, 0.9])
    assert 0.8 < choose_threshold(quiet + louder, 0.01) <= 0.85
    # Three in one source and none in five others: 0.5 % pooled, but 3 % in that source,
    # over twice the bound: one of them must go unflagged.
    others = [item for n in range(5) for item in benign(f"q{n}", [0.1] * 100)]
    three = benign("three", [0.1] * 97 + [0.7, 0.8, 0.9])
    assert 0.7 < choose_threshold(others + three, 0.01) <= 0.8
    # Sources under 50 texts bound nothing; attacks never count.
    small = benign("small", [0.99] * 10)
    attacks = [(0.99, Sample("a", 1, "attacks", "user", "train"))]
    assert choose_threshold(quiet + small + attacks, 0.01) == 0.5
    assert choose_threshold(small, 0.01) == 0.5 and choose_threshold([], 0.01) == 0.5
