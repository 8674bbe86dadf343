"""HAR import: entries to observations, and files that are cut, binary or not HAR at all."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from wardgate.discovery.har import HarStats, read_har
from wardgate.discovery.observation import MAX_BODY, Observation


def _entry(url: str = "https://api.example.com/users/7?x=1", **request: Any) -> dict[str, Any]:
    return {
        "startedDateTime": "2024-01-02T03:04:05.500Z",
        "request": {"method": "get", "url": url, "headers": [], **request},
        "response": {
            "status": 200,
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"mimeType": "application/json", "text": '{"id": 7}'},
        },
    }


def _har(*entries: object) -> str:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "t"}, "entries": entries}})


def _one(entry: object) -> Observation:
    (observation,) = read_har(_har(entry))
    return observation


def test_entry_becomes_observation() -> None:
    entry = _entry(
        url="https://API.example.com:8443/a/users/7?tag=x&tag=y&empty=",
        method="post",
        headers=[
            {"name": "Content-Type", "value": "application/json"},
            {"name": "Cookie", "value": "sid=abc; theme=dark"},
            {"name": ":authority", "value": "api.example.com"},
        ],
        postData={"mimeType": "application/json", "text": '{"name": "n"}'},
    )
    assert _one(entry) == Observation(
        method="POST",
        path="/a/users/7",
        scheme="https",
        host="api.example.com:8443",
        query=(("tag", "x"), ("tag", "y"), ("empty", "")),
        headers=(("content-type", "application/json"), ("cookie", "sid=abc; theme=dark")),
        cookies=(("sid", "abc"), ("theme", "dark")),
        request_type="application/json",
        request_body=b'{"name": "n"}',
        status=200,
        response_type="application/json",
        response_body=b'{"id": 7}',
        time=1704164645.5,
    )


@pytest.mark.parametrize(
    ("request_fields", "field", "expected"),
    [
        # cookies given by the HAR win over the Cookie header
        (
            {
                "cookies": [{"name": "a", "value": "1"}],
                "headers": [{"name": "Cookie", "value": "b=2"}],
            },
            "cookies",
            (("a", "1"),),
        ),
        # an encoded slash stays inside its segment; other escapes are decoded
        ({"url": "http://h/pkg/%40scope%2Fname/v%201"}, "path", "/pkg/@scope%2Fname/v 1"),
        # invalid UTF-8 in a percent escape does not raise
        ({"url": "http://h/%ff"}, "path", "/\ufffd"),
        # no query in the URL: the HAR's queryString is used
        (
            {"url": "http://h/s", "queryString": [{"name": "q", "value": "a b"}]},
            "query",
            (("q", "a b"),),
        ),
        # a relative URL takes its host from the Host header
        ({"url": "/p", "headers": [{"name": "Host", "value": "h.example"}]}, "host", "h.example"),
        # form params without text become an urlencoded body
        (
            {
                "postData": {
                    "mimeType": "application/x-www-form-urlencoded",
                    "params": [{"name": "a", "value": "1 2"}],
                }
            },
            "request_body",
            b"a=1+2",
        ),
        # an empty path is the root
        ({"url": "http://h"}, "path", "/"),
    ],
)
def test_request_fields(request_fields: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(_one(_entry(**request_fields)), field) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # binary body, base64 as browsers store it
        (
            {"text": base64.b64encode(bytes(range(256))).decode(), "encoding": "base64"},
            bytes(range(256)),
        ),
        # broken base64 gives no body rather than an error
        ({"text": "%%%not base64", "encoding": "base64"}, b""),
        # a lone surrogate (legal in JSON, not in UTF-8) does not raise
        ({"text": "a\ud800b"}, b"a\xed\xa0\x80b"),
        # a huge body is cut at MAX_BODY
        ({"text": "x" * (MAX_BODY + 100)}, b"x" * MAX_BODY),
        # a huge base64 body is cut too
        (
            {"text": base64.b64encode(b"y" * (MAX_BODY + 3)).decode(), "encoding": "base64"},
            b"y" * MAX_BODY,
        ),
        # no text at all
        ({"mimeType": "text/html"}, b""),
    ],
)
def test_response_bodies(content: dict[str, Any], expected: bytes) -> None:
    entry = _entry()
    entry["response"]["content"] = content
    assert _one(entry).response_body == expected


@pytest.mark.parametrize(
    ("entry", "status", "time"),
    [
        # no response at all (request blocked or still pending)
        ({"request": {"method": "GET", "url": "http://h/"}}, 0, 0.0),
        # a timestamp with an offset
        (
            {
                "startedDateTime": "2024-01-02T05:04:05+02:00",
                "request": {"method": "GET", "url": "http://h/"},
            },
            0,
            1704164645.0,
        ),
        # an unreadable timestamp and a status that is not a number
        (
            {
                "startedDateTime": "yesterday",
                "request": {"method": "GET", "url": "http://h/"},
                "response": {"status": "ok"},
            },
            0,
            0.0,
        ),
    ],
)
def test_missing_and_odd_fields(entry: dict[str, Any], status: int, time: float) -> None:
    observation = _one(entry)
    assert (observation.status, observation.time) == (status, time)


def test_unusable_entries_are_skipped_and_counted() -> None:
    stats = HarStats()
    entries = [
        {},  # nothing
        "entry",  # not an object
        {"request": {"method": "GET"}},  # no URL
        {"request": {"method": "GET", "url": "http://[::1/"}},  # URL that does not parse
        _entry(),
    ]
    assert [o.path for o in read_har(_har(*entries), stats)] == ["/users/7"]
    assert stats == HarStats(entries=1, skipped=4, truncated=False)


def test_truncated_file_yields_complete_entries_at_every_cut() -> None:
    text = _har(_entry("http://h/1"), _entry("http://h/2"), _entry("http://h/3"))
    start = text.index('"entries"')
    seen = []
    for cut in range(len(text)):
        stats = HarStats()
        paths = [o.path for o in read_har(text[:cut], stats)] if cut > start else []
        assert paths == ["/1", "/2", "/3"][: len(paths)]
        seen.append(len(paths))
    assert seen == sorted(seen)
    assert seen[-1] == 3


def test_truncated_file_sets_flag() -> None:
    text = _har(_entry("http://h/1"), _entry("http://h/2"))
    stats = HarStats()
    assert [o.path for o in read_har(text[: text.rindex("http://h/2")], stats)] == ["/1"]
    assert stats.truncated


def test_truncated_before_entries_yields_nothing() -> None:
    stats = HarStats()
    assert list(read_har('{"log": {"version": "1.2", "creat', stats)) == []
    assert stats.truncated


def test_invalid_utf8_in_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s.har"
    text = json.dumps({"log": {"entries": [_entry("http://h/caf\u00e9")]}}, ensure_ascii=False)
    path.write_bytes(text.encode().replace(b"\xc3\xa9", b"\xff"))
    assert [o.path for o in read_har(path)] == ["/caf\ufffd"]


def test_bytes_with_bom() -> None:
    assert len(list(read_har(b"\xef\xbb\xbf" + _har(_entry()).encode()))) == 1


@pytest.mark.parametrize(
    "text",
    [
        '{"entries": []}',  # JSON, but no log
        "[1, 2]",  # JSON, not an object
        "GET / HTTP/1.1",  # not JSON
        "",  # empty
    ],
)
def test_not_a_har_raises(text: str) -> None:
    with pytest.raises(ValueError, match="not a HAR file"):
        list(read_har(text))
