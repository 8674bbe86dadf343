"""Positive security from an OpenAPI document: operations matched by path, compiled validators.

`compile_spec(document, options)` takes a parsed OpenAPI 3.0/3.1 or Swagger 2.0 document (a
declared spec, or one exported from the discovery inventory) and returns an immutable
`CompiledSpec`: a trie of path templates under the spec's base path, and per operation the
declared parameters and request body, each with a jsonschema_rs validator compiled once.
`CompiledSpec.match(method, path)` finds the operation; `Operation.check_params` and
`Operation.check_body` return the first `Violation` or None. A violation names where (a JSON
path such as `$.items[3].qty`, or `query.limit`) and what, never the offending value.

Schemas are translated to JSON Schema draft 7 (`translate.py`) and checked by jsonschema_rs
(`json_schema.py`), `format` included: local `$ref`s are inlined, only recursive ones
become shared definitions (nesting past 1024 levels is refused, by the JSON parser for
bodies and as a `depth` violation otherwise), `nullable` becomes a type union, 3.0 boolean
`exclusiveMinimum` the numeric form, 3.1 `prefixItems` the tuple form of `items`. Keywords
draft 7 cannot express (`unevaluatedProperties`, `$dynamicRef` ...) are dropped and listed
in `notes`. With `close_objects`, every object schema that lists properties and says
nothing about `additionalProperties` rejects other fields (mass assignment); a schema
composed with allOf/oneOf/anyOf is closed over the union of its parts' properties.
`readOnly` properties may not be sent. Pure: no I/O, no HTTP objects.

    >>> spec = compile_spec({"openapi": "3.0.3", "paths": {"/u/{id}": {"get": {}}}})
    >>> spec.match("GET", "/u/7").template
    '/u/{id}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from wardgate.discovery.json_schema import (
    SpecError,
    Validator,
    Violation,
    compile_validator,
    first_violation,
)
from wardgate.discovery.translate import (
    SchemaTranslator,
    SpecOptions,
    escape_pointer,
    param_kind,
    swagger_param_schema,
)

__all__ = [
    "CompiledSpec",
    "Match",
    "Operation",
    "SpecError",
    "SpecOptions",
    "Violation",
    "compile_spec",
]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_INTEGER = re.compile(r"^-?[0-9]{1,30}$")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    required: bool
    kind: str | None
    validate: Validator | None
    explode: bool = True


@dataclass(frozen=True, slots=True)
class Operation:
    """One declared method on one path template, with what its requests must look like."""

    method: str
    template: str
    parameters: tuple[Parameter, ...] = ()
    param_names: tuple[tuple[str, ...], ...] = ()
    media_types: tuple[str, ...] = ()
    body_required: bool = False
    body_validator: Validator | None = None

    def check_params(
        self, captured: tuple[tuple[str, ...], ...], query: str, headers: Mapping[str, str]
    ) -> Violation | None:
        """Path, query and header parameters, coerced from strings by their declared type."""
        path_values = {
            name: value
            for names, values in zip(self.param_names, captured, strict=True)
            for name, value in zip(names, values, strict=True)
        }
        parsed = parse_qs(query, keep_blank_values=True) if query else {}
        for param in self.parameters:
            where = f"{param.location}.{param.name}"
            raw: list[str] | None
            if param.location == "path":
                value = path_values.get(param.name)
                raw = None if value is None else [unquote(value)]
            elif param.location == "query":
                raw = parsed.get(param.name)
            else:
                header = headers.get(param.name)
                raw = None if header is None else [header]
            if raw is None:
                if param.required:
                    return Violation("schema.required", where, "missing", "required")
                continue
            problem = _check_param(param, raw, where)
            if problem is not None:
                return problem
        return None

    def check_body(self, body: bytes | None, content_type: str | None) -> Violation | None:
        """The body against the declared media types (415) and the JSON schema (400)."""
        if not body:
            if self.body_required:
                return Violation("schema.required", "$", "request body required", "required")
            return None
        media = (content_type or "").partition(";")[0].strip().lower()
        declared = _declared(media, self.media_types)
        if declared is None:
            return Violation(
                "schema.content_type", "$", "content type not accepted", "content-type", 415
            )
        if self.body_validator is None or not _is_json(declared):
            return None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Violation("schema.malformed", "$", "not valid JSON", "json")
        return first_violation(self.body_validator, document, "$", parsed=True)


@dataclass(frozen=True, slots=True)
class Match:
    """A request path that fits a template: the operation for the method, or the methods
    that template does declare (`operation` None means 405)."""

    template: str
    operation: Operation | None
    captured: tuple[tuple[str, ...], ...]
    allowed: tuple[str, ...]


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    patterns: dict[str, tuple[re.Pattern[str], _Node]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    template: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """The enforceable form of a spec. Immutable after `compile_spec`; safe to share."""

    prefix: str
    root: _Node
    notes: tuple[str, ...] = ()

    def match(self, method: str, path: str) -> Match | None:
        """The operation for `method` on `path`; None when no template fits the path.

        Literal segments win over templated siblings (`/users/me` before `/users/{id}`); a
        trailing slash is ignored; HEAD falls back to a declared GET.
        """
        if self.prefix:
            if not path.startswith(self.prefix) or path[
                len(self.prefix) : len(self.prefix) + 1
            ] not in ("", "/"):
                return None
            path = path[len(self.prefix) :]
        segments = path.strip("/").split("/") if path.strip("/") else []
        found = _walk(self.root, segments, 0, [])
        if found is None:
            return None
        node, captured = found
        operations = node.operations
        operation = operations.get(method.lower())
        if operation is None and method == "HEAD":
            operation = operations.get("get")
        allowed = tuple(sorted(m.upper() for m in operations))
        return Match(node.template or "/", operation, tuple(captured), allowed)


def _walk(
    node: _Node, segments: list[str], index: int, captured: list[tuple[str, ...]]
) -> tuple[_Node, list[tuple[str, ...]]] | None:
    if index == len(segments):
        return (node, captured) if node.operations else None
    segment = segments[index]
    child = node.literal.get(segment)
    if child is not None and (found := _walk(child, segments, index + 1, captured)):
        return found
    for pattern, sub in node.patterns.values():
        matched = pattern.fullmatch(segment)
        if matched is not None:
            found = _walk(sub, segments, index + 1, [*captured, matched.groups()])
            if found is not None:
                return found
    return None


def compile_spec(document: Mapping[str, Any], options: SpecOptions | None = None) -> CompiledSpec:
    """Compile a parsed OpenAPI 3.x or Swagger 2.0 document; raises `SpecError`."""
    options = options or SpecOptions()
    if not isinstance(document, Mapping):
        raise SpecError("the spec is not a mapping")
    swagger = str(document.get("swagger", "")).startswith("2")
    if not swagger and not str(document.get("openapi", "")).startswith("3"):
        raise SpecError("neither `openapi: 3.x` nor `swagger: 2.0`")
    translator = SchemaTranslator(
        document, options, str(document.get("openapi", "")).startswith("3.1")
    )
    paths = document.get("paths") or {}
    if not isinstance(paths, Mapping):
        raise SpecError("#/paths is not a mapping")
    pending: list[tuple[list[str], Operation, dict[str, Any] | None, list[tuple[Any, ...]]]] = []
    for template, item in paths.items():
        if not isinstance(item, Mapping) or not str(template).startswith("/"):
            raise SpecError(f"#/paths/{template}: not a path item")
        base = f"#/paths/{escape_pointer(template)}"
        item = translator.deref(item, base)
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = f"{base}/{method}"
            pending.append(
                _operation(translator, str(template), method, op, shared, where, swagger)
            )
    root = _Node()
    definitions = translator.definitions
    for segments, operation, body_schema, params in pending:
        compiled_params = tuple(
            Parameter(name, loc, req, kind, compile_validator(schema, definitions), explode)
            for name, loc, req, kind, schema, explode in params
        )
        body = None if body_schema is None else compile_validator(body_schema, definitions)
        node, names = _insert(root, segments, operation.template)
        if operation.method in node.operations:
            raise SpecError(f"{operation.method.upper()} {operation.template}: declared twice")
        node.operations[operation.method] = Operation(
            operation.method,
            operation.template,
            compiled_params,
            names,
            operation.media_types,
            operation.body_required,
            body,
        )
    return CompiledSpec(_base_path(document, swagger), root, tuple(translator.notes))


def _operation(
    translator: SchemaTranslator,
    template: str,
    method: str,
    op: Any,
    shared: Any,
    where: str,
    swagger: bool,
) -> tuple[list[str], Operation, dict[str, Any] | None, list[tuple[Any, ...]]]:
    if not isinstance(op, Mapping):
        raise SpecError(f"{where}: not an operation")
    declared: dict[tuple[str, str], Mapping[str, Any]] = {}
    for index, raw in enumerate([*shared, *(op.get("parameters") or [])]):
        param = translator.deref(raw, f"{where}/parameters/{index}")
        declared[(str(param.get("name")), str(param.get("in")))] = param
    params: list[tuple[Any, ...]] = []
    media: tuple[str, ...] = ()
    body_schema: dict[str, Any] | None = None
    required = False
    consumes = op.get("consumes") or translator.document.get("consumes") or ["application/json"]
    for (name, location), param in declared.items():
        if location == "body" and swagger:
            media, required = tuple(str(m).lower() for m in consumes), bool(param.get("required"))
            body_schema = translator.root(param.get("schema") or {}, f"{where}/body")
        elif location == "formData" and swagger:
            media = tuple(str(m).lower() for m in consumes)
            required = required or bool(param.get("required"))
        elif location in ("path", "query", "header"):
            if location == "header" and name.lower() in ("accept", "content-type", "authorization"):
                continue  # OpenAPI: these are described elsewhere and ignored as parameters
            schema = param.get("schema", {}) if not swagger else swagger_param_schema(param)
            translated = translator.root(schema, f"{where}/parameters/{name}")
            kind = param_kind(translator.resolve_type(schema))
            explode = param.get("explode", param.get("style", "form") == "form")
            params.append(
                (
                    name,
                    location,
                    bool(param.get("required")) or location == "path",
                    kind,
                    translated,
                    bool(explode) and param.get("collectionFormat") != "csv",
                )
            )
    if not swagger and op.get("requestBody") is not None:
        request_body = translator.deref(op["requestBody"], f"{where}/requestBody")
        content = request_body.get("content") or {}
        media = tuple(str(m).lower() for m in content)
        required = bool(request_body.get("required"))
        for media_type, entry in content.items():
            if _is_json(str(media_type).lower()) and isinstance(entry, Mapping):
                body_schema = translator.root(
                    entry.get("schema") or {}, f"{where}/requestBody/{escape_pointer(media_type)}"
                )
                break
    segments = template.strip("/").split("/") if template.strip("/") else []
    operation = Operation(method, template, media_types=media, body_required=required)
    return segments, operation, body_schema, params


def _insert(
    root: _Node, segments: list[str], template: str
) -> tuple[_Node, tuple[tuple[str, ...], ...]]:
    node = root
    names: list[tuple[str, ...]] = []
    for segment in segments:
        if "{" not in segment:
            node = node.literal.setdefault(segment, _Node())
            continue
        pieces = re.split(r"\{([^}/]+)\}", segment)
        regex = "".join(
            re.escape(piece) if i % 2 == 0 else "([^/]+?)" for i, piece in enumerate(pieces)
        )
        names.append(tuple(pieces[1::2]))
        if regex not in node.patterns:
            node.patterns[regex] = (re.compile(regex), _Node())
        node = node.patterns[regex][1]
    node.template = node.template or template
    return node, tuple(names)


def _base_path(document: Mapping[str, Any], swagger: bool) -> str:
    if swagger:
        base = str(document.get("basePath") or "")
    else:
        servers = document.get("servers") or [{}]
        server = servers[0] if isinstance(servers[0], Mapping) else {}
        url = str(server.get("url") or "")
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        base = urlsplit(url).path if "://" in url else url
    return "/" + base.strip("/") if base.strip("/") else ""


def _check_param(param: Parameter, raw: list[str], where: str) -> Violation | None:
    if param.kind == "array":
        items = raw if param.explode or len(raw) > 1 else raw[0].split(",")
        value: Any = [_coerce(item, None) for item in items]
    elif len(raw) > 1:
        return Violation("schema.invalid", where, "given more than once", "repeated")
    else:
        value = _coerce(raw[0], param.kind)
        if value is _NOT_COERCED:
            return Violation("schema.type", where, f"must be {param.kind}", "type")
    if param.validate is None:
        return None
    return first_violation(param.validate, value, where)


_NOT_COERCED = object()


def _coerce(text: str, kind: str | None) -> Any:
    if kind == "integer":
        return int(text) if _INTEGER.match(text) else _NOT_COERCED
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return _NOT_COERCED
        return number if math.isfinite(number) else _NOT_COERCED
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, _NOT_COERCED)
    return text


def _declared(media: str, declared: tuple[str, ...]) -> str | None:
    for candidate in declared:
        kind, _, sub = candidate.partition("/")
        if (
            candidate == media
            or candidate == "*/*"
            or (sub == "*" and media.startswith(kind + "/"))
        ):
            return candidate if candidate != "*/*" and sub != "*" else media
    return None


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")
