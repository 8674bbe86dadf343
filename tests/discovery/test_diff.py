"""Learned endpoints against a declared spec: matching, shadow, zombie, unseen and drift."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.discovery.diff import DiffReport, Finding, diff
from wardgate.discovery.inventory import Endpoint, Inventory
from wardgate.discovery.observation import Observation


def _learned(*calls: Observation) -> list[Endpoint]:
    inventory = Inventory()
    inventory.learn_paths(calls)
    for call in calls:
        inventory.add(call)
    return inventory.endpoints()


def _call(method: str, path: str, **fields: Any) -> Observation:
    fields.setdefault("status", 200)
    return Observation(method, path, host="api.example.com", **fields)


def _spec(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def _op(**fields: Any) -> dict[str, Any]:
    return {"responses": {"200": {"description": "ok"}}, **fields}


def _endpoints(findings: tuple[Finding, ...]) -> list[str]:
    return [f.endpoint for f in findings]


@pytest.mark.parametrize(
    ("declared", "called", "shadow"),
    [
        # a concrete value under a declared template is not shadow
        ("/users/{id}", "/users/me", []),
        # parameter names are ignored
        ("/users/{username}", "/users/{userId}", []),
        # a learned parameter does not fit a declared literal
        ("/users/me", "/users/{userId}", ["GET /users/{userId}"]),
        # segment counts must agree
        ("/users/{id}", "/users/7/posts", ["GET /users/{userId}/posts"]),
        # a declared trailing slash is ignored (templates never keep one)
        ("/mechanic/", "/mechanic", []),
        # a parameter inside a segment: the literal part must agree
        ("/files/{name}.json", "/files/report.json", []),
        ("/files/{name}.json", "/files/report.xml", ["GET /files/report.xml"]),
    ],
)
def test_matching(declared: str, called: str, shadow: list[str]) -> None:
    report = diff(_learned(_call("GET", called)), _spec({declared: {"get": _op()}}))
    assert _endpoints(report.shadow) == shadow
    assert _endpoints(report.unseen) == ([f"GET {declared}"] if shadow else [])


def test_literal_beats_parameter() -> None:
    spec = _spec({"/orders/{id}": {"get": _op()}, "/orders/all": {"get": _op()}})
    report = diff(_learned(_call("GET", "/orders/all")), spec)
    assert _endpoints(report.unseen) == ["GET /orders/{id}"]


def test_method_must_agree() -> None:
    report = diff(_learned(_call("DELETE", "/a")), _spec({"/a": {"get": _op()}}))
    assert _endpoints(report.shadow) == ["DELETE /a"]
    assert _endpoints(report.unseen) == ["GET /a"]


@pytest.mark.parametrize(
    ("spec", "called"),
    [
        # OpenAPI 3: the first server's path is a prefix
        (
            _spec({"/users": {"get": _op()}}, servers=[{"url": "https://x.io/api/v1/"}]),
            "/api/v1/users",
        ),
        # ... also a relative server URL, and server variables take their defaults
        (
            _spec(
                {"/users": {"get": _op()}},
                servers=[{"url": "/{base}", "variables": {"base": {"default": "v2"}}}],
            ),
            "/v2/users",
        ),
        # Swagger 2: basePath
        ({"swagger": "2.0", "basePath": "/api", "paths": {"/users": {"get": _op()}}}, "/api/users"),
    ],
)
def test_declared_paths_take_the_prefix(spec: dict[str, Any], called: str) -> None:
    report = diff(_learned(_call("GET", called)), spec)
    assert report == DiffReport()


def test_zombie_and_unseen() -> None:
    spec = _spec(
        {
            "/old": {"get": _op(deprecated=True)},
            "/gone": {"get": _op(deprecated=True)},
            "/new": {"get": _op()},
        }
    )
    report = diff(_learned(_call("GET", "/old"), _call("GET", "/old")), spec)
    (zombie,) = report.zombie
    assert (zombie.endpoint, zombie.calls, zombie.hosts) == ("GET /old", 2, ("api.example.com",))
    assert [(f.endpoint, f.deprecated) for f in report.unseen] == [
        ("GET /gone", True),
        ("GET /new", False),
    ]
    assert report.shadow == report.drift == ()


def test_shadow_groups_hosts() -> None:
    learned = _learned(
        Observation("GET", "/x", host="a.io", status=200),
        Observation("GET", "/x", host="b.io", status=200),
    )
    (shadow,) = diff(learned, _spec({})).shadow
    assert (shadow.endpoint, shadow.calls, shadow.hosts) == ("GET /x", 2, ("a.io", "b.io"))


def test_probes_are_ignored() -> None:
    report = diff(_learned(_call("GET", "/.env", status=404)), _spec({}))
    assert report == DiffReport()


_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    {"name": "ratio", "in": "query", "schema": {"type": "number"}},
    {"name": "q", "in": "query", "schema": {"type": "string"}},
    {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
    {"$ref": "#/components/parameters/Tenant"},
    {"name": "pref", "in": "cookie", "schema": {"type": "boolean"}},
]
_COMPONENTS = {
    "parameters": {"Tenant": {"name": "X-Tenant", "in": "header", "schema": {"type": "string"}}},
    "securitySchemes": {"key": {"type": "apiKey", "in": "query", "name": "api_key"}},
}


@pytest.mark.parametrize(
    ("query", "headers", "cookies", "drift"),
    [
        # everything as declared; integer fits number; any text fits a string
        ((("limit", "5"), ("ratio", "2"), ("q", "42"), ("ids", "3")), (), (), []),
        # header names compare case-insensitively; a declared API key is no drift
        ((("api_key", "k"),), (("x-tenant", "acme"),), (("pref", "true"),), []),
        # undeclared query, header and cookie parameters
        (
            (("debug", "1"),),
            (("x-trace", "t"),),
            (("ab", "b"),),
            ["cookie parameter ab", "header parameter x-trace", "query parameter debug"],
        ),
        # type changes: a word for an integer, a number for an integer, a word for a boolean
        (
            (("limit", "ten"), ("ids", "1.5")),
            (),
            (("pref", "maybe"),),
            [
                "cookie type pref string/boolean",
                "query type ids number/integer",
                "query type limit string/integer",
            ],
        ),
        # a value only ever sent empty (a placeholder) says nothing of its type
        ((("limit", ""),), (), (), []),
    ],
)
def test_parameter_drift(
    query: tuple[tuple[str, str], ...],
    headers: tuple[tuple[str, str], ...],
    cookies: tuple[tuple[str, str], ...],
    drift: list[str],
) -> None:
    spec = _spec({"/s": {"get": _op(parameters=_PARAMS)}}, components=_COMPONENTS)
    report = diff(_learned(_call("GET", "/s", query=query, headers=headers, cookies=cookies)), spec)
    assert [_describe(f) for f in report.drift] == drift


def test_path_parameter_type_drift() -> None:
    path_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    spec = _spec({"/users/{id}": {"parameters": [path_param], "get": _op()}})
    learned = _learned(
        *(_call("GET", f"/users/{u}") for u in ("7f1c2b1e-8f7a-4c3e-9d2a-1b2c3d4e5f60",))
    )
    assert [_describe(f) for f in diff(learned, spec).drift] == ["path type id string/integer"]
    assert diff(_learned(_call("GET", "/users/7")), spec).drift == ()


def _describe(finding: Finding) -> str:
    text = f"{finding.location} {finding.kind} {finding.name}"
    if finding.kind == "type":
        text += f" {finding.learned_type}/{finding.declared_type}"
    return text


_SCHEMAS = {
    "User": {
        "allOf": [
            {"$ref": "#/components/schemas/Base"},
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "address": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "meta": {
                        "type": "object",
                        "additionalProperties": True,
                        "properties": {"a": {}},
                    },
                    "free": {"type": "object"},
                    "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                    "score": {"type": "number", "nullable": True},
                },
            },
        ]
    },
    "Base": {"type": "object", "properties": {"id": {"type": "integer"}}},
}


@pytest.mark.parametrize(
    ("body", "drift"),
    [
        # as declared: allOf and $ref resolved, integer fits number, null where nullable
        ({"id": 1, "name": "a", "address": {"city": "x"}, "tags": ["t"], "score": None}, []),
        # an undeclared field, reported once with its children
        ({"id": 1, "extra": {"deep": 1, "deeper": {"x": 1}}}, ["field $.extra"]),
        # nested undeclared fields, in objects and array items
        ({"address": {"zip": "1"}}, ["field $.address.zip"]),
        # type changes
        (
            {"id": "1", "tags": [1], "score": "high"},
            [
                "type $.id string/integer",
                "type $.score string/number|null",
                "type $.tags[*] integer/string",
            ],
        ),
        # a number where an integer was declared
        ({"id": 1.5}, ["type $.id number/integer"]),
        # null where not nullable
        ({"name": None}, ["type $.name null/string"]),
        # not judged: additionalProperties allowed, no properties listed, oneOf
        ({"meta": {"b": 1}, "free": {"x": 1}, "either": [1]}, []),
    ],
)
def test_response_field_drift(body: dict[str, Any], drift: list[str]) -> None:
    user = {"$ref": "#/components/schemas/User"}
    response = {"description": "ok", "content": {"application/json": {"schema": user}}}
    spec = _spec(
        {"/me": {"get": {"responses": {"200": response}}}}, components={"schemas": _SCHEMAS}
    )
    call = _call("GET", "/me", response_type="application/json", response_body=orjson.dumps(body))
    found = diff(_learned(call), spec).drift
    assert [
        f"{f.kind} {f.name}" + (f" {f.learned_type}/{f.declared_type}" if f.kind == "type" else "")
        for f in found
    ] == drift
    assert {f.location for f in found} <= {"response 200 application/json"}


@pytest.mark.parametrize(
    ("status", "declared_status", "media", "judged"),
    [
        # the same status and media type
        (200, "200", "application/json", True),
        # a range and default stand in for a status not declared
        (201, "2XX", "application/json", True),
        (500, "default", "application/json", True),
        # another JSON media type is compared with the declared JSON one
        (200, "200", "application/problem+json", True),
        # no declared response for the status: not judged
        (400, "200", "application/json", False),
        # not JSON: not judged
        (200, "200", "text/plain", False),
    ],
)
def test_response_lookup(status: int, declared_status: str, media: str, judged: bool) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    response = {"description": "ok", "content": {"application/json": {"schema": schema}}}
    spec = _spec({"/r": {"get": {"responses": {declared_status: response}}}})
    call = _call("GET", "/r", status=status, response_type=media, response_body=b'{"other": 1}')
    assert [f.name for f in diff(_learned(call), spec).drift] == (["$.other"] if judged else [])


def test_request_body_drift_openapi_3_and_swagger_2() -> None:
    schema = {"type": "object", "properties": {"qty": {"type": "integer"}}}
    call = _call(
        "POST", "/orders", request_type="application/json", request_body=b'{"qty": "2", "x": 1}'
    )
    oas3 = _spec(
        {
            "/orders": {
                "post": _op(requestBody={"content": {"application/json": {"schema": schema}}})
            }
        }
    )
    swagger = {
        "swagger": "2.0",
        "paths": {
            "/orders": {
                "post": _op(parameters=[{"name": "b", "in": "body", "schema": schema}]),
            }
        },
    }
    for spec in (oas3, swagger):
        assert [(f.location, f.kind, f.name) for f in diff(_learned(call), spec).drift] == [
            ("request application/json", "type", "$.qty"),
            ("request application/json", "field", "$.x"),
        ]


def test_cyclic_refs_do_not_hang() -> None:
    schemas = {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}
    response = {
        "description": "ok",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}},
    }
    spec = _spec({"/c": {"get": {"responses": {"200": response}}}}, components={"schemas": schemas})
    call = _call("GET", "/c", response_type="application/json", response_body=b'{"a": 1}')
    assert diff(_learned(call), spec).drift == ()


@pytest.mark.parametrize(
    "document",
    [
        # no version key
        {"paths": {}},
        # no paths
        {"openapi": "3.1.0"},
        # paths not a mapping
        {"swagger": "2.0", "paths": []},
    ],
)
def test_not_a_spec(document: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not an OpenAPI 3 or Swagger 2 document"):
        diff([], document)


def test_report_is_deterministic_and_serialisable() -> None:
    spec = _spec({"/b": {"get": _op()}, "/a": {"get": _op(), "post": _op(deprecated=True)}})
    calls = [_call("POST", "/a", query=(("z", "1"), ("y", "2"))), _call("GET", "/zz")]
    first = diff(_learned(*calls), spec)
    assert first == diff(_learned(*reversed(calls)), spec)
    assert first.to_dict() == {
        "summary": {"shadow": 1, "zombie": 1, "unseen": 2, "drift": 2},
        "shadow": [
            {
                "category": "shadow",
                "method": "GET",
                "path": "/zz",
                "template": "/zz",
                "calls": 1,
                "hosts": ["api.example.com"],
                "message": "GET /zz is called (1 calls) but not declared",
            }
        ],
        "zombie": [
            {
                "category": "zombie",
                "method": "POST",
                "path": "/a",
                "template": "/a",
                "calls": 1,
                "hosts": ["api.example.com"],
                "deprecated": True,
                "message": "POST /a is declared deprecated but still called (1 calls)",
            }
        ],
        "unseen": [
            {
                "category": "unseen",
                "method": "GET",
                "path": "/a",
                "message": "GET /a is declared but was never seen",
            },
            {
                "category": "unseen",
                "method": "GET",
                "path": "/b",
                "message": "GET /b is declared but was never seen",
            },
        ],
        "drift": [
            {
                "category": "drift",
                "method": "POST",
                "path": "/a",
                "template": "/a",
                "kind": "parameter",
                "location": "query",
                "name": name,
                "message": f"POST /a: undeclared query parameter {name}",
            }
            for name in ("y", "z")
        ],
    }
    assert first.failed(["zombie"])
    assert not DiffReport().failed(["shadow", "zombie", "unseen", "drift"])
    with pytest.raises(ValueError, match="unknown category 'ghost'"):
        first.failed(["ghost"])
