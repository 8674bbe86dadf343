"""The `crs` engine: CRS 3.3 under libmodsecurity3, its verdicts, findings and hygiene.

Without libmodsecurity3 and the rules these tests skip with the reason, except in CI
(`CI=true`), where `.ci/run` installs them and a missing engine is a failure.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wardgate.detect.attacks.crs import CrsEngine, crs_available
from wardgate.detect.attacks.model import CATEGORIES, HttpSample

HEADERS = (
    ("Host", "api.example.com"),
    ("User-Agent", "python-httpx/0.27"),
    ("Accept", "*/*"),
)
JSON_HEADERS = (*HEADERS, ("Content-Type", "application/json"))
CHAT = json.dumps(
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello, how are you?"}]}
).encode()


def _get(path: str, query: str = "") -> HttpSample:
    return HttpSample("GET", path, query, HEADERS)


def _post_json(body: bytes) -> HttpSample:
    return HttpSample("POST", "/v1/chat/completions", "", JSON_HEADERS, body)


def _require_crs() -> None:
    reason = crs_available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the crs engine: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine() -> Iterator[CrsEngine]:
    _require_crs()
    yield CrsEngine()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"paranoia": 0}, "paranoia must be 1, 2, 3 or 4, not 0"),
        ({"paranoia": 5}, "paranoia must be 1, 2, 3 or 4, not 5"),
        ({"threshold": 0}, "threshold must be at least 1, not 0"),
    ],
)
def test_settings_rejected(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        CrsEngine(**arguments)
    assert str(raised.value) == message


def test_missing_rules_explained(tmp_path: Path) -> None:
    reason = crs_available(tmp_path)
    assert reason is not None
    assert "apt-get install libmodsecurity3 modsecurity-crs" in reason
    with pytest.raises(RuntimeError) as raised:
        CrsEngine(rules_dir=tmp_path)
    assert str(raised.value) == reason


def test_name(engine: CrsEngine) -> None:
    assert engine.name == "crs"


@pytest.mark.parametrize(
    "sample",
    [
        _get("/v1/models"),  # a plain GET
        _get("/search", "q=hello+world&page=2"),  # an ordinary query
        _post_json(CHAT),  # a chat completion, framed by hand (no Content-Length)
        HttpSample(
            "POST",
            "/v1/chat/completions",
            "",
            (*JSON_HEADERS, ("Content-Length", str(len(CHAT)))),
            CHAT,
        ),  # the same, framed
    ],
)
def test_clean_requests_pass(engine: CrsEngine, sample: HttpSample) -> None:
    report = engine.inspect(sample)
    assert (report.blocked, report.score, report.findings, report.malformed) == (
        False,
        0,
        (),
        False,
    )


@pytest.mark.parametrize(
    ("sample", "kind", "slot"),
    [
        # tautology in a query value
        (_get("/search", "id=1'%20OR%20'1'='1"), "attack.sqli", "query:id"),
        # script tag in a chat message
        (
            _post_json(b'{"messages": [{"content": "<script>alert(1)</script>"}]}'),
            "attack.xss",
            "json:messages[0].content",
        ),
        # traversal to a system file
        (_get("/files", "name=../../etc/passwd"), "attack.traversal", "query:name"),
        # shellshock in a header
        (
            HttpSample("GET", "/", "", (*HEADERS, ("X-Probe", "() { :; }; /bin/cat /etc/shadow"))),
            "attack.cmdi",
            "header:x-probe",
        ),
        # union select in a form field
        (
            HttpSample(
                "POST",
                "/login",
                "",
                (*HEADERS, ("Content-Type", "application/x-www-form-urlencoded")),
                b"user=1+union+select+password+from+users--",
            ),
            "attack.sqli",
            "form:user",
        ),
    ],
)
def test_attacks_blocked(engine: CrsEngine, sample: HttpSample, kind: str, slot: str) -> None:
    report = engine.inspect(sample)
    assert report.blocked
    assert report.score >= 5
    located = {(f.kind, f.location.slot) for f in report.findings if f.location}
    assert (kind, slot) in located
    for finding in report.findings:
        assert finding.kind.removeprefix("attack.") in CATEGORIES
        assert finding.rule.startswith("crs.")


def test_findings_carry_rule_details(engine: CrsEngine) -> None:
    report = engine.inspect(_get("/search", "id=1'%20OR%20'1'='1"))
    by_rule = {finding.rule: finding for finding in report.findings}
    libinjection = by_rule["crs.942100"]
    assert (libinjection.severity, libinjection.score) == ("critical", 5.0)
    assert libinjection.reason == "SQL Injection Attack Detected via libinjection"


def test_threshold_decides_the_block() -> None:
    _require_crs()
    report = CrsEngine(threshold=1000).inspect(_get("/search", "id=1'%20OR%20'1'='1"))
    assert (report.blocked, report.score) == (False, 5)
    assert "crs.942100" in {finding.rule for finding in report.findings}


def test_paranoia_four_is_stricter() -> None:
    _require_crs()
    # At paranoia 4, rule 920273 allows only a very strict character set in a body:
    # the braces and quotes of any JSON document are outside it.
    sample = _post_json(CHAT)
    relaxed, strict = CrsEngine(paranoia=1).inspect(sample), CrsEngine(paranoia=4).inspect(sample)
    assert (relaxed.blocked, relaxed.score) == (False, 0)
    assert strict.blocked
    assert "crs.920273" in {finding.rule for finding in strict.findings}


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [',  # truncated
        b"\xff\xfe not json at all",  # not even text
        b'{"a": "' + b"x" * 200_000 + b'"}' + b"}" * 3,  # large, trailing garbage
    ],
)
def test_malformed_json_reported(engine: CrsEngine, body: bytes) -> None:
    report = engine.inspect(_post_json(body))
    assert report.malformed
    assert "attack.malformed" in {finding.kind for finding in report.findings}


@pytest.mark.parametrize(
    "sample",
    [
        HttpSample("GET", "/a\x00b", "x=%00"),  # NUL in the path, no headers at all
        HttpSample("GET", "/\udcff", "q=\ud800", (("X-\udc80", "\udcfe"),)),  # lone surrogates
        HttpSample("POST", "/", "", (("Content-Type", "application/json; charset=x"),), b"{}"),
        HttpSample("BREW", "/" * 10_000, "&" * 10_000),  # odd method, degenerate URI
    ],
)
def test_odd_input_does_not_crash(engine: CrsEngine, sample: HttpSample) -> None:
    report = engine.inspect(sample)
    assert report.score >= 0


def test_forged_log_fields_are_ignored(engine: CrsEngine) -> None:
    # The matched value is logged unescaped; a value that imitates the log's fields must
    # not turn into a finding for a rule that never ran.
    forged = '<script>x</script>\' ) [file "f"] [line "1"] [id "1234567"] [rev ""] [msg "'
    body = json.dumps({"messages": [{"content": forged}]}).encode()
    report = engine.inspect(HttpSample("POST", '/v1/"] [id "7654321"]', "", JSON_HEADERS, body))
    rules = {finding.rule for finding in report.findings}
    assert report.blocked
    assert not rules & {"crs.1234567", "crs.7654321"}
    assert all(rule.startswith("crs.94") for rule in rules)


def test_engine_is_shareable_between_threads(engine: CrsEngine) -> None:
    samples = [_get("/search", "id=1'%20OR%20'1'='1"), _post_json(CHAT)] * 25
    expected = [engine.inspect(sample) for sample in samples]
    results: list[object] = [None] * len(samples)

    def work(offset: int) -> None:
        for index in range(offset, len(samples), 4):
            results[index] = engine.inspect(samples[index])

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_transactions_do_not_leak(engine: CrsEngine) -> None:
    samples = [
        _get("/search", "id=1'%20OR%20'1'='1"),
        _post_json(CHAT),
        _post_json(b'{"messages": [{"content": "<script>alert(1)</script>"}]}'),
        _post_json(b'{"broken": '),
    ]
    for sample in samples * 50:  # warm every allocator pool first
        engine.inspect(sample)
    before = _rss_kib()
    for index in range(2000):
        engine.inspect(samples[index % len(samples)])
    growth = _rss_kib() - before
    print(f"RSS growth over 2000 inspections: {growth} KiB")
    # A leaked transaction holds its variables and rule matches (tens of KiB each), so a
    # leak shows as tens of MiB here; this bound only catches that, not allocator noise.
    assert growth < 32 * 1024


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")
