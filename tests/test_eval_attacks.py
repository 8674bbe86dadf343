"""The attack-detection evaluation: request building from the data sets, and a smoke run."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest

from wardgate.decision import Finding
from wardgate.detect.attacks.model import HttpSample, Report

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "web_attacks"

sys.path.insert(0, str(SCRIPTS))
import eval_attacks  # noqa: E402
from web_attack_cases import (  # noqa: E402
    ENCODERS,
    KNOWN_CATEGORIES,
    PLACEHOLDERS,
    Case,
    Slot,
    load_cases,
)


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    if not DATA.is_dir():
        pytest.skip(f"no data at {DATA}")
    return load_cases(DATA)


class FakeEngine:
    """Blocks any request whose bytes hold a quote or an angle bracket."""

    def __init__(self, name: str, paranoia: int) -> None:
        self.name = name
        self.paranoia = paranoia

    def inspect(self, sample: HttpSample, *, text_slots: frozenset[str] = frozenset()) -> Report:
        raw = f"{sample.path}?{sample.query}".encode() + sample.body
        hit = any(mark in raw for mark in (b"'", b"<", b"%27", b"%3C"))
        findings = (Finding(kind="attack.sqli", rule="fake-1"),) if hit else ()
        return Report(findings=findings, score=5 * hit, blocked=hit)


def fake_factory(name: str, paranoia: int) -> FakeEngine:
    if name == "builtin" and paranoia > 2:
        raise ValueError(f"builtin has no paranoia level {paranoia}")
    return FakeEngine(name, paranoia)


# --- encoders and placeholders --------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoder", "payload", "expected"),
    [
        ("Plain", "<a b='c'>", "<a b='c'>"),
        # Go's url.QueryEscape: space as `+`, unreserved -_.~ kept, UTF-8 bytes escaped
        ("URL", "a b/c?d=é-_.~", "a+b%2Fc%3Fd%3D%C3%A9-_.~"),
        ("Base64", "ab", "YWI="),
        # padding removed
        ("Base64Flat", "ab", "YWI"),
        ("Base64Flat", "abc", "YWJj"),
        ("JSUnicode", "a<", "\\u0061\\u003c"),
        ("XMLEntity", "a<", "&#x61;&#x3c;"),
    ],
)
def test_encoders(encoder: str, payload: str, expected: str) -> None:
    assert ENCODERS[encoder](payload) == expected


def test_placeholders_put_the_payload_where_gotestwaf_does() -> None:
    slot = Slot("x%27y", "abc123", {})
    build = PLACEHOLDERS
    assert build["URLPath"](slot).path == "/x%27y"
    assert build["URLParam"](slot).query == "abc123=x%27y"
    assert build["Header"](slot).header("X-abc123") == "x%27y"
    assert build["UserAgent"](slot).header_values("user-agent") == ["x%27y"]
    assert json.loads(build["JSONRequest"](slot).body) == {"abc123": "x%27y"}
    assert build["HTMLForm"](slot).body == b"abc123=x%27y"
    multipart = build["HTMLMultipartForm"](slot)
    assert b'name="abc123"\r\n\r\nx%27y\r\n' in multipart.body
    assert (multipart.header("content-type") or "").startswith("multipart/form-data; boundary=")
    soap = build["SOAPBody"](Slot("a<b", "n", {}))
    assert b"<ns:n>a&lt;b</ns:n>" in soap.body
    graphql_get = build["GraphQL"](Slot("q", "n", {"method": "GET"}))
    assert (graphql_get.method, graphql_get.path, graphql_get.query) == (
        "GET",
        "/graphql",
        "query=q",
    )
    raw = build["RawRequest"](
        Slot("P", "n", {"method": "CUST", "path": "/{{payload}}", "body": "b={{payload}}"})
    )
    assert (raw.method, raw.path, raw.body) == ("CUST", "/P", b"b=P")
    assert raw.header("content-length") == "3"


# --- the data -------------------------------------------------------------------------------


def test_case_counts_per_source_are_sane(cases: list[Case]) -> None:
    counts = collections.Counter((c.source.split("/")[0], c.label) for c in cases)
    assert counts[("payloadsallthethings", 1)] == 3347 * 2 + 115  # query + JSON; XXE as XML
    assert (counts[("httpparams", 0)], counts[("httpparams", 1)]) == (12870, 7842)
    assert counts[("seclists", 1)] == 72
    assert counts[("gotestwaf", 1)] == 669  # 149 payloads x encoders x placeholders
    assert counts[("gotestwaf", 0)] == 47 * 3  # URL-encoded in 3 placeholders
    assert len({c.payload_id for c in cases if c.source.startswith("gotestwaf")}) == 196


def test_every_case_has_a_known_category_and_consistent_label(cases: list[Case]) -> None:
    known = KNOWN_CATEGORIES
    for case in cases:
        assert case.category in known, case
        assert (case.category == "benign") == (case.label == 0), case
        assert case.split == (
            "train" if case.source.startswith(("payloads", "httpparams")) else "eval"
        )


def test_cases_are_deterministic(cases: list[Case]) -> None:
    assert load_cases(DATA) == cases


# --- the evaluation -------------------------------------------------------------------------


def test_smoke_run_writes_the_section_and_keeps_the_rest(cases: list[Case], tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    out.write_text("# Detection quality\n\n<!-- prompts:begin -->\nkept\n<!-- prompts:end -->\n")
    raw = tmp_path / "attacks.json"
    argv = ["--data", str(DATA), "--limit", "3", "--out", str(out), "--json", str(raw)]

    status = eval_attacks.main(argv, factory=fake_factory, availability=lambda name: None)

    assert status == 0
    text = out.read_text()
    assert "<!-- prompts:begin -->\nkept\n<!-- prompts:end -->" in text
    assert text.count("<!-- attacks:begin -->") == text.count("<!-- attacks:end -->") == 1
    assert "| run | threshold | TPR train | TPR eval | FPR all |" in text
    assert "### Engines compared at matched false-positive rate" in text
    assert "builtin p3: skipped" in text
    numbers = json.loads(raw.read_text())
    assert [(r["engine"], r["paranoia"]) for r in numbers["runs"]] == [
        ("builtin", 1), ("builtin", 2), ("crs", 1), ("crs", 2), ("crs", 3), ("crs", 4),
    ]  # fmt: skip
    assert numbers["missed_builtin_default"]

    eval_attacks.main(argv, factory=fake_factory, availability=lambda name: None)
    assert out.read_text().count("<!-- attacks:begin -->") == 1


def test_a_missing_engine_is_reported(cases: list[Case], tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    argv = ["--data", str(DATA), "--limit", "1", "--out", str(out)]

    eval_attacks.main(
        argv, factory=fake_factory, availability=lambda n: "no CRS rules" if n == "crs" else None
    )

    text = out.read_text()
    assert text.startswith("# Detection quality\n")
    assert "crs: not run, no CRS rules." in text
    assert "No comparison: crs did not run (no CRS rules)." in text


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("a|b", "`a\\|b`"),  # a pipe would end the table cell
        ("a\r\nb", "`a\\x0d\\x0ab`"),  # control characters escaped
        ("x`y", "``x`y``"),  # a backtick inside needs a longer fence
        ("z" * 90, "`" + "z" * 80 + "…`"),  # cut to 80 characters
    ],
)
def test_payload_snippets_are_table_safe(payload: str, expected: str) -> None:
    assert eval_attacks.snippet(payload) == expected


def test_nothing_is_written_when_no_engine_can_run(cases: list[Case], tmp_path: Path) -> None:
    out = tmp_path / "detection.md"
    argv = ["--data", str(DATA), "--limit", "1", "--out", str(out)]

    status = eval_attacks.main(argv, factory=fake_factory, availability=lambda name: "absent")

    assert status == 1
    assert not out.exists()
