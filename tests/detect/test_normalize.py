"""The decoding transforms: real evasion payloads decoded, ordinary values left alone."""

from __future__ import annotations

import base64
import sys
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.detect import normalize
from wardgate.detect.normalize import (
    TRANSFORMS,
    base64_text,
    casefold,
    climbs_above_root,
    collapse_whitespace,
    decode_variants,
    html_entities,
    nfkc,
    path_normalize,
    sql_collapse,
    unicode_escapes,
    url_decode,
    url_decode_all,
    utf8_overlong,
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_exported_members() -> None:
    assert normalize.__all__ == [
        "TRANSFORMS",
        "base64_text",
        "casefold",
        "climbs_above_root",
        "collapse_whitespace",
        "decode_variants",
        "html_entities",
        "nfkc",
        "path_normalize",
        "sql_collapse",
        "unicode_escapes",
        "url_decode",
        "url_decode_all",
        "utf8_overlong",
    ]
    assert sorted(TRANSFORMS) == [
        "casefold",
        "collapse_whitespace",
        "html_entities",
        "nfkc",
        "path_normalize",
        "sql_collapse",
        "unicode_escapes",
        "url_decode",
        "url_decode_all",
        "utf8_overlong",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%27%20OR%201%3D1--", "' OR 1=1--"),  # classic SQLi, one layer
        ("%3CsCrIpT%3e", "<sCrIpT>"),  # hex digits in either case
        ("%252e%252e%252f", "%2e%2e%2f"),  # double encoding: one pass peels one layer
        ("%c3%a9t%C3%A9", "été"),  # a run of escapes is UTF-8
        ("%ff%fe", "ÿþ"),  # not UTF-8: one Latin-1 character per byte
        ("%c0%ae", "À®"),  # overlong: left for utf8_overlong
        ("100%", "100%"),  # a lone percent
        ("%zz%4", "%zz%4"),  # invalid escapes stay
        ("%u003c", "%u003c"),  # IIS %u is unicode_escapes' business
        ("a+b", "a+b"),  # plus is literal by default
        ("José Ñúñez", "José Ñúñez"),  # nothing to do
    ],
)
def test_url_decode(value: str, expected: str) -> None:
    assert url_decode(value) == expected


def test_url_decode_plus_as_space() -> None:
    assert url_decode("1+union+select+%2B1", plus_as_space=True) == "1 union select +1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%252e%252e%252fetc%252fpasswd", "../etc/passwd"),  # double
        ("%25252e%25252e%25252f", "../"),  # triple
        ("%253Cscript%253E", "<script>"),
        ("%25", "%"),  # decodes to a lone percent and stops
        ("plain", "plain"),
    ],
)
def test_url_decode_all(value: str, expected: str) -> None:
    assert url_decode_all(value) == expected


def test_url_decode_all_stops_after_max_passes() -> None:
    assert url_decode_all("%2525252e", max_passes=2) == "%252e"
    assert url_decode_all("%2525252e") == "."  # four layers, the default limit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%c0%ae%c0%ae%c0%af", "../"),  # two-byte overlong dot and slash
        ("%C0%AE%C0%AE%C1%9C", "..\\"),  # upper case; backslash
        ("%e0%80%ae%e0%80%af", "./"),  # three-byte
        ("%f0%80%80%ae", "."),  # four-byte
        ("%f8%80%80%80%af", "/"),  # five-byte (pre-2003 UTF-8)
        ("%fc%80%80%80%80%af", "/"),  # six-byte
        ("%c0%bcscript%c0%be", "<script>"),
        ("\xc0\xae\xc0\xae\xc0\xaf", "../"),  # raw, as url_decode leaves them
        ("\xe0\x80\xae", "."),
        ("%c3%a9", "%c3%a9"),  # valid UTF-8 (é) is not overlong
        ("%e0%a0%80", "%e0%a0%80"),  # valid three-byte U+0800
        ("%f0%8d%a0%80", "%f0%8d%a0%80"),  # overlong surrogate: no character
        ("%c0", "%c0"),  # truncated
        ("José Ñúñez", "José Ñúñez"),
        ("À la carte, Àb", "À la carte, Àb"),  # a capital A-grave before a letter
    ],
)
def test_utf8_overlong(value: str, expected: str) -> None:
    assert utf8_overlong(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%c0%ae%c0%ae%c0%afetc%c0%afpasswd", "../etc/passwd"),
        ("%25c0%25ae%25c0%25ae%25c0%25af", "../"),  # overlong, double encoded
        ("%c1%9c..%c1%9cwin.ini", "\\..\\win.ini"),
    ],
)
def test_url_decode_then_overlong_gives_the_intent(value: str, expected: str) -> None:
    assert utf8_overlong(url_decode_all(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%u003cscript%u003e", "<script>"),  # IIS
        ("%U0027%u0020OR%u00201=1", "' OR 1=1"),
        ("\\u003cimg src=x onerror=alert(1)\\u003e", "<img src=x onerror=alert(1)>"),  # JSON/JS
        ("\\u{3c}svg\\u{00003E}", "<svg>"),  # ES6 code points
        ("\\ud83d\\ude00 %uD83D%uDE00", "\U0001f600 \U0001f600"),  # surrogate pairs
        ("\\x3cscript\\x3e", "<script>"),
        ("\\xc3\\xa9", "é"),  # \x runs are bytes, UTF-8 when valid
        ("\\xc0\\xae", "\xc0\xae"),  # and Latin-1 when not
        ("java\\000073cript:", "javascript:"),  # CSS long form
        ("\\00003c script", "<script"),  # which eats one space after it
        ("\\ud800x", "\\ud800x"),  # a lone surrogate stays
        ("\\u{110000}", "\\u{110000}"),  # beyond Unicode
        ("\\u12", "\\u12"),  # too short
        ("C:\\dev\\abc\\uploads", "C:\\dev\\abc\\uploads"),  # short CSS escapes are not read
        ("José Ñúñez", "José Ñúñez"),
    ],
)
def test_unicode_escapes(value: str, expected: str) -> None:
    assert unicode_escapes(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("&lt;script&gt;", "<script>"),
        ("&LT;svg&GT", "<svg>"),  # legacy names need no semicolon
        ("&ltscript", "<script"),
        ("&#60;&#x3C;&#X3c;", "<<<"),
        ("&#60&#x3cimg", "<<img"),  # numeric without semicolon
        ("&#0000060;&#x000003c", "<<"),  # leading zeros
        ("javascript&colon;alert&lpar;1&rpar;", "javascript:alert(1)"),  # HTML5 names
        ("&amp;lt;script&amp;gt;", "<script>"),  # double encoded
        ("&#38;#60;", "<"),
        ("&amp;amp;amp;lt;", "<"),  # four layers, the default limit
        ("&#128;&#x9f;", "€Ÿ"),  # Windows-1252, as browsers read them
        ("&#0;&#xd800;&#99999999999;", "\ufffd\ufffd\ufffd"),
        ("&#" + "0" * 5000 + "60;", "<"),  # html.unescape raises here
        ("&#" + "9" * 5000 + ";", "\ufffd"),
        ("&nosuchentity; & &# AT&T", "&nosuchentity; & &# AT&T"),
        ("José Ñúñez", "José Ñúñez"),
    ],
)
def test_html_entities(value: str, expected: str) -> None:
    assert html_entities(value) == expected


def test_html_entities_stops_after_max_passes() -> None:
    assert html_entities("&amp;amp;lt;", max_passes=1) == "&amp;lt;"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\uff1c\uff53\uff43\uff52\uff49\uff50\uff54\uff1e", "<script>"),  # fullwidth
        ("\uff07 \uff2f\uff32 1\uff1d1", "' OR 1=1"),
        ("al\u200bert(1)", "alert(1)"),  # zero-width space
        ("se\u00adlect", "select"),  # soft hyphen
        ("\ufeffun\u200dion\u2060 sel\u202eect", "union select"),  # BOM, ZWJ, word joiner, RLO
        ("a\x00lert", "alert"),  # NUL, ASCII
        ("\U000e0041\u00e9\U000e007f", "é"),  # tag characters, beyond the BMP
        ("\ufb01le \u2460 x\u00b2", "file 1 x2"),  # ligature, circled, superscript
        ("Jose\u0301 N\u0303u\u0301n\u0303ez", "José Ñúñez"),  # composed
        ("José Ñúñez", "José Ñúñez"),
        ("中文 😀", "中文 😀"),
    ],
)
def test_nfkc(value: str, expected: str) -> None:
    assert nfkc(value) == expected


def test_nfkc_removes_every_format_character_and_only_those() -> None:
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    categories = list(map(unicodedata.category, everything))
    format_characters = {c for c, cat in zip(everything, categories, strict=True) if cat == "Cf"}
    assert all(nfkc(f"a{char}b") == "ab" for char in format_characters)
    # The hand-written table may list characters newer than this Python's Unicode.
    listed = set(normalize._INVISIBLE.findall(everything))
    listed |= set(normalize._INVISIBLE_ASTRAL.findall(everything))
    assert {unicodedata.category(char) for char in listed - {"\x00"}} <= {"Cf", "Cn"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SeLeCt", "select"),
        ("\u017felect", "select"),  # long s
        ("STRASSE straße", "strasse strasse"),
    ],
)
def test_casefold(value: str, expected: str) -> None:
    assert casefold(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("union \t\n select", "union select"),
        ("union\x0bselect\x0cfrom", "union select from"),  # vertical tab, form feed (%0b, %0c)
        ("union\xa0select\u2003from\u3000x", "union select from x"),  # no-break, em, ideographic
        ("  both ends  ", " both ends "),  # collapsed, not stripped
        ("one space", "one space"),
        ("", ""),
    ],
)
def test_collapse_whitespace(value: str, expected: str) -> None:
    assert collapse_whitespace(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("union/**/select", "union select"),
        ("UNION/*xyz*/ALL/**/SELECT", "UNION ALL SELECT"),
        ("1/*!50000union*/select", "1 union select"),  # MySQL version comment
        ("/*!50000 union*/", " union "),
        ("1 /*!UNION*/ /*!SELECT*/ 2", "1 UNION SELECT 2"),
        ("1 /*M!100100 and*/ 1=1", "1 and 1=1"),  # MariaDB
        ("1 union select 1,2/*", "1 union select 1,2 "),  # unterminated: to the end
        ("1 union#foo\nselect", "1 union select"),  # line comments hiding a newline
        ("1 union--x\r\nselect", "1 union select"),
        ("union\x0bselect", "union select"),  # %0b, decoded: a vertical tab
        ("union\xa0select", "union select"),  # %a0 in Latin-1: a no-break space
        ("' or 1=1-- ", "' or 1=1-- "),  # a trailing comment is evidence, kept
        ("admin'#", "admin'#"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_sql_collapse(value: str, expected: str) -> None:
    assert sql_collapse(value) == expected


@pytest.mark.parametrize(
    ("value", "expected", "climbs"),
    [
        ("../../etc/passwd", "../../etc/passwd", True),
        ("....//....//etc/passwd", "../../etc/passwd", True),  # strip-once filter evasion
        ("..././..././etc/passwd", "../../etc/passwd", True),
        ("..\\..\\windows\\win.ini", "../../windows/win.ini", True),
        ("/static/..;/..;/WEB-INF/web.xml", "/../WEB-INF/web.xml", True),  # Tomcat
        ("/images/../../../etc/shadow", "/../../etc/shadow", True),
        ("a/b/../../../etc/passwd\x00.png", "../etc/passwd", True),  # %00, decoded: cut there
        ("./.././/etc//passwd", "../etc/passwd", True),
        ("..", "..", True),
        ("/..", "/..", True),
        (".. /.. /boot.ini", "../../boot.ini", True),  # Windows trims trailing spaces
        ("C:\\inetpub\\..\\..\\boot.ini", "C:/../boot.ini", True),
        ("/static/../index.html", "/index.html", False),  # resolves inside the root
        ("/a/./b/../c/", "/a/c/", False),
        ("docs/v1.2/..config", "docs/v1.2/..config", False),  # a name, not a dot segment
        ("report.final.pdf", "report.final.pdf", False),
        ("/", "/", False),
        ("./", ".", False),
        ("", "", False),
    ],
)
def test_path_normalize(value: str, expected: str, climbs: bool) -> None:
    assert path_normalize(value) == expected
    assert climbs_above_root(value) is climbs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("..%5c..%5cwindows\\win.ini", "../../windows/win.ini"),
        ("%2e%2e%2f%2e%2e%2fetc%2fpasswd", "../../etc/passwd"),
        ("%252e%252e%255c%252e%252e%255cboot.ini", "../../boot.ini"),
        ("%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc/passwd", "../../etc/passwd"),
    ],
)
def test_path_normalize_after_decoding(value: str, expected: str) -> None:
    decoded = utf8_overlong(url_decode_all(value))
    assert path_normalize(decoded) == expected
    assert climbs_above_root(decoded)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_b64("<script>alert(1)</script>"), "<script>alert(1)</script>"),
        (_b64("' OR 1=1--").rstrip("="), "' OR 1=1--"),  # padding optional
        (base64.urlsafe_b64encode(b"<svg/onload=alert(1)>?").decode(), "<svg/onload=alert(1)>?"),
        (f"  {_b64('../../etc/passwd')}\n", "../../etc/passwd"),  # surrounding whitespace
        (_b64("admin"), "admin"),  # eight characters, the shortest whole value
        (_b64("%3Cscript%3E"), "%3Cscript%3E"),  # URL-encoded text inside
        (
            _b64("Ignora las instrucciones anteriores, José"),
            "Ignora las instrucciones anteriores, José",
        ),
        (
            "data:text/html;base64," + _b64("<script>alert(1)</script>"),
            "data:text/html;base64,<script>alert(1)</script>",
        ),
        (f"eval(atob('{_b64('alert(document.cookie)')}'))", "eval(atob('alert(document.cookie)'))"),
    ],
)
def test_base64_text(value: str, expected: str) -> None:
    assert base64_text(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "administrator",  # base64 alphabet, impossible length
        "password1",
        "username",  # decodes to bytes that are not UTF-8
        "Password",
        "deactivate",  # decodes to valid UTF-8 noise, not ASCII
        "bindings",
        "12345678",
        "2024-05-01",
        "José Ñúñez",
        "hello world",
        "short",
        "/api/v1/users/12345/orders",
        "0123456789abcdef0123456789abcdef",  # a hex digest: binary
        "123e4567-e89b-12d3-a456-426614174000",  # a UUID
        base64.b64encode(bytes(range(256))).decode(),  # binary
        "",
    ],
)
def test_base64_text_leaves_ordinary_values(value: str) -> None:
    assert base64_text(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("%253Cscript%253Ealert(1)", ["%253Cscript%253Ealert(1)", "<script>alert(1)"]),
        ("%u003cscript%u003e", ["%u003cscript%u003e", "<script>"]),
        ("%c0%ae%c0%ae%c0%afetc/passwd", ["%c0%ae%c0%ae%c0%afetc/passwd", "../etc/passwd"]),
        ("\uff1cscript\uff1e", ["\uff1cscript\uff1e", "<script>"]),
        ("&#x26;lt;svg onload=1&#x26;gt;", ["&#x26;lt;svg onload=1&#x26;gt;", "<svg onload=1>"]),
        ("%26lt%3Bimg%26gt%3B", ["%26lt%3Bimg%26gt%3B", "<img>"]),  # URL, then HTML
        (
            "\uff06lt\uff1bb\uff06gt\uff1b",
            ["\uff06lt\uff1bb\uff06gt\uff1b", "<b>"],
        ),  # NFKC, then HTML
        ("%5Cu003cscript%5Cu003e", ["%5Cu003cscript%5Cu003e", "<script>"]),  # URL, then JS
        ("..%5c..%5cwindows\\win.ini", ["..%5c..%5cwindows\\win.ini", "..\\..\\windows\\win.ini"]),
        ("sel%00ect", ["sel%00ect", "select"]),
        (
            _b64("<script>alert(1)</script>"),
            [_b64("<script>alert(1)</script>"), "<script>alert(1)</script>"],
        ),
        (
            _b64("%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
            [
                _b64("%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
                "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                "<script>alert(1)</script>",
            ],
        ),
        (
            _b64("' or 1=1--").replace("=", "%3D"),  # base64 with URL-encoded padding
            [_b64("' or 1=1--").replace("=", "%3D"), _b64("' or 1=1--"), "' or 1=1--"],
        ),
    ],
)
def test_decode_variants(value: str, expected: list[str]) -> None:
    assert decode_variants(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "hello world",
        "42",
        "3.14159",
        "john.smith@example.com",
        "2024-05-01T12:00:00Z",
        "José Ñúñez",
        "中文 😀",
        "administrator",
        "password1",
        "application/json",
        "user_session_token_1",
        "C:\\Users\\jose\\Documents",
        "AT&T",
        "50% off",
        "",
    ],
)
def test_decode_variants_leaves_ordinary_values(value: str) -> None:
    assert decode_variants(value) == [value]


def test_decode_variants_is_capped() -> None:
    value = _b64("%3Cscript%3E")
    assert decode_variants(value, max_variants=2) == [value, "%3Cscript%3E"]
    assert decode_variants(value, max_variants=1) == [value]
    with pytest.raises(ValueError, match="max_variants must be at least 1, not 0"):
        decode_variants(value, max_variants=0)


LARGE = 128 * 1024
HOSTILE = [
    # (name, value): the largest values, shaped to trip quadratic or costly paths
    ("percent", "%" * LARGE),
    ("nested percent", "%25" * (LARGE // 3)),
    ("escape runs", "%c0%ae" * (LARGE // 6)),
    ("backslashes", "\\u{" * (LARGE // 3)),
    ("hex escapes", "\\x41" * (LARGE // 4)),
    ("ampersands", "&" * LARGE),
    ("long reference", "&#" + "0" * LARGE),
    ("nested references", "&amp;" * (LARGE // 5)),
    ("comment openers", "/*" * (LARGE // 2)),
    ("hashes without newline", "\n" + "#" * LARGE),
    ("dashes", "-" * LARGE),
    ("dot segments", "../" * (LARGE // 3)),
    ("base64", "A" * LARGE),
    ("base64 tokens", ("A" * 15 + " ") * (LARGE // 16)),
    ("format characters", "\u200b" * LARGE),
    ("expanding NFKC", "\ufdfa" * (LARGE // 8)),
    ("astral", "\U0001d400" * (LARGE // 2)),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_hostile_values_finish(name: str, value: str) -> None:
    for transform in TRANSFORMS.values():
        assert isinstance(transform(value), str)
    assert isinstance(base64_text(value), str | None)
    assert decode_variants(value)[0] is value


# Text that hits the transforms' special characters far more often than arbitrary text.
PAYLOADISH = st.text(
    alphabet=st.sampled_from(list("%&#;\\/.*!-+= \n\tuUxX0123456789abcdefACEF:M"))
    | st.characters(),
    max_size=60,
)
ANY_TEXT = st.one_of(st.text(), PAYLOADISH)
ALL_TRANSFORMS: list[Callable[[str], object]] = [
    *TRANSFORMS.values(),
    climbs_above_root,
    base64_text,
    decode_variants,
]


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_transforms_are_total(value: str) -> None:
    for transform in TRANSFORMS.values():
        assert isinstance(transform(value), str)
    assert isinstance(climbs_above_root(value), bool)
    assert isinstance(base64_text(value), str | None)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_transforms_are_pure(value: str) -> None:
    for transform in ALL_TRANSFORMS:
        assert transform(value) == transform(value)


@settings(deadline=None)
@given(ANY_TEXT)
@pytest.mark.parametrize(
    "transform", [nfkc, casefold, collapse_whitespace, path_normalize], ids=lambda f: f.__name__
)
def test_idempotent(transform: Callable[[str], str], value: str) -> None:
    once = transform(value)
    assert transform(once) == once


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, st.integers(min_value=1, max_value=6))
def test_decode_variants_starts_with_the_value(value: str, max_variants: int) -> None:
    variants = decode_variants(value, max_variants=max_variants)
    assert variants[0] == value
    assert 1 <= len(variants) <= max_variants
    assert len(set(variants)) == len(variants)
