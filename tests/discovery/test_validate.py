"""The compiled validators of `wardgate.discovery.validate` (jsonschema_rs underneath): how a
failure becomes a `Violation` (rule, JSON path, message without the value), formats and
patterns, and input nested deeply against recursive and plain schemas."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import orjson
import pytest

from wardgate.discovery.validate import CompiledSpec, SpecError, Violation, compile_spec


def _spec(schema: dict[str, Any], **components: Any) -> CompiledSpec:
    return compile_spec({
        "openapi": "3.0.3",
        "components": {"schemas": components},
        "paths": {
            "/t": {
                "post": {
                    "parameters": [
                        {"name": "code", "in": "query", "schema": {"type": "string",
                                                                  "pattern": "^[A-Z]{3}$"}},
                    ],
                    "requestBody": {"content": {"application/json": {"schema": schema}}},
                }
            }
        },
    })  # fmt: skip


def _body(spec: CompiledSpec, body: Any) -> Violation | None:
    match = spec.match("POST", "/t")
    assert match is not None and match.operation is not None
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return match.operation.check_body(raw, "application/json")


def _query(spec: CompiledSpec, query: str) -> Violation | None:
    match = spec.match("POST", "/t")
    assert match is not None and match.operation is not None
    return match.operation.check_params(match.captured, query, {})


def _seen(violation: Violation | None) -> tuple[str, str, str] | None:
    return None if violation is None else (violation.detail, violation.rule, violation.kind)


NODE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "next": {"$ref": "#/components/schemas/Node"}},
}
TREE = {
    "type": "object",
    "properties": {"kids": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}},
}


@pytest.mark.parametrize(
    ("schema", "body", "expected"),
    [
        ({"type": "string", "format": "email"}, "not-an-email",
         ("$: not a valid email", "format", "schema.invalid")),
        ({"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}},
         {"at": "2024-13-01"}, ("$.at: not a valid date-time", "format", "schema.invalid")),
        ({"type": "string", "format": "ipv4"}, "10.0.0",
         ("$: not a valid ipv4", "format", "schema.invalid")),
        ({"type": "string", "format": "uri"}, "no scheme",
         ("$: not a valid uri", "format", "schema.invalid")),
        # formats OpenAPI adds and JSON Schema does not know are not enforced
        ({"type": "string", "format": "password"}, "anything", None),
        ({"type": "string", "format": "email"}, "ann@example.org", None),
    ],
)  # fmt: skip
def test_formats_are_enforced(schema: dict[str, Any], body: Any, expected: Any) -> None:
    assert _seen(_body(_spec(schema), body)) == expected


SECRET = "hunter2-SECRET-value"


@pytest.mark.parametrize(
    "pattern",
    [
        "^[a-z]+$",  # ECMA 262: jsonschema_rs's own engine
        "(?i)^[a-z]+$",  # Python-only syntax: still enforced, by Python's `re`
        r"^[a-z]+\Z",
    ],
)
def test_pattern_violation_names_the_rule_not_the_value(pattern: str) -> None:
    spec = _spec({"type": "object", "properties": {"pw": {"type": "string", "pattern": pattern}}})
    violation = _body(spec, {"pw": SECRET})
    assert _seen(violation) == (
        "$.pw: does not match the declared pattern",
        "pattern",
        "schema.invalid",
    )
    assert violation is not None and SECRET not in repr(violation)
    assert _body(spec, {"pw": "abc"}) is None


def test_pattern_on_a_query_parameter() -> None:
    spec = _spec({})
    assert _query(spec, "code=ABC") is None
    assert _seen(_query(spec, "code=abc")) == (
        "query.code: does not match the declared pattern",
        "pattern",
        "schema.invalid",
    )


def test_a_pattern_no_engine_compiles_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="schema does not compile: pattern"):
        _spec({"type": "string", "pattern": "(unclosed"})


@pytest.mark.parametrize(
    ("schema", "body", "expected"),
    [
        # of several problems, the one fastjsonschema reported first: keywords in its order,
        # properties in the schema's order, items in the body's
        ({"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "integer"}}},
         {"a": "x", "b": "y"}, ("$.b: must be integer", "type", "schema.type")),
        ({"type": "object", "required": ["z"], "properties": {"z": {}, "a": {"type": "string"}}},
         {"a": 1, "q": 1}, ("$.z: missing required field", "required", "schema.required")),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": 1, "q": 1, "b": 1},
         ("$.a: must be string", "type", "schema.type")),
        ({"type": "object", "properties": {"a": {}}}, {"q": 1, "b": 1},
         ("$.b: unknown field", "additionalProperties", "schema.unknown_field")),
        ({"type": "array", "maxItems": 2, "items": {"type": "integer", "minimum": 1}},
         [0, "x", 3], ("$: more than 2 items", "maxItems", "schema.too_long")),
        ({"type": "array", "items": {"type": "integer", "minimum": 1}}, [1, 0, "x"],
         ("$[1]: less than 1", "minimum", "schema.invalid")),
        ({"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}},
                                     "required": ["q"]}},
         [{"q": 1}, {}], ("$[1].q: missing required field", "required", "schema.required")),
        ({"type": "string", "nullable": True}, 3,
         ("$: must be string or null", "type", "schema.type")),
        ({"type": "number", "multipleOf": 0.5, "maximum": 10}, 10.25,
         ("$: greater than 10", "maximum", "schema.invalid")),
        ({"type": "number", "minimum": 2, "exclusiveMinimum": True}, 2,
         ("$: not greater than 2", "exclusiveMinimum", "schema.invalid")),
        ({"type": "string", "enum": ["a", "b"]}, "c",
         ("$: not an allowed value", "enum", "schema.invalid")),
        ({"type": "array", "uniqueItems": True}, [1, 1],
         ("$: items are not unique", "uniqueItems", "schema.invalid")),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 1.5,
         ("$: does not match exactly one allowed shape", "oneOf", "schema.invalid")),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5,
         ("$: matches none of the allowed shapes", "anyOf", "schema.invalid")),
        ({"type": "object", "properties": {"id": {"type": "integer", "readOnly": True}}},
         {"id": 1}, ("$.id: read-only field", "readOnly", "schema.unknown_field")),
        ({"type": "object", "properties": {"a b": {"type": "string"}}}, {"a b": 1},
         ("$.a b: must be string", "type", "schema.type")),
        ({"type": "object", "properties": {"a": {}}}, {"x y": 1},
         ('$["x y"]: unknown field', "additionalProperties", "schema.unknown_field")),
        # a recursive schema reports the path through every level
        ({"$ref": "#/components/schemas/Tree"}, {"kids": [{"kids": [{"kids": 3}]}]},
         ("$.kids[0].kids[0].kids: must be array", "type", "schema.type")),
    ],
)  # fmt: skip
def test_violations(schema: dict[str, Any], body: Any, expected: Any) -> None:
    assert _seen(_body(_spec(schema, Tree=TREE), body)) == expected


def _nested(levels: int, key: str) -> bytes:
    return b'{"%s":' % key.encode() * levels + b"{}" + b"}" * levels


_CHILD = textwrap.dedent(
    """
    import sys
    import orjson
    from tests.discovery.test_validate import NODE, TREE, _body, _nested, _spec
    from wardgate.discovery.json_schema import first_violation as _run

    spec = _spec({"$ref": "#/components/schemas/Node"}, Node=NODE)
    print(_body(spec, _nested(1000, "next")))
    print(_body(spec, b'{"kids":[' * 511 + b"{}" + b"]}" * 511))
    tree = _spec({"$ref": "#/components/schemas/Tree"}, Tree=TREE)
    print(_body(tree, b'{"kids":[' * 511 + b"{}" + b"]}" * 511))
    plain = _spec({"type": "object", "properties": {"a": {"type": "string"}},
                   "additionalProperties": True})
    print(_body(plain, _nested(1000, "x")))
    print(_body(plain, b'{"a":1,"x":' + _nested(1000, "x") + b"}"))
    print(_body(plain, b'{"a":"s","x":' + _nested(1000, "x") + b"}"))
    closed = _spec({"type": "object", "properties": {"a": {"type": "string"}}})
    print(_body(closed, _nested(1000, "x")))
    # values that did not come through the parser: the depth is bounded before validating
    deep: dict = {}
    for _ in range(20000):
        deep = {"next": deep}
    match = spec.match("POST", "/t")
    print(_run(match.operation.body_validator, deep, "$"))
    """
)


def test_deep_nesting_neither_crashes_nor_hangs() -> None:
    # in a child: a native stack overflow would kill the process instead of failing a test
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    depth = (
        "Violation(kind='schema.too_long', where='$', message='nested too deeply', "
        "rule='depth', status=400)"
    )
    assert result.stdout.splitlines() == [
        "None",  # 1000 levels down a recursive schema
        depth,  # invalid, and too deep for jsonschema_rs to report on (it copies ~250 levels)
        "None",
        "None",  # a plain schema does not look below its own depth ...
        "Violation(kind='schema.type', where='$.a', message='must be string', rule='type', "
        "status=400)",  # ... and a deep sibling does not hide a shallow problem
        "None",
        depth,  # the unknown field is the deep value itself
        depth,  # not from the parser: bounded before validating
    ]


def test_deep_nesting_in_process() -> None:
    spec = _spec({"$ref": "#/components/schemas/Node"}, Node=NODE)
    assert _body(spec, _nested(1020, "next")) is None
    assert _seen(_body(spec, _nested(1020, "next")[:-1])) == (
        "$: not valid JSON",
        "json",
        "schema.malformed",
    )
    assert _seen(_body(spec, _nested(900, "next").replace(b"{}", b'{"name": 1}'))) == (
        "$" + ".next" * 900 + ".name: must be string",
        "type",
        "schema.type",
    )
