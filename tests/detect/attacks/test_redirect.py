"""`redirect.scan`: values that take a browser to another host, not ordinary links and paths."""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.decision import Evidence, Location
from wardgate.detect.attacks import redirect
from wardgate.detect.attacks.model import Part, PartKind
from wardgate.detect.attacks.redirect import scan

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "web_attacks"
PAYLOADS = DATA / "payloadsallthethings" / "open_redirect" / "Open-Redirect-payloads.txt"
PARAMETERS = DATA / "httpparams" / "payload_train.csv"

PROTOCOL_RELATIVE = "open_redirect.protocol_relative"
SLASHES = "open_redirect.slash_confusion"
MISSING_SLASHES = "open_redirect.missing_slashes"
NESTED = "open_redirect.nested_url"
SCRIPT = "open_redirect.script_uri"
USERINFO = "open_redirect.userinfo"
AUTHORITY = "open_redirect.malformed_authority"
OBFUSCATED = "open_redirect.obfuscated_host"


def _fullwidth(ascii_text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in ascii_text)


def _rules(value: str, kind: PartKind = PartKind.QUERY) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in scan(Part("query:next", value, kind))]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        # protocol-relative: the browser keeps the scheme and goes to the other host
        ("//evil.com", PROTOCOL_RELATIVE),
        ("//evil.com/path?x=1", PROTOCOL_RELATIVE),
        ("  //evil.com", PROTOCOL_RELATIVE),  # leading spaces are stripped by browsers
        ("//evil.com:8443", PROTOCOL_RELATIVE),
        ("//8.8.8.8/x", PROTOCOL_RELATIVE),
        ("//3627734734", OBFUSCATED),
        # past a "starts with one slash" test: extra slashes, backslashes, tabs, newlines
        ("///evil.com", SLASHES),
        ("////evil.com/%2f..", SLASHES),
        ("\\\\evil.com", SLASHES),
        ("\\/\\/evil.com/", SLASHES),
        ("/\\/evil.com/", SLASHES),
        ("/\\evil.com", SLASHES),
        ("/%5cevil.com", SLASHES),  # encoded once more than the extractor decoded
        ("/\t/evil.com", SLASHES),
        ("/%09/evil.com", SLASHES),
        ("//\n/evil.com", SLASHES),
        ("/%2f%2fevil.com", SLASHES),
        # look-alike slashes some browsers and libraries turned into "/"
        ("\u3031evil.com", SLASHES),
        ("/\u3035evil.com", SLASHES),
        ("\u309devil.com", SLASHES),
        ("\u30fcevil.com", SLASHES),
        ("\uff70evil.com", SLASHES),
        ("\uff0f\uff0fevil.com", SLASHES),
        # absolute URLs written in a way browsers repair
        ("https:evil.com", MISSING_SLASHES),
        ("http:0xd8.0x3a.0xd6.0xce", MISSING_SLASHES),
        ("http:/evil.com", SLASHES),
        ("https:///evil.com", SLASHES),
        ("http:///////////evil.com", SLASHES),
        ("http:\\\\evil.com", SLASHES),
        ("https://%09/evil.com", SLASHES),
        ("https://%5cevil.com", SLASHES),
        # a path that is itself a URL
        ("/https://evil.com/", NESTED),
        ("/https:///evil.com/%2f%2e%2e", NESTED),
        ("https://trusted.com//evil.com", NESTED),
        ("https://trusted.com/\\evil.com", NESTED),
        # script URIs, however spelled
        ("javascript:alert(1)", SCRIPT),
        ("JaVaScRiPt:alert(1)", SCRIPT),
        ("  javascript:alert(1)", SCRIPT),
        ("//javascript:alert(1)", SCRIPT),
        ("/%5cjavascript:alert(1)", SCRIPT),
        ("java%0d%0ascript%0d%0a:alert(0)", SCRIPT),
        ("java\tscript:alert(1)", SCRIPT),
        ("ja\\nva\\tscript\\r:alert(1)", SCRIPT),  # escapes written out
        ("\\x6A\\x61\\x76\\x61\\x73\\x63\\x72\\x69\\x70\\x74\\x3aalert(1)", SCRIPT),
        ("\\u006A\\u0061\\u0076\\u0061script\\u003aalert(1)", SCRIPT),
        ("\\152\\141\\166\\141\\163\\143\\162\\151\\160\\164\\072alert(1)", SCRIPT),
        ("\\j\\av\\a\\s\\cr\\i\\pt\\:\\a\\l\\ert\\(1\\)", SCRIPT),
        ("&#106;avascript:alert(1)", SCRIPT),
        ("<>javascript:alert(1);", SCRIPT),
        (_fullwidth("javascript") + ":alert(1)", SCRIPT),
        ("javascript://trusted.com?%a0alert%281%29", SCRIPT),
        ("vbscript:msgbox(1)", SCRIPT),
        ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", SCRIPT),
        ("data:image/svg+xml,<svg onload=alert(1)>", SCRIPT),
        # a dotted name, or # ? \, before the @: the host is what follows it
        ("https://trusted.com@evil.com", USERINFO),
        ("//trusted.com@evil.com", USERINFO),
        ("http://trusted.com%40evil.com", USERINFO),
        ("http://evil.com:80#@trusted.com/", USERINFO),
        ("http://evil.com:80?@trusted.com/", USERINFO),
        ("//evil.com\\@trusted.com", USERINFO),
        ("https://:@evil.com\\@trusted.com", USERINFO),
        # authorities parsers split differently
        ("http://evil.com\\trusted.com", AUTHORITY),
        ("http://evil.com&trusted.com", AUTHORITY),
        ("https://evil.com#.trusted.com", AUTHORITY),
        ("//evil%00.com", AUTHORITY),
        # hosts written to dodge a deny-list
        ("http://0xd8.0x3a.0xd6.0xce", OBFUSCATED),
        ("http://0xd83ad6ce", OBFUSCATED),
        ("http://3627734734", OBFUSCATED),
        ("http://0330.072.0326.0316", OBFUSCATED),
        ("http://472.314.470.462", OBFUSCATED),
        ("http://0xd8.3856078", OBFUSCATED),
        ("http://3H6k7lIAiqjfNeN@0xd8.0x3a.0xd6.0xce", OBFUSCATED),
        ("http://[::216.58.214.206]", OBFUSCATED),
        ("http://[::ffff:216.58.214.206]", OBFUSCATED),
        ("http://%67%6f%6f%67%6c%65%2e%63%6f%6d", OBFUSCATED),
        ("%68%74%74%70%3a%2f%2f%67%6f%6f%67%6c%65%2e%63%6f%6d", OBFUSCATED),
        ("//evil%E3%80%82com", OBFUSCATED),
        ("//evil\u3002com", OBFUSCATED),
        ("https://" + _fullwidth("evil") + ".com", OBFUSCATED),
    ],
)
def test_redirect_tricks_are_found(value: str, rule: str) -> None:
    assert [f.rule for f in scan(Part("query:next", value, PartKind.QUERY))] == [rule]


@pytest.mark.parametrize(
    "value",
    [
        # paths and relative links
        "/",
        "/home",
        "/api/v1/users",
        "/api/v1/users/42?expand=true#top",
        "../img/logo.png",
        "./index.html",
        "index.html",
        "?page=2",
        "#section-2",
        "/search?q=a:b",
        "/a\\b",
        # plain absolute URLs: callbacks and webhooks are normal
        "https://example.com",
        "https://example.com/callback?code=abc&state=xyz",
        "http://example.com:8080/a/b?c=d#e",
        "https://8.8.8.8/dns-query",
        "http://[2001:db8::1]/",
        "https://user:pass@example.com/",
        "https://xn--bcher-kva.example/",
        "https://b\u00fccher.example/",
        "https://example.com/a//b",
        "https://web.archive.org/web/2020/https://example.com/",
        "https%3A%2F%2Fapp.example.com%2Fcb",  # encoded once more, delimiters only
        "ftp://files.example.com/pub",
        # other schemes and things with colons
        "mailto:juan@example.es",
        "tel:+34-600-000-000",
        "urn:isbn:0451450523",
        "C:\\Users\\me\\file.txt",
        "10:30",
        "data:image/png;base64,iVBORw0KGgo//8AAAA/N+/aa",
        "https:",
        "//",
        # people, places and prose
        "juan.perez@example.es",
        "Jos\u00e9 Mar\u00eda P\u00e9rez",
        "Calle Mayor 5, 2\u00ba B",
        "C/ Alcal\u00e1, 45",
        "\u00bfQu\u00e9 tal?",
        "// TODO: fix",
        "// see docs.python.org",
        "50% off",
        "\\N",  # MySQL's NULL in exports, not the escape for a newline
        "",
    ],
)
def test_ordinary_values_are_clean(value: str) -> None:
    for kind in (PartKind.QUERY, PartKind.BODY, PartKind.KEY, PartKind.COOKIE):
        assert scan(Part("query:next", value, kind)) == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        # a protocol-relative URL is the classic redirect in a query, ...
        (PartKind.QUERY, [(PROTOCOL_RELATIVE, "critical")]),
        (PartKind.KEY, [(PROTOCOL_RELATIVE, "critical")]),
        (PartKind.COOKIE, [(PROTOCOL_RELATIVE, "critical")]),
        # ... and ordinary in a body field holding HTML or CSS
        (PartKind.BODY, [(PROTOCOL_RELATIVE, "error")]),
        # never a redirect target
        (PartKind.PATH, []),
        (PartKind.HEADER, []),
        (PartKind.TEXT, []),
        (PartKind.RAW, []),
        (PartKind.FILENAME, []),
    ],
)
def test_which_parts_are_judged(kind: PartKind, expected: list[tuple[str, str]]) -> None:
    assert _rules("//evil.com/x", kind) == expected


def test_other_tricks_are_critical_in_a_body_too() -> None:
    assert _rules("/\\/evil.com", PartKind.BODY) == [(SLASHES, "critical")]


def test_a_finding_names_the_value_but_does_not_carry_it() -> None:
    (finding,) = scan(Part("query:next", "/\\/evil.com", PartKind.QUERY))
    assert finding.kind == "attack.open_redirect"
    assert finding.score == 5.0
    assert finding.location == Location("query:next")
    assert finding.evidence == Evidence.of("/\\/evil.com")
    assert "evil" not in finding.reason


def test_a_long_value_is_judged_by_its_start() -> None:
    assert _rules(" " * 10_000 + "//evil.com") == [(PROTOCOL_RELATIVE, "critical")]
    assert _rules("/home" + "a" * 1_000_000) == []


def test_public_names() -> None:
    assert redirect.__all__ == ["KIND", "scan"]
    assert redirect.KIND == "attack.open_redirect"


@pytest.mark.skipif(not PAYLOADS.exists(), reason="shared payload lists not present")
@pytest.mark.parametrize("transform", [str, unquote], ids=["as-written", "decoded-once"])
def test_public_payload_list_is_detected(transform: object) -> None:
    assert callable(transform)
    lines = [line for line in PAYLOADS.read_text(encoding="utf-8").split("\n") if line.strip()]
    found = [line for line in lines if scan(Part("query:next", transform(line), PartKind.QUERY))]
    # What is left: plain absolute URLs (by design), `";alert(0);//` (not a redirect), and
    # once decoded, the percent-encoded host the extractor already revealed.
    assert len(found) / len(lines) >= 0.95


@pytest.mark.skipif(not PARAMETERS.exists(), reason="shared parameter dataset not present")
def test_real_parameter_values_are_clean() -> None:
    with PARAMETERS.open(encoding="utf-8", errors="replace", newline="") as file:
        benign = [row["payload"] for row in csv.DictReader(file) if row["label"] == "norm"]
    assert len(benign) > 10_000
    flagged = [value for value in benign if scan(Part("query:x", value, PartKind.QUERY))]
    assert flagged == []


_PIECES = (
    "http https javascript data // %25 %2f %09 0x ::ffff: evil com \\x6a \\u0061 \\152 \\N &# <>"
)
_URLISH = st.lists(
    st.sampled_from([*":/\\@#?.%[];1d8 \t\x00\u3031\u3002\uff0f\udc80", *_PIECES.split()]),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.text(), _URLISH), kind=st.sampled_from(list(PartKind)))
def test_never_raises(value: str, kind: PartKind) -> None:
    for finding in scan(Part("query:next", value, kind)):
        assert finding.kind == "attack.open_redirect"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        # enclosed letters are symbols until folded: the host is still a host
        (
            "http://\u24d4\u24e7\u24d0\u24dc\u24df\u24db\u24d4.\u24d2\u24de\u24dc",
            "open_redirect.obfuscated_host",
        ),
        # an encoded slash before @: decoded once, the host reads as the trusted name
        ("http://trusted.com%2f@attacker.com", "open_redirect.userinfo"),
        ("https://trusted.com%253f@attacker.com/", "open_redirect.userinfo"),
    ],
)
def test_disguised_hosts(value: str, rule: str) -> None:
    assert [f.rule for f in scan(Part("query:next", value, PartKind.QUERY))] == [rule]


def test_encoded_slash_after_the_host_is_a_path() -> None:
    assert scan(Part("query:next", "http://a.example/x%2f@b", PartKind.QUERY)) == []


@pytest.mark.parametrize(
    "value",
    [
        "postgres://app:s3cr%2Ft@db.example.com:5432/app",  # an encoded password
        "redis://:p%23ss@cache.example.com:6379/0",
        "https://user:p%3Fw@hooks.example.com/x",
    ],
)
def test_encoded_passwords_are_not_userinfo_tricks(value: str) -> None:
    assert scan(Part("json:dsn", value, PartKind.BODY)) == []
