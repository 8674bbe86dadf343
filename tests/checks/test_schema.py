"""The `schema` check: config, the compiled spec (matching, each violation with its JSON
path) and the check end to end in front of the demo upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pydantic
import pytest

from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text
from wardgate.checks.schema import Config, SchemaCheck, load_spec
from wardgate.decision import Action
from wardgate.discovery.validate import (
    CompiledSpec,
    SpecError,
    SpecOptions,
    Violation,
    compile_spec,
)
from wardgate.errors import PolicyError
from wardgate.exchange import Exchange
from wardgate.observe.query import EventQuery, query_events

DATA = Path(__file__).parent / "data"
SPEC = DATA / "schema_spec.yaml"
CRAPI = (
    Path(__file__).resolve().parents[3] / "shared/data/api_discovery/crapi/crapi-openapi-spec.json"
)


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(load_spec(SPEC))


def _body(spec: CompiledSpec, method: str, path: str, body: Any) -> Violation | None:
    match = spec.match(method, path)
    assert match is not None and match.operation is not None
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return match.operation.check_body(raw, "application/json")


# --- config ---------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = Config(spec=SPEC)
    assert config.unknown_endpoint == "block_404" and config.unknown_fields == "reject"
    assert config.validate_parts == ["body", "query", "path"]
    assert (config.max_string, config.max_items) == (65536, 10000)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"unknown_endpoint": "drop"}, "Input should be 'block_404', 'block_403'"),
        ({"validate": ["cookies"]}, "Input should be 'body', 'query', 'path' or 'headers'"),
        ({"max_string": 0}, "Input should be greater than or equal to 1"),
        ({"strict": True}, "Extra inputs are not permitted"),
    ],
)
def test_config_rejected(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Config.model_validate({"spec": str(SPEC), **extra})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        # a remote reference is refused at load, never fetched
        (
            {"openapi": "3.0.0", "paths": {"/a": {"post": {"requestBody": {"content": {
                "application/json": {"schema": {"$ref": "https://evil.test/s.json"}}}}}}}},
            "remote \\$ref 'https://evil.test/s.json' is not supported",
        ),
        # a dangling local reference
        (
            {"openapi": "3.0.0", "paths": {"/a": {"post": {"requestBody": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/X"}}}}}}}},
            "\\$ref '#/components/schemas/X' points nowhere",
        ),
        ({"info": {}}, "neither `openapi: 3.x` nor `swagger: 2.0`"),
        ({"openapi": "3.1.0", "paths": {"a": {}}}, "#/paths/a: not a path item"),
    ],
)  # fmt: skip
def test_unenforceable_specs_fail_at_load(document: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        compile_spec(document)


def test_a_missing_spec_file_fails_the_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"schema: spec .*nope\.yaml"):
        SchemaCheck(Config(spec=tmp_path / "nope.yaml"))


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "template", "declared"),
    [
        ("GET", "/echo/users/me", "/users/me", True),  # the literal sibling wins
        ("GET", "/echo/users/42", "/users/{id}", True),  # the templated one takes the rest
        ("GET", "/echo/users/42/", "/users/{id}", True),  # a trailing slash is ignored
        ("HEAD", "/echo/users", "/users", True),  # HEAD falls back to GET
        ("DELETE", "/echo/users/42", "/users/{id}", False),  # path known, method not: 405
        ("GET", "/users", None, False),  # outside the servers[0] prefix
        ("GET", "/echoes/users", None, False),  # the prefix matches whole segments only
        ("GET", "/echo/users/1/posts", None, False),  # deeper than any template
    ],
)
def test_paths_match_templates_under_the_prefix(
    spec: CompiledSpec, method: str, path: str, template: str | None, declared: bool
) -> None:
    match = spec.match(method, path)
    assert (match.template if match else None) == template
    assert (match is not None and match.operation is not None) == declared


def test_an_undeclared_method_lists_the_allowed_ones(spec: CompiledSpec) -> None:
    match = spec.match("DELETE", "/echo/users/7")
    assert match is not None and match.allowed == ("GET", "PATCH")


def test_swagger_base_path_and_segment_templates() -> None:
    spec = compile_spec(
        {"swagger": "2.0", "basePath": "/v2", "paths": {"/files/{name}.json": {"get": {}}}}
    )
    match = spec.match("GET", "/v2/files/report.json")
    assert match is not None and match.captured == (("report",),)
    assert spec.match("GET", "/v2/files/report.xml") is None


# --- body violations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "detail", "kind"),
    [
        # mass assignment: a field the schema does not list
        ("POST", "/echo/users", {"name": "a", "email": "a@x.io", "role": "admin"},
         "$.role: unknown field", "schema.unknown_field"),
        # an allOf is closed over the properties of all its parts ...
        ("PATCH", "/echo/users/1", {"name": "a", "email": "a@x.io", "admin": True},
         "$.admin: unknown field", "schema.unknown_field"),
        # ... and its readOnly properties may not be sent
        ("PATCH", "/echo/users/1", {"name": "a", "email": "a@x.io", "role": "admin"},
         "$.role: read-only field", "schema.unknown_field"),
        ("POST", "/echo/orders", {"items": [{"sku": "a", "qty": 1}] * 3 + [{"qty": "2"}]},
         "$.items[3].qty: must be integer", "schema.type"),
        ("POST", "/echo/users", {"name": "n" * 33, "email": "a@x.io"},
         "$.name: longer than 32", "schema.too_long"),
        ("POST", "/echo/orders", {"items": [{"sku": "a"}] * 6},
         "$.items: more than 5 items", "schema.too_long"),
        ("POST", "/echo/users", {"name": "a"}, "$.email: missing required field",
         "schema.required"),
        ("POST", "/echo/users", {"name": "a", "email": "nope"}, "$.email: not a valid email",
         "schema.invalid"),
        ("POST", "/echo/orders", {"items": [{"qty": 0}]}, "$.items[0].qty: less than 1",
         "schema.invalid"),
        # an odd key is quoted, never a path of its own
        ("POST", "/echo/users", {"name": "a", "email": "a@x.io", "a.b c": 1},
         '$["a.b c"]: unknown field', "schema.unknown_field"),
        # recursive schemas validate at every depth
        ("PUT", "/echo/nodes", {"name": "r", "children": [{"children": [{"name": 3}]}]},
         "$.children[0].children[0].name: must be string", "schema.type"),
        ("PUT", "/echo/nodes", {"name": "r", "children": [{"children": [{"x": 3}]}]},
         "$.children[0].children[0].x: unknown field", "schema.unknown_field"),
        ("POST", "/echo/users", b"{not json", "$: not valid JSON", "schema.malformed"),
        ("POST", "/echo/users", b"", "$: request body required", "schema.required"),
    ],
)  # fmt: skip
def test_body_violations_name_the_json_path(
    spec: CompiledSpec, method: str, path: str, body: Any, detail: str, kind: str
) -> None:
    violation = _body(spec, method, path, body)
    assert violation is not None
    assert (violation.detail, violation.kind, violation.status) == (detail, kind, 400)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/echo/users", {"name": "a", "email": "a@x.io", "tags": ["x"]}),
        # nullable (3.0) admits null
        ("POST", "/echo/orders", {"items": [{"sku": "a", "qty": 2}], "note": None}),
        # additionalProperties declared by the spec is kept as declared
        ("PATCH", "/echo/users/1", {"name": "a", "email": "a@x.io", "profile": {"k": "v"}}),
        ("PUT", "/echo/nodes", {"name": "r", "children": [{"name": "c", "children": []}]}),
    ],
)
def test_valid_bodies_pass(spec: CompiledSpec, method: str, path: str, body: Any) -> None:
    assert _body(spec, method, path, body) is None


def test_recursion_is_bounded_by_the_parser(spec: CompiledSpec) -> None:
    def nested(levels: int) -> bytes:
        return b'{"children":[' * levels + b"{}" + b"]}" * levels

    assert _body(spec, "PUT", "/echo/nodes", nested(500)) is None
    violation = _body(spec, "PUT", "/echo/nodes", nested(2000))  # past orjson's 1024 levels
    assert violation is not None and violation.detail == "$: not valid JSON"


def test_content_types_not_declared_are_415(spec: CompiledSpec) -> None:
    match = spec.match("POST", "/echo/users")
    assert match is not None and match.operation is not None
    violation = match.operation.check_body(b"name=a", "application/x-www-form-urlencoded")
    assert violation is not None and (violation.status, violation.kind) == (
        415,
        "schema.content_type",
    )
    assert (
        match.operation.check_body(b'{"name":"a","email":"a@x.io"}', "application/json; q=1")
        is None
    )


def test_unknown_fields_allowed_and_default_limits() -> None:
    document = load_spec(SPEC)
    spec = compile_spec(document, SpecOptions(close_objects=False, max_items=2))
    assert _body(spec, "POST", "/echo/users", {"name": "a", "email": "a@x.io", "x": 1}) is None
    violation = _body(
        spec, "POST", "/echo/users", {"name": "a", "email": "a@x.io", "tags": ["1", "2", "3"]}
    )
    assert violation is not None and violation.detail == "$.tags: more than 2 items"
    # readOnly still holds without closed objects
    violation = _body(spec, "PATCH", "/echo/users/1", {"name": "a", "email": "a@x.io", "id": 1})
    assert violation is not None and violation.detail == "$.id: read-only field"


@pytest.mark.parametrize(
    ("schema", "good", "bad", "detail"),
    [
        # 3.1: a type list with null
        ({"type": ["string", "null"]}, None, 3, "$: must be string or null"),
        # 3.1: prefixItems becomes the draft-7 tuple form
        ({"type": "array", "prefixItems": [{"type": "integer"}], "items": {"type": "string"}},
         [1, "a"], [1, 2], "$[1]: must be string"),
        # 3.1: $defs references and $ref with siblings
        ({"$ref": "#/$defs/Name", "maxLength": 3}, "abc", "abcd", "$: longer than 3"),
        # oneOf parts stay open (as written); the object is closed over all their properties
        ({"oneOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
         {"b": "x"}, {"b": "x", "c": 1}, "$.c: unknown field"),
        # a free-form object (no properties listed) stays open
        ({"type": "object"}, {"anything": 1}, [], "$: must be object"),
    ],
)  # fmt: skip
def test_openapi_31_schemas(schema: dict[str, Any], good: Any, bad: Any, detail: str) -> None:
    document = {
        "openapi": "3.1.0",
        "$defs": {"Name": {"type": "string"}},
        "paths": {
            "/x": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}
        },
    }
    spec = compile_spec(document)
    assert _body(spec, "POST", "/x", good) is None
    violation = _body(spec, "POST", "/x", bad)
    assert violation is not None and violation.detail == detail


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "detail"),
    [
        ("/echo/users", "limit=10&active=true", None),
        ("/echo/users", "limit=ten", "query.limit: must be integer"),
        ("/echo/users", "limit=101", "query.limit: greater than 100"),
        ("/echo/users", "active=yes", "query.active: must be boolean"),
        # parameter pollution: a scalar given twice is refused, not guessed at
        ("/echo/users", "limit=1&limit=2", "query.limit: given more than once"),
        ("/echo/users", "other=1", None),  # undeclared query parameters are not checked
        ("/echo/users/abc", "", "path.id: must be integer"),
    ],
)
def test_parameters_are_coerced_and_validated(
    spec: CompiledSpec, path: str, query: str, detail: str | None
) -> None:
    match = spec.match("GET", path)
    assert match is not None and match.operation is not None
    violation = match.operation.check_params(match.captured, query, {})
    assert (violation.detail if violation else None) == detail


# --- the crAPI spec -------------------------------------------------------------------------


@pytest.mark.skipif(not CRAPI.exists(), reason="the crAPI spec is not in this checkout")
def test_the_crapi_spec_compiles_and_enforces() -> None:
    spec = compile_spec(json.loads(CRAPI.read_bytes()))
    login = {"email": "a@example.com", "password": "Secret!123"}
    assert _body(spec, "POST", "/identity/api/auth/login", login) is None
    violation = _body(spec, "POST", "/identity/api/auth/login", {**login, "role": "admin"})
    assert violation is not None and violation.detail == "$.role: unknown field"
    signup = {"email": "a@example.com", "password": "x", "name": "n", "number": "123"}
    assert _body(spec, "POST", "/identity/api/auth/signup", signup) is None
    assert _body(spec, "POST", "/identity/api/auth/signup", {**signup, "admin": 1}) is not None
    assert spec.match("GET", "/identity/api/v2/nope") is None


# --- the check ------------------------------------------------------------------------------


def _exchange(method: str, path: str, body: bytes | None = None) -> Exchange:
    headers = {"content-type": "application/json"} if body is not None else {}
    return Exchange("r1", method, path, "", headers, "127.0.0.1", body=body)


async def test_the_check_from_an_in_memory_spec() -> None:
    document = {"openapi": "3.0.0", "paths": {"/a": {"get": {}}}}
    check = SchemaCheck.from_spec(document, Config(spec=Path("learned"), unknown_endpoint="flag"))
    decision = await check.check_request(_exchange("GET", "/b"))
    assert decision.action is Action.FLAG
    assert decision.findings[0].kind == "schema.unknown_endpoint"
    decision = await check.check_request(_exchange("POST", "/a"))
    assert decision.action is Action.FLAG and decision.findings[0].kind == "schema.method"


async def test_the_check_blocks_an_undeclared_method_with_405_and_allow() -> None:
    check = SchemaCheck(Config(spec=SPEC))
    decision = await check.check_request(_exchange("DELETE", "/echo/users/1"))
    assert (decision.status, decision.headers) == (405, (("Allow", "GET, PATCH"),))


# --- end to end -----------------------------------------------------------------------------

ROUTES = f"""
  - name: api
    match: {{path_prefix: /echo}}
    upstream: up
    checks:
      - type: schema
        spec: "{SPEC}"
"""


@pytest.fixture
async def gw(upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path) -> Gateway:
    return await make_gateway(policy_text(f'["{upstream.base}"]', ROUTES, events_db=tmp_path / "e"))


@pytest.fixture
def base(gw: Gateway) -> str:
    return gw.base


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/echo/admin", None, 404),  # unknown endpoint
        ("POST", "/echo/users", {"name": "a", "email": "a@x.io", "role": "admin"}, 400),
        ("POST", "/echo/orders", {"items": [{"qty": "1"}]}, 400),  # wrong type
        ("POST", "/echo/users", {"name": "n" * 100, "email": "a@x.io"}, 400),  # too long
        ("GET", "/echo/users?limit=x", None, 400),
        ("DELETE", "/echo/users/1", None, 405),
    ],
)
async def test_undeclared_requests_are_refused_before_the_upstream(
    base: str,
    upstream: Upstream,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    async with http.request(method, base + path, json=body) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        problem = await response.json(content_type=None)
    assert "admin" not in orjson.dumps(problem).decode()  # the value is never echoed
    assert upstream.recorder.total == 0


async def test_declared_requests_reach_the_upstream(
    base: str, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    user = {"name": "ann", "email": "ann@example.org"}
    async with http.post(base + "/echo/users", json=user) as response:
        assert response.status == 200
    async with http.get(base + "/echo/users/7?x=1") as response:
        assert response.status == 200
    assert upstream.recorder.total == 2


async def test_the_json_path_is_recorded_for_the_operator(
    gw: Gateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    body = {"name": "a", "email": "a@x.io", "role": "admin"}
    async with http.post(gw.base + "/echo/users", json=body) as response:
        assert response.status == 400
    await gw.flush_events()
    (event,) = query_events(tmp_path / "e", EventQuery())
    recorded = orjson.dumps(event).decode()
    assert "schema.unknown_field" in recorded and "$.role: unknown field" in recorded
