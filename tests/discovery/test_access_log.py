"""Access log import: NCSA combined and JSON lines, detected per line; garbage is counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardgate.discovery.access_log import AccessLogStats, read_access_log
from wardgate.discovery.observation import Observation

COMBINED = (
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a?b=1&b=2 HTTP/1.1" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)


def _one(line: str) -> Observation:
    (observation,) = read_access_log(line)
    return observation


def test_combined_line() -> None:
    assert _one(COMBINED) == Observation(
        method="GET",
        path="/a",
        query=(("b", "1"), ("b", "2")),
        headers=(
            ("referer", "http://www.example.com/start.html"),
            ("user-agent", "Mozilla/4.08 [en] (Win98; I ;Nav)"),
        ),
        status=200,
        consumer="frank",
        time=971211336.0,
    )


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        # common log format: no referer or agent, no user, no size
        (
            '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /login HTTP/1.0" 302 -',
            {"method": "POST", "path": "/login", "status": 302, "consumer": "", "headers": ()},
        ),
        # an encoded slash stays inside its segment; other escapes are decoded
        (
            '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "GET /pkg/%40s%2Fn/a%20b HTTP/1.1" 200 1',
            {"path": "/pkg/@s%2Fn/a b"},
        ),
        # absolute-form target (proxy log)
        (
            '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "GET http://Up.example:81/x HTTP/1.1" 200 1',
            {"scheme": "http", "host": "up.example:81", "path": "/x"},
        ),
        # nginx escapes quotes as \x22, Apache as \"
        (
            '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "GET /q HTTP/1.1" 200 1 "-" "a\\x22b\\"c"',
            {"headers": (("user-agent", 'a"b"c'),)},
        ),
        # extra fields after the agent (nginx with $request_time)
        (
            '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "GET /t HTTP/2.0" 404 0 "-" "curl" 0.003',
            {"path": "/t", "status": 404, "time": 1704067200.0},
        ),
        # HTTP/0.9 request line without a version, and no status
        ('1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "GET /old" - -', {"path": "/old", "status": 0}),
    ],
)
def test_ncsa_variants(line: str, fields: dict[str, object]) -> None:
    observation = _one(line)
    assert {name: getattr(observation, name) for name in fields} == fields


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        # nginx-style keys, query inside the URI, epoch milliseconds
        (
            '{"request_method": "post", "request_uri": "/u/1?x=a%20b", "status": "201",'
            ' "http_user_agent": "curl", "ts": 1700000000123, "request_time": 0.01}',
            {
                "method": "POST",
                "path": "/u/1",
                "query": (("x", "a b"),),
                "status": 201,
                "headers": (("user-agent", "curl"),),
                "time": 1700000000.123,
            },
        ),
        # the request line in one field, ISO 8601 time
        (
            '{"request": "DELETE /z HTTP/1.1", "status_code": 204, "time": "2024-01-01T00:00:00Z"}',
            {"method": "DELETE", "path": "/z", "status": 204, "time": 1704067200.0},
        ),
        # query in its own field; host, scheme and content types
        (
            '{"method": "PUT", "path": "/p", "query_string": "a=1", "host": "API.example",'
            ' "scheme": "http", "content_type": "application/json",'
            ' "response_content_type": "text/plain", "remote_user": "alice"}',
            {
                "query": (("a", "1"),),
                "host": "api.example",
                "scheme": "http",
                "request_type": "application/json",
                "response_type": "text/plain",
                "consumer": "alice",
            },
        ),
        # Caddy: the request as an object, headers as lists
        (
            '{"request": {"method": "GET", "uri": "/c", "host": "h",'
            ' "headers": {"User-Agent": ["x"], "Cookie": ["a=1; b=2"]}}, "status": 200,'
            ' "resp_headers": {"Content-Type": ["application/json"]}}',
            {
                "headers": (("user-agent", "x"), ("cookie", "a=1; b=2")),
                "cookies": (("a", "1"), ("b", "2")),
                "response_type": "application/json",
                "host": "h",
            },
        ),
        # a timestamp that does not parse leaves the time unknown
        ('{"method": "GET", "url": "/x", "time": "noon"}', {"time": 0.0, "status": 0}),
        # CLF time in a JSON log
        (
            '{"method": "GET", "url": "/x", "time_local": "01/Jan/2024:01:00:00 +0100"}',
            {"time": 1704067200.0},
        ),
    ],
)
def test_json_lines(line: str, fields: dict[str, object]) -> None:
    observation = _one(line)
    assert {name: getattr(observation, name) for name in fields} == fields


def test_garbage_lines_are_skipped_and_counted() -> None:
    lines = [
        COMBINED,
        "",  # blank: neither read nor skipped
        "garbage",
        '{"method": "GET"}',  # JSON without a target
        "[1, 2]",  # JSON, not an object
        '{"broken": ',  # JSON cut short
        # TLS sent to a plain HTTP port
        '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"',
        '1.1.1.1 - - [01/Jan/2024:00:00:00 +0000] "OPTIONS * HTTP/1.1" 200 0',  # no path
        '{"method": "GET", "path": "/ok"}',
    ]
    stats = AccessLogStats()
    assert [o.path for o in read_access_log("\n".join(lines), stats)] == ["/a", "/ok"]
    assert stats == AccessLogStats(lines=2, skipped=6, first_skipped_line=3)


def test_binary_and_invalid_utf8_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(
        b"\x00\x01\x02\xff\xfe\n"
        + COMBINED.replace("/a?", "/caf\xe9?").encode("latin-1")
        + b"\r\n"
        + bytes(range(11, 256))  # no newline inside
        + b"\n"
    )
    stats = AccessLogStats()
    assert [o.path for o in read_access_log(path, stats)] == ["/caf\ufffd"]
    assert (stats.lines, stats.skipped) == (1, 2)


def test_bytes_source_and_empty_input() -> None:
    assert len(list(read_access_log(COMBINED.encode() + b"\n"))) == 1
    assert list(read_access_log(b"")) == []
    assert list(read_access_log("\n\n")) == []


def test_nothing_parses_raises() -> None:
    with pytest.raises(ValueError, match="not an access log: none of 2 lines"):
        list(read_access_log("hello\nworld\n"))
