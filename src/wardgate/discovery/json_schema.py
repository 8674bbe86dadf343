"""Compiled JSON Schema validators and the first violation of a value, in our own words.

`compile_validator(schema, definitions)` compiles a draft 7 schema (as `validate.py`
translates OpenAPI's) with jsonschema_rs, `format` checked; a `pattern` in Python's dialect
that the Rust engine refuses is checked with `re` instead. `first_violation(validator,
value, root)` is one `is_valid` call for a valid value; for an invalid one it ranks the
library's errors in fastjsonschema's keyword order (so which problem is reported does not
depend on the library's internal order) and names the first by JSON path and rule, never
by value. Values checked against a recursive schema are refused past 1024 levels of nesting:
jsonschema_rs recurses on the native stack, and an overflow would kill the process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import jsonschema_rs
import orjson

__all__ = [
    "READ_ONLY",
    "SUBSCHEMA_LISTS",
    "SpecError",
    "Validator",
    "Violation",
    "compile_validator",
    "first_violation",
]

READ_ONLY = "x-wardgate-read-only"  # marks a readOnly property the translation forbids
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# Deepest value validated against a recursive schema: jsonschema_rs recurses on the native
# stack, under 1 KB a level (a stack overflow would kill the process, not raise), so deeper
# values are refused first. orjson's own limit is 1024 levels: parsed bodies never get here.
_MAX_DEPTH = 1024
# fastjsonschema's keyword order, which decided which of several problems was reported:
# kept, so the first violation does not depend on the validator's internal order.
_ORDER = {
    name: index
    for index, name in enumerate((
        "type", "enum", "allOf", "anyOf", "oneOf", "not", "minLength", "maxLength", "pattern",
        "format", "minimum", "maximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
        "items", "minProperties", "maxProperties", "required", "dependencies", "properties",
        "patternProperties", "additionalProperties", "exclusiveMinimum", "exclusiveMaximum",
        "propertyNames", "contains", "const", "if",
    ))
}  # fmt: skip
_MAX_ERRORS = 256  # ranked to find the first; an invalid body rarely has more


class SpecError(ValueError):
    """The document is not a spec that can be enforced; the message names where."""


@dataclass(frozen=True, slots=True)
class Violation:
    """What is wrong with a request: `where` (`$.user.role`, `query.limit`) and `message`."""

    kind: str
    where: str
    message: str
    rule: str
    status: int = 400

    @property
    def detail(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Validator:
    """A compiled schema: the jsonschema_rs validator, the translated schema (to name the
    problem) and whether it recurses (then the body's depth is bounded first)."""

    validator: jsonschema_rs.Validator
    schema: dict[str, Any]
    recursive: bool


def compile_validator(schema: dict[str, Any], definitions: dict[str, Any]) -> Validator:
    root = {**schema, "definitions": definitions} if definitions else schema
    rewritten = _python_patterns(root)
    # Custom keywords slow every validation down (~60 %): only where a pattern needs one.
    keywords: dict[str, type[jsonschema_rs.KeywordValidator]] | None = (
        None if rewritten is root else {_PY_PATTERN: _PythonPattern}
    )
    root = rewritten
    try:
        validator = jsonschema_rs.Draft7Validator(
            root, validate_formats=True, keywords=keywords, offline=True
        )
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        message = str(getattr(exc, "message", exc)).partition("\n")[0]
        raise SpecError(f"schema does not compile: {message[:300]}") from None
    return Validator(validator, root, bool(definitions) and _refers(schema))


class _PythonPattern:
    """`pattern` in Python's dialect (`(?i)`, `(?P<name>...)`, `\\Z` ...), for the patterns
    jsonschema_rs's ECMA 262 dialect refuses: they were enforced before, so they still are."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: Any) -> None:
        self.regex = re.compile(_DOLLAR.sub(r"\\Z", str(value)))

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self.regex.search(instance):
            raise ValueError("does not match the declared pattern")


_PY_PATTERN = "x-wardgate-python-pattern"
_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.lru_cache(maxsize=4096)
def _ecma(pattern: str) -> bool:
    """Whether jsonschema_rs takes the pattern; SpecError when Python's `re` does not either."""
    try:
        jsonschema_rs.Draft7Validator({"pattern": pattern})
    except (jsonschema_rs.ValidationError, ValueError):
        try:
            re.compile(_DOLLAR.sub(r"\\Z", pattern))
        except re.error as exc:
            raise SpecError(f"schema does not compile: pattern {pattern[:100]!r}: {exc}") from None
        return False
    return True


def _python_patterns(schema: Any) -> Any:
    """`schema` with each `pattern` jsonschema_rs cannot compile moved to `_PY_PATTERN`
    (copied only where that changes something; shared sub-schemas stay shared)."""
    done: dict[int, Any] = {}

    def walk(node: Any) -> Any:
        if id(node) in done:
            return done[id(node)]
        out: Any = node
        if isinstance(node, dict):
            items = {k: walk(v) for k, v in node.items()}
            pattern = items.get("pattern")
            if isinstance(pattern, str) and not _ecma(pattern):
                items[_PY_PATTERN] = items.pop("pattern")
                out = items
            elif any(items[k] is not v for k, v in node.items()):
                out = items
        elif isinstance(node, list):
            changed = [walk(v) for v in node]
            if any(a is not b for a, b in zip(changed, node, strict=True)):
                out = changed
        done[id(node)] = out
        return out

    return walk(schema)


def _refers(schema: Any) -> bool:
    """Whether a translated schema holds a `$ref` (only recursive ones are left)."""
    stack, seen = [schema], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if "$ref" in node:
                return True
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return False


def _too_deep(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` levels (iterative: no stack to blow)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def first_violation(
    validate: Validator, value: Any, root: str, parsed: bool = False
) -> Violation | None:
    """The first violation of `value`, or None. `parsed`: it comes from orjson, which refuses
    nesting past 1024 levels, so the depth walk (costlier than validating) is skipped."""
    if not parsed and validate.recursive and _too_deep(value, _MAX_DEPTH):
        return Violation("schema.too_long", root, "nested too deeply", "depth")
    try:
        if validate.validator.is_valid(value):
            return None
        errors = list(islice(validate.validator.iter_errors(value), _MAX_ERRORS))
    except ValueError as exc:
        # An error is reported with a copy of the failing value, and jsonschema_rs copies at
        # most ~250 levels: a deeper invalid value can only be refused as such.
        if "recursion limit" not in str(exc).lower():
            raise
        return Violation("schema.too_long", root, "nested too deeply", "depth")
    if not errors:
        return Violation("schema.invalid", root, "violates the schema", "invalid")
    ranked = [(_rank(validate.schema, error), error) for error in errors]
    (_key, definition), error = min(ranked, key=lambda pair: pair[0][0])
    return _violation(error, definition, root)


def _rank(
    root: dict[str, Any], error: jsonschema_rs.ValidationError
) -> tuple[tuple[int, ...], Any]:
    """Where fastjsonschema would have met this error (keywords in its order, properties in
    the schema's, items in the body's), and the schema object holding the failing keyword."""
    node: Any = root
    path = error.evaluation_path
    instance = error.instance_path
    key: list[int] = []
    depth = i = 0
    while i < len(path) and isinstance(node, dict):
        step = path[i]
        if step == "$ref":
            ref = str(node.get("$ref", ""))
            node = (root.get("definitions") or {}).get(ref.rpartition("/")[2])
            i += 1
            continue
        if step in ("then", "else"):
            key += (_ORDER["if"], 1 if step == "then" else 2)
            node, i = node.get(step), i + 1
            continue
        order = _ORDER.get("pattern" if step == _PY_PATTERN else str(step), len(_ORDER))
        following = path[i + 1] if i + 1 < len(path) else None
        if step in ("properties", "patternProperties") and following is not None:
            table = node.get(step) or {}
            key += (order, list(table).index(following) if following in table else 0)
            node, depth, i = table.get(following), depth + 1, i + 2
        elif step in SUBSCHEMA_LISTS and isinstance(following, int):
            key += (order, following)
            node, i = node[step][following], i + 2
        elif step == "items" and isinstance(node.get("items"), list):
            key += (order, following if isinstance(following, int) else 0)
            node, depth, i = node["items"][following], depth + 1, i + 2
        elif step in ("items", "additionalItems", "additionalProperties") and i + 1 < len(path):
            position = instance[depth] if depth < len(instance) else 0
            if step == "additionalItems":
                order = _ORDER["items"]
            key += (order, position if isinstance(position, int) else 0)
            node, depth, i = node.get(step), depth + 1, i + 1
        else:
            if step == "additionalItems":
                key += (_ORDER["items"], len(node.get("items") or ()))
            else:
                key.append(order)
            break
    return tuple(key), node if isinstance(node, Mapping) else {}


def _violation(
    error: jsonschema_rs.ValidationError, definition: Mapping[str, Any], root: str
) -> Violation:
    """Our own message from the rule and the path: the library's quotes the value."""
    where = root + "".join(
        f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.instance_path
    )
    kind = error.kind
    K = jsonschema_rs.ValidationErrorKind
    rule = kind.name
    if isinstance(kind, K.AdditionalProperties):
        extra = sorted(kind.unexpected)
        return Violation(
            "schema.unknown_field", _child(where, extra[0] if extra else "?"), "unknown field", rule
        )
    if isinstance(kind, K.Not) and definition.get(READ_ONLY):
        return Violation("schema.unknown_field", where, "read-only field", "readOnly")
    if isinstance(kind, K.Required):
        if error.schema_path[-1:] == ["dependencies"]:
            return Violation("schema.invalid", where, "violates `dependencies`", "dependencies")
        return Violation(
            "schema.required", _child(where, kind.property), "missing required field", rule
        )
    if isinstance(kind, K.Type):
        declared = definition.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else kind.types
        return Violation("schema.type", where, "must be " + " or ".join(map(str, types)), rule)
    bound: Any = None
    if isinstance(kind, K.Format):
        bound = kind.format
    elif isinstance(kind, K.MultipleOf):
        bound = kind.multiple_of
    elif isinstance(kind, K.OneOfMultipleValid | K.OneOfNotValid):
        rule = "oneOf"
    elif isinstance(kind, K.BacktrackLimitExceeded | K.RegexEngineFailure):
        rule = "pattern"
    elif isinstance(kind, K.AdditionalItems):
        rule = "items"
    elif isinstance(kind, K.Custom) and kind.keyword == _PY_PATTERN:
        rule = "pattern"
    elif isinstance(kind, K.FalseSchema):
        rule = "invalid"
    elif isinstance(kind, K.Constant):
        rule = "const"
    else:
        bound = getattr(kind, "limit", None)
    if rule in definition and not isinstance(kind, K.Format):
        bound = definition[rule]
    too_long = {
        "maxLength": "longer than {}",
        "maxItems": "more than {} items",
        "maxProperties": "more than {} fields",
    }
    if rule in too_long:
        return Violation("schema.too_long", where, too_long[rule].format(bound), rule)
    messages = {
        "enum": "not an allowed value",
        "const": "not the allowed value",
        "pattern": "does not match the declared pattern",
        "format": f"not a valid {bound}",
        "minLength": f"shorter than {bound}",
        "minItems": f"fewer than {bound} items",
        "minProperties": f"fewer than {bound} fields",
        "minimum": f"less than {bound}",
        "maximum": f"greater than {bound}",
        "exclusiveMinimum": f"not greater than {bound}",
        "exclusiveMaximum": f"not less than {bound}",
        "multipleOf": f"not a multiple of {bound}",
        "uniqueItems": "items are not unique",
        "oneOf": "does not match exactly one allowed shape",
        "anyOf": "matches none of the allowed shapes",
    }
    return Violation("schema.invalid", where, messages.get(rule, f"violates `{rule}`"), rule)


def _child(where: str, key: str) -> str:
    if _SIMPLE_KEY.match(key):
        return f"{where}.{key}"
    return f"{where}[{orjson.dumps(key[:64]).decode()}]"
