"""Compiled routes: host, prefix and method matching, first match wins."""

from __future__ import annotations

import pytest

from wardgate.policy.compile import compile_policy
from wardgate.policy.load import parse_policy

POLICY = """
version: 1
upstreams:
  up: {targets: ["http://127.0.0.1:9"]}
routes:
  - name: api-exact
    match: {hosts: [api.example.com], path_prefix: /v1/}
    upstream: up
  - name: wildcard
    match: {hosts: ["*.example.com"], path_prefix: /v1}
    upstream: up
  - name: posts-only
    match: {path_prefix: /v1, methods: [post]}
    upstream: up
  - name: root
    match: {path_prefix: /static/}
    upstream: up
"""


@pytest.mark.parametrize(
    ("host", "method", "path", "route"),
    [
        ("api.example.com", "GET", "/v1/models", "api-exact"),
        ("api.example.com", "GET", "/v1", "wildcard"),  # "/v1/" needs the slash
        ("eu.api.example.com", "GET", "/v1/x", "wildcard"),  # wildcard takes any depth
        ("example.com", "GET", "/v1/x", None),  # the bare domain is not *.example.com
        ("other.org", "POST", "/v1/chat", "posts-only"),  # methods are upper-cased
        ("other.org", "GET", "/v1/chat", None),
        ("other.org", "GET", "/static/a.css", "root"),
        ("other.org", "GET", "/staticx", None),
    ],
)
def test_route_matching(host: str, method: str, path: str, route: str | None) -> None:
    plan = compile_policy(parse_policy(POLICY))
    matched = plan.route_for(host, method, path)
    assert (matched.name if matched else None) == route


def test_routes_share_one_pool_per_upstream() -> None:
    plan = compile_policy(parse_policy(POLICY))
    assert len(plan.pools) == 1
