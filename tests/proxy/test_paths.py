"""Path normalization: one spelling for routing and forwarding."""

from __future__ import annotations

import pytest

from wardgate.errors import MalformedRequest
from wardgate.proxy.paths import normalize_target


@pytest.mark.parametrize(
    ("raw", "path", "query"),
    [
        ("/v1/chat/completions", "/v1/chat/completions", ""),  # untouched
        ("/v1/models?limit=5&x=%2F", "/v1/models", "limit=5&x=%2F"),  # the query is not touched
        ("/%61dmin", "/admin", ""),  # encoded unreserved characters are decoded
        ("/v1/../admin", "/admin", ""),  # dot segments removed
        ("/v1/%2e%2e/admin", "/admin", ""),  # encoded dots too
        ("/a/./b/.", "/a/b/", ""),
        ("/a/b/..", "/a/", ""),
        ("/../../etc", "/etc", ""),  # never above the root
        ("/files/a%2fb", "/files/a%2Fb", ""),  # encoded slashes stay encoded (hex upper-cased)
        ("/caf%C3%A9", "/caf%C3%A9", ""),  # non-ASCII stays escaped
        ("/a//b", "/a/b", ""),  # runs of slashes merged, as upstreams such as nginx do
        ("//v1/admin", "/v1/admin", ""),
    ],
)
def test_normalize(raw: str, path: str, query: str) -> None:
    assert normalize_target(raw) == (path, query)


@pytest.mark.parametrize(
    "raw",
    [
        "/bad%zzescape",  # invalid escape
        "/trailing%4",
        "/nul%00byte",
        "http://example.com/v1",  # absolute-form is not a reverse-proxy target
        "*",
        "/v1/admin#x",  # a fragment: dropped by HTTP clients, so never routed on
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(MalformedRequest):
        normalize_target(raw)
