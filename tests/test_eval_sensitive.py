"""The PII and secrets evaluation: span scoring, Rust-regex translation, and a smoke run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pii_secrets"

sys.path.insert(0, str(SCRIPTS))
import eval_sensitive  # noqa: E402
from eval_sensitive import Doc, SecretCase, Span  # noqa: E402


@pytest.fixture(scope="module")
def data() -> Path:
    if not (DATA / eval_sensitive.PII_FILE).exists():
        pytest.skip(f"no data at {DATA}")
    return DATA


# --- span scoring ---------------------------------------------------------------------------


def test_spans_count_when_half_their_characters_are_covered() -> None:
    assert eval_sensitive.covered(0, 10, [(2, 5), (4, 8), (20, 30)]) == 6
    assert eval_sensitive.half_covered(0, 10, [(0, 5)])
    assert not eval_sensitive.half_covered(0, 10, [(0, 4)])
    assert not eval_sensitive.half_covered(3, 3, [(0, 10)])  # an empty span is never found


def test_scoring_follows_the_eval_rule_per_type() -> None:
    text = "mail a@b.co or call 555 0100 at 10 Downing Street"
    doc = Doc(text, (Span("EMAIL_ADDRESS", 5, 11), Span("PHONE_NUMBER", 20, 28)))
    predicted = [
        Span("EMAIL_ADDRESS", 5, 9),  # 4 of 6 characters: found, and right
        Span("PHONE_NUMBER", 15, 24),  # 4 of 9 inside the gold: wrong; 4 of 8 gold: found
        Span("IP_ADDRESS", 32, 34),  # a claimed type without gold here: wrong
        Span("US_BANK_NUMBER", 0, 2),  # a type the data never annotates
    ]
    claims = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "US_BANK_NUMBER"})

    tallies, unannotated, errors = eval_sensitive.score_pii([doc], [predicted], claims)

    email, phone, ip = (
        tallies[t].to_json() for t in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS")
    )
    assert (email["precision"], email["recall"], email["f1"]) == (1.0, 1.0, 1.0)
    assert (phone["precision"], phone["recall"]) == (0.0, 1.0)
    assert phone["f1"] == 0.0
    assert (ip["gold"], ip["findings"], ip["right"], ip["recall"]) == (0, 1, 0, None)
    assert "PERSON" not in tallies  # not claimed: not scored
    assert unannotated == {"US_BANK_NUMBER": 1}
    assert sorted((e["type"], e["kind"]) for e in errors) == [
        ("IP_ADDRESS", "false"),
        ("PHONE_NUMBER", "false"),
    ]


def test_address_parts_are_scored_as_location() -> None:
    doc = Doc("x", (Span("STREET_ADDRESS", 0, 1), Span("GPE", 0, 1), Span("NRP", 0, 1)))
    assert [s.type for s in eval_sensitive.mapped_gold(doc)] == ["LOCATION", "LOCATION"]


def test_a_tool_without_findings_has_no_precision_and_zero_f1() -> None:
    doc = Doc("call 555 0100", (Span("PHONE_NUMBER", 5, 13),))
    tallies, _, _ = eval_sensitive.score_pii([doc], [[]], frozenset({"PHONE_NUMBER"}))
    assert tallies["PHONE_NUMBER"].to_json()["precision"] is None
    assert tallies["PHONE_NUMBER"].to_json()["f1"] == 0.0


# --- Rust regular expressions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "spans"),
    [
        # leading flags merged; whitespace and comments of verbose mode dropped, in classes too
        ("(?x)(?i)\n  key \\s* = \\s* ([a-z 0-9]{4})  # the value\n", "KEY = ab12", ((6, 10),)),
        ("(?x) ab (?# a PCRE comment ) (c)", "xabc", ((3, 4),)),
        ("(?x) \\ (x)", "a x", ((2, 3),)),  # an escaped space stays
        ("(?x)(?:(?s) a.b)", "a\nb", ((0, 3),)),  # scoped flags
        ("([[:xdigit:]]{4})\\z", "zz beef", ((3, 7),)),
        ("(?<v>\\d+)", "n=42", ((2, 4),)),
    ],
)
def test_rust_patterns_translate(pattern: str, text: str, spans: tuple[tuple[int, int]]) -> None:
    compiled = eval_sensitive.rust_regex(pattern)
    assert compiled is not None
    assert eval_sensitive.capture_spans(compiled, text) == spans


@pytest.mark.parametrize("pattern", ["\\p{L}+", "[a-z&&[^aeiou]]", "(?U)a+"])
def test_untranslatable_patterns_give_none(pattern: str) -> None:
    assert eval_sensitive.rust_regex(pattern) is None


def test_every_rule_translates_and_matches_its_examples(data: Path) -> None:
    cases = eval_sensitive.load_secret_cases(data)
    positives = [c for c in cases if c.label]
    assert len(positives) == 430 and len(cases) - len(positives) == 143
    assert all(c.gold for c in positives)


def test_secret_scoring_needs_the_capture_group() -> None:
    cases = [
        SecretCase("r.1", ("api",), 1, "key=abcd", ((4, 8),)),
        SecretCase("r.1", ("api",), 1, "id=x key=abcd", ((9, 13),)),
        SecretCase("r.2", ("secret",), 0, "nothing", ()),
    ]

    def detect(text: str) -> list[Span]:
        return [Span("SECRET.generic", 4, 8), Span("PERSON", 0, 2)] if "key" in text else []

    scores = eval_sensitive.score_secrets(cases, detect)

    assert (scores["found"], scores["recall"], scores["precision"]) == (1, 0.5, 1.0)
    assert scores["span_precision"] == 0.5
    assert scores["missed_rule_ids"] == {"r.1": 1}
    assert scores["recall_by_category"] == {"api": {"n": 2, "found": 1, "recall": 0.5}}


# --- the smoke run --------------------------------------------------------------------------


def test_smoke_run_writes_the_section_and_keeps_the_rest(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    out.write_text("# Detection quality\n\n<!-- attacks:begin -->\nkept\n<!-- attacks:end -->\n")
    raw = tmp_path / "sensitive.json"
    argv = ["--data", str(data), "--smoke", "--tools", "wardgate", "--out", str(out)]

    assert eval_sensitive.main([*argv, "--json", str(raw)]) == 0

    text = out.read_text()
    assert "<!-- attacks:begin -->\nkept\n<!-- attacks:end -->" in text
    assert text.count("<!-- sensitive:begin -->") == text.count("<!-- sensitive:end -->") == 1
    assert "| type | gold spans | wardgate P | wardgate R | wardgate F1 |" in text
    assert "No comparison: Presidio did not run." in text
    numbers = json.loads(raw.read_text())
    assert numbers["environment"]["texts"] == eval_sensitive.SMOKE_TEXTS
    run = numbers["results"]["wardgate"]
    pii = run["pii"]
    # Real detection finds these; a detector that finds nothing, or everything, fails.
    assert pii["EMAIL_ADDRESS"]["recall"] > 0.9 and pii["EMAIL_ADDRESS"]["precision"] > 0.9
    assert pii["US_SSN"]["recall"] > 0.9 and pii["CREDIT_CARD"]["recall"] > 0.5
    assert all(row["precision"] is None or row["precision"] > 0.8 for row in pii.values())
    secrets = run["secrets"]
    assert secrets["positives"] == 430 and secrets["negatives"] == 143
    assert secrets["recall"] > 0.2 and secrets["negative_flag_rate"] < 0.5
    rule_ids = {case.rule_id for case in eval_sensitive.load_secret_cases(data)}
    assert set(secrets["missed_rule_ids"]) <= rule_ids
    assert run["throughput"]["texts_per_second"] > 0
    assert numbers["targets"]["throughput_10x_presidio"] is None

    eval_sensitive.main(argv)
    assert out.read_text().count("<!-- sensitive:begin -->") == 1


def test_a_missing_tool_is_reported(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    argv = ["--data", str(data), "--smoke", "--out", str(out)]

    status = eval_sensitive.main(
        argv, availability=lambda name: "not installed" if name == "presidio" else None
    )

    assert status == 0
    text = out.read_text()
    assert text.startswith("# Detection quality\n")
    assert "- presidio: not run, not installed." in text


def test_nothing_is_written_when_no_tool_can_run(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    argv = ["--data", str(data), "--smoke", "--out", str(out)]

    assert eval_sensitive.main(argv, availability=lambda name: "absent") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "`a\\|b`"),  # a pipe would end the table cell
        ("a\nb", "`a\\x0ab`"),  # control characters escaped
        ("z" * 100, "`" + "z" * 90 + "…`"),  # cut
    ],
)
def test_text_snippets_are_table_safe(text: str, expected: str) -> None:
    assert eval_sensitive.snippet(text) == expected


def test_throughput_passes_take_turns_and_the_ratio_pairs_them() -> None:
    calls: list[str] = []
    rates = eval_sensitive.throughput(
        {
            "wardgate": lambda text: calls.append("w") or [],
            "presidio": lambda text: calls.append("p") or [],
        },
        ["a", "b"],
        repeats=2,
    )
    # one warm-up call each, then passes over both texts in turn
    assert "".join(calls) == "wp" + "wwpp" * 2
    assert set(rates) == {"wardgate", "presidio"} and rates["wardgate"]["repeats"] == 2
    runs = {
        "wardgate": {"throughput": {"all": [100.0, 60.0, 300.0]}},
        "presidio": {"throughput": {"all": [10.0, 10.0, 10.0]}},
    }
    assert eval_sensitive.throughput_ratio(runs) == 10.0
    assert eval_sensitive.throughput_ratio({"wardgate": runs["wardgate"]}) is None
