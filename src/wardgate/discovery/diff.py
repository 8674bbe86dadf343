"""What traffic shows against what a spec declares: shadow, zombie, unseen and drift.

`diff(learned, declared)` matches every learned endpoint to the declared operation of the
same method whose path fits it segment by segment, parameter names ignored. A declared
`{param}` also takes a learned literal (traffic may keep `/users/me`, or a value seen only
once), and where several declared paths fit, a literal beats a parameter at the first
segment where they differ. Declared paths are the first server's (OpenAPI 3) or the
`basePath`'s (Swagger 2) path prefix plus the path key; trailing slashes are ignored.

- `shadow`: learned, no declared operation fits (grouped by method and template);
- `zombie`: declared `deprecated: true`, and still called;
- `unseen`: declared, never called;
- `drift`: for a matched pair, query/header/cookie parameters and JSON body fields seen but
  not declared, and types that differ (integer fits number; any text fits a string
  parameter). Fields are judged only under declared object schemas that list properties
  and do not allow others; `$ref` and `allOf` are resolved, `oneOf`/`anyOf` are not judged.

The report is a value: frozen, every list sorted, the same inputs giving the same report.

    report = diff(inventory.endpoints(), load_document(Path("declared.yaml")))
    report.failed({"shadow", "drift"})  # True when either list is non-empty
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from wardgate.discovery.inventory import Endpoint
from wardgate.discovery.schema import TYPES, SchemaSketch

__all__ = ["CATEGORIES", "DiffReport", "Finding", "diff"]

CATEGORIES: Final = ("shadow", "zombie", "unseen", "drift")
_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_WHERE: Final = ("query", "header", "cookie")
_PARAM = re.compile(r"\{[^{}]*\}")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*|\*)|\[\*\]|\['((?:[^'\\]|\\.)*)'\]")
_MAX_REFS = 32  # `$ref` hops followed for one schema (specs may be cyclic)


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference. `path` is the declared path (the learned template for a shadow);
    `template` the learned template (empty for unseen). Drift findings say what drifted:
    `kind` is "parameter", "field" or "type"; `location` is "query", "header", "cookie",
    "path", "request <media>" or "response <status> <media>"; `name` the parameter name or
    the field's JSONPath; the types are JSON types joined by "|"."""

    category: str
    method: str
    path: str
    template: str = ""
    kind: str = ""
    location: str = ""
    name: str = ""
    learned_type: str = ""
    declared_type: str = ""
    deprecated: bool = False
    calls: int = 0
    hosts: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def message(self) -> str:
        if self.category == "shadow":
            return f"{self.endpoint} is called ({self.calls} calls) but not declared"
        if self.category == "zombie":
            return f"{self.endpoint} is declared deprecated but still called ({self.calls} calls)"
        if self.category == "unseen":
            return f"{self.endpoint} is declared but was never seen"
        if self.kind == "type":
            return (
                f"{self.endpoint}: {self.location} {self.name} is {self.learned_type} in "
                f"traffic, declared {self.declared_type}"
            )
        return f"{self.endpoint}: undeclared {self.location} {self.kind} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category, "method": self.method}
        out["path"] = self.path
        for key in ("template", "kind", "location", "name", "learned_type", "declared_type"):
            if value := getattr(self, key):
                out[key] = value
        if self.category in ("shadow", "zombie"):
            out["calls"] = self.calls
            out["hosts"] = list(self.hosts)
        if self.deprecated:
            out["deprecated"] = True
        out["message"] = self.message
        return out


@dataclass(frozen=True, slots=True)
class DiffReport:
    """The findings of one `diff`, one sorted tuple per category."""

    shadow: tuple[Finding, ...] = ()
    zombie: tuple[Finding, ...] = ()
    unseen: tuple[Finding, ...] = ()
    drift: tuple[Finding, ...] = ()

    def category(self, name: str) -> tuple[Finding, ...]:
        if name not in CATEGORIES:
            raise ValueError(f"unknown category {name!r}")
        findings: tuple[Finding, ...] = getattr(self, name)
        return findings

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.shadow + self.zombie + self.unseen + self.drift

    def failed(self, categories: Iterable[str]) -> bool:
        """Whether any of `categories` has a finding."""
        return any(self.category(name) for name in categories)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {name: len(self.category(name)) for name in CATEGORIES},
            **{name: [f.to_dict() for f in self.category(name)] for name in CATEGORIES},
        }


@dataclass(frozen=True, slots=True)
class _Declared:
    method: str
    path: str
    segments: tuple[str, ...]
    operation: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]


def diff(learned: list[Endpoint], declared: dict[str, Any]) -> DiffReport:
    """Compare learned endpoints with a declared OpenAPI 3.x or Swagger 2.0 document.

    Raises `ValueError` when `declared` is neither; never for what the spec or the
    endpoints hold otherwise.
    """
    spec = _Spec(declared)
    operations = spec.operations()
    by_method: dict[str, list[_Declared]] = {}
    for operation in operations:
        by_method.setdefault(operation.method, []).append(operation)
    matched: dict[tuple[str, str], list[Endpoint]] = {}
    shadows: dict[tuple[str, str], list[Endpoint]] = {}
    for endpoint in learned:
        target = _match(endpoint, by_method.get(endpoint.method.upper(), ()))
        if target is None:
            shadows.setdefault((endpoint.method.upper(), endpoint.template), []).append(endpoint)
        else:
            matched.setdefault((target.method, target.path), []).append(endpoint)
    shadow = [
        Finding(
            "shadow",
            method,
            template,
            template=template,
            calls=sum(e.count for e in endpoints),
            hosts=tuple(sorted({e.host for e in endpoints})),
        )
        for (method, template), endpoints in shadows.items()
    ]
    zombie: list[Finding] = []
    unseen: list[Finding] = []
    drift: set[Finding] = set()
    for operation in operations:
        seen = matched.get((operation.method, operation.path), [])
        deprecated = operation.operation.get("deprecated") is True
        if not seen:
            unseen.append(
                Finding("unseen", operation.method, operation.path, deprecated=deprecated)
            )
            continue
        if deprecated:
            zombie.append(
                Finding(
                    "zombie",
                    operation.method,
                    operation.path,
                    template=", ".join(sorted({e.template for e in seen})),
                    deprecated=True,
                    calls=sum(e.count for e in seen),
                    hosts=tuple(sorted({e.host for e in seen})),
                )
            )
        for endpoint in seen:
            drift.update(_Pair(spec, operation, endpoint).drift())
    return DiffReport(
        shadow=_sorted(shadow), zombie=_sorted(zombie), unseen=_sorted(unseen), drift=_sorted(drift)
    )


def _sorted(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    def key(f: Finding) -> tuple[str, ...]:
        return (f.path, f.method, f.template, f.location, f.name, f.kind)

    return tuple(sorted(findings, key=key))


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _match(endpoint: Endpoint, candidates: Iterable[_Declared]) -> _Declared | None:
    """The declared operation `endpoint` fits best: literal segments rank first."""
    learned = _segments(endpoint.template)
    best: tuple[tuple[int, ...], str] | None = None
    found: _Declared | None = None
    for candidate in candidates:
        rank = _fit(learned, candidate.segments)
        if rank is None:
            continue
        key = (tuple(-r for r in rank), candidate.path)
        if best is None or key < best:
            best, found = key, candidate
    return found


def _fit(learned: tuple[str, ...], declared: tuple[str, ...]) -> tuple[int, ...] | None:
    """Per segment 1 for a literal match, 0 for a parameter match; None when they differ."""
    if len(learned) != len(declared):
        return None
    rank = []
    for mine, theirs in zip(learned, declared, strict=True):
        if "{" not in theirs:
            if mine != theirs:
                return None
            rank.append(1)
        elif "{" in mine:
            if _PARAM.sub("{}", mine) != _PARAM.sub("{}", theirs):
                return None
            rank.append(0)
        else:
            pattern = "".join(
                "[^/]+" if part == "{}" else re.escape(part)
                for part in re.split(r"(\{\})", _PARAM.sub("{}", theirs))
            )
            if not re.fullmatch(pattern, mine):
                return None
            rank.append(0)
    return tuple(rank)


class _Spec:
    """A declared document read leniently: missing or odd parts are skipped, not fatal."""

    def __init__(self, document: dict[str, Any]) -> None:
        if not isinstance(document.get("paths"), dict) or not (
            "openapi" in document or "swagger" in document
        ):
            raise ValueError("not an OpenAPI 3 or Swagger 2 document (no openapi/swagger, paths)")
        self.document = document
        self.swagger = "swagger" in document and "openapi" not in document

    def prefix(self) -> str:
        if self.swagger:
            base = self.document.get("basePath")
            return base.rstrip("/") if isinstance(base, str) else ""
        servers = self.document.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            return ""
        url = str(servers[0].get("url", ""))
        variables = servers[0].get("variables")
        for name, variable in variables.items() if isinstance(variables, dict) else ():
            if isinstance(variable, dict):
                url = url.replace("{" + str(name) + "}", str(variable.get("default", "")))
        return urlsplit(url).path.rstrip("/")

    def operations(self) -> list[_Declared]:
        prefix = self.prefix()
        out: list[_Declared] = []
        for key, item in self.document["paths"].items():
            item = self.resolve(item)
            if not isinstance(key, str) or not isinstance(item, dict):
                continue
            path = prefix + key if key.startswith("/") else f"{prefix}/{key}"
            for method, operation in item.items():
                if method.lower() not in _METHODS or not isinstance(operation, dict):
                    continue
                parameters: dict[tuple[str, str], dict[str, Any]] = {}
                for raw in [*_list(item.get("parameters")), *_list(operation.get("parameters"))]:
                    parameter = self.resolve(raw)
                    if isinstance(parameter, dict) and "name" in parameter:
                        where = str(parameter.get("in", ""))
                        name = str(parameter["name"])
                        parameters[(where, name.lower() if where == "header" else name)] = parameter
                out.append(
                    _Declared(
                        method.upper(),
                        path,
                        _segments(path),
                        operation,
                        tuple(parameters[k] for k in sorted(parameters)),
                    )
                )
        return sorted(out, key=lambda o: (o.path, o.method))

    def resolve(self, node: Any) -> Any:
        """`node` with its `$ref` chain followed inside this document."""
        for _ in range(_MAX_REFS):
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return node
            ref: str = node["$ref"]
            if not ref.startswith("#/"):
                return {}
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            node = target if target is not None else {}
        return {}

    def schema(self, node: Any, depth: int = 0) -> dict[str, Any]:
        """`node` resolved, its `allOf` parts merged in (properties united)."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return {}
        parts = _list(node.get("allOf"))
        if not parts or depth > _MAX_REFS:
            return node
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        properties: dict[str, Any] = dict(_dict(node.get("properties")))
        for part in parts:
            part_schema = self.schema(part, depth + 1)
            properties.update(_dict(part_schema.get("properties")))
            for key, value in part_schema.items():
                if key != "properties":
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        return merged

    def api_keys(self) -> frozenset[tuple[str, str]]:
        """`(in, name)` of every declared API key scheme: sent as parameters, never drift."""
        components = _dict(self.document.get("components")).get("securitySchemes")
        schemes = components if not self.swagger else self.document.get("securityDefinitions")
        keys = set()
        for scheme in map(self.resolve, _dict(schemes).values()):
            if isinstance(scheme, dict) and scheme.get("type") == "apiKey":
                where, name = str(scheme.get("in", "")), str(scheme.get("name", ""))
                keys.add((where, name.lower() if where == "header" else name))
        return frozenset(keys)

    def bodies(self, operation: _Declared) -> Iterator[tuple[str, Any]]:
        """`("request <media>" | "response <status> <media>", schema)` of every declared body."""
        if self.swagger:
            consumes = _media(operation.operation, self.document, "consumes")
            for parameter in operation.parameters:
                if parameter.get("in") == "body":
                    for media in consumes:
                        yield f"request {media}", parameter.get("schema")
            produces = _media(operation.operation, self.document, "produces")
            for status, response in _dict(operation.operation.get("responses")).items():
                schema = _dict(self.resolve(response)).get("schema")
                for media in produces if schema is not None else ():
                    yield f"response {status} {media}", schema
            return
        body = _dict(self.resolve(operation.operation.get("requestBody")))
        for media, content in _dict(body.get("content")).items():
            yield f"request {media}", _dict(content).get("schema")
        for status, response in _dict(operation.operation.get("responses")).items():
            for media, content in _dict(_dict(self.resolve(response)).get("content")).items():
                yield f"response {status} {media}", _dict(content).get("schema")


@dataclass(frozen=True, slots=True)
class _Pair:
    """One learned endpoint and the declared operation it matched."""

    spec: _Spec
    operation: _Declared
    endpoint: Endpoint

    def finding(
        self, kind: str, location: str, name: str, learned: str = "", declared: str = ""
    ) -> Finding:
        return Finding(
            "drift",
            self.operation.method,
            self.operation.path,
            template=self.endpoint.template,
            kind=kind,
            location=location,
            name=name,
            learned_type=learned,
            declared_type=declared,
        )

    def drift(self) -> Iterator[Finding]:
        yield from self._parameters()
        yield from self._bodies()

    def _parameters(self) -> Iterator[Finding]:
        keys = self.spec.api_keys()
        endpoint, parameters = self.endpoint, self.operation.parameters
        for where, seen in zip(
            _WHERE, (endpoint.query, endpoint.headers, endpoint.cookies), strict=True
        ):
            declared = {_key(where, str(p["name"])): p for p in parameters if p.get("in") == where}
            for name in sorted(seen):
                parameter = declared.get(_key(where, name))
                if parameter is not None:
                    yield from self._parameter_type(parameter, seen[name], where, name)
                elif (where, _key(where, name)) not in keys:
                    yield self.finding("parameter", where, name)
        for index, segment in enumerate(self.operation.segments):
            name = segment[1:-1]
            sketch = endpoint.path_params.get(index)
            if sketch is None or segment != "{" + name + "}":
                continue
            for parameter in parameters:
                if parameter.get("in") == "path" and parameter["name"] == name:
                    yield from self._parameter_type(parameter, sketch, "path", name)

    def _parameter_type(
        self, parameter: dict[str, Any], sketch: SchemaSketch, where: str, name: str
    ) -> Iterator[Finding]:
        schema = self.spec.schema(parameter.get("schema", parameter))
        if schema.get("type") == "array":
            schema = self.spec.schema(schema.get("items"))
        declared = _types(schema)
        fields = sketch.fields()
        if declared is None or not fields or "string" in declared:
            return  # every parameter value is text: a string takes them all
        learned = set(fields[0].type.split("|"))
        if learned == {"string"} and sketch.to_json_schema().get("x-max-length-seen") == 0:
            return  # only ever sent empty (a placeholder): says nothing of the type
        if not _compatible(learned, declared):
            yield self.finding("type", where, name, fields[0].type, _joined(declared))

    def _bodies(self) -> Iterator[Finding]:
        declared: dict[str, Any] = {}
        for location, schema in self.spec.bodies(self.operation):
            declared.setdefault(location, schema)
        learned = [(f"request {m}", s) for m, s in self.endpoint.request_body.items()]
        learned += [(f"response {k}", s) for k, s in self.endpoint.responses.items()]
        for location, sketch in sorted(learned, key=lambda item: item[0]):
            if "json" not in location:
                continue
            schema = _declared_body(declared, location)
            if schema is not None:
                yield from self._fields(location, schema, sketch)

    def _fields(self, location: str, schema: Any, sketch: SchemaSketch) -> Iterator[Finding]:
        reported: set[str] = set()
        for field in sketch.fields():
            steps = _steps(field.path)
            if steps is None:
                continue
            node: dict[str, Any] = self.spec.schema(schema)
            for index, (step, _) in enumerate(steps):
                node = self._step(node, step)
                if node is _UNKNOWN:
                    break
                if node is _UNDECLARED:
                    name = "$" + "".join(raw for _, raw in steps[: index + 1])
                    if name not in reported:
                        reported.add(name)
                        yield self.finding("field", location, name)
                    break
            else:
                types = None if _combined(node) else _types(node)
                learned = set(field.type.split("|"))
                if types is not None and not _compatible(learned, types):
                    yield self.finding("type", location, field.path, field.type, _joined(types))

    def _step(self, node: dict[str, Any], step: str) -> dict[str, Any]:
        if _combined(node) or step == "*":
            return _UNKNOWN
        if step == "[*]":
            items = node.get("items")
            return self.spec.schema(items) if isinstance(items, dict) else _UNKNOWN
        properties = node.get("properties")
        if not isinstance(properties, dict) or not properties:
            return _UNKNOWN
        if step in properties:
            return self.spec.schema(properties[step])
        extra = node.get("additionalProperties", False)
        return _UNDECLARED if extra is False else _UNKNOWN


_UNKNOWN: Final[dict[str, Any]] = {}
_UNDECLARED: Final[dict[str, Any]] = {}


def _key(where: str, name: str) -> str:
    return name.lower() if where == "header" else name


def _media(operation: dict[str, Any], document: dict[str, Any], key: str) -> list[str]:
    media = operation.get(key, document.get(key))
    return [str(m) for m in media] if isinstance(media, list) and media else ["application/json"]


def _declared_body(declared: dict[str, Any], location: str) -> Any:
    """The declared schema for a learned body: same status (else `2XX`, else `default`),
    same media type (else any JSON one)."""
    side, _, rest = location.partition(" ")
    if side == "request":
        statuses = [""]
        media = rest
    else:
        status, _, media = rest.partition(" ")
        statuses = [status, f"{status[:1]}XX", f"{status[:1]}xx", "default"]
    for status in statuses:
        head = f"{side} {status} " if status else f"{side} "
        if head + media in declared:
            return declared[head + media]
        for key in sorted(declared):
            if key.startswith(head) and "json" in key[len(head) :] and " " not in key[len(head) :]:
                return declared[key]
    return None


def _steps(path: str) -> list[tuple[str, str]] | None:
    """`$.a['b c'][*]` as `[("a", ".a"), ("b c", "['b c']"), ("[*]", "[*]")]`."""
    steps = []
    rest = path[1:]
    while rest:
        match = _STEP.match(rest)
        if match is None:
            return None
        raw = match.group(0)
        if raw == "[*]":
            steps.append(("[*]", raw))
        elif match.group(1) is not None:
            steps.append((match.group(1), raw))
        else:
            steps.append((re.sub(r"\\(.)", r"\1", match.group(2)), raw))
        rest = rest[len(raw) :]
    return steps


def _combined(node: dict[str, Any]) -> bool:
    return "oneOf" in node or "anyOf" in node


def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a declared schema allows, or None when it does not say."""
    declared = schema.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list) and declared:
        types = {str(t) for t in declared}
    elif isinstance(schema.get("properties"), dict):
        types = {"object"}
    elif isinstance(schema.get("items"), dict):
        types = {"array"}
    else:
        return None
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        types.add("null")
    return types


def _compatible(learned: set[str], declared: set[str]) -> bool:
    return all(t in declared or (t == "integer" and "number" in declared) for t in learned)


def _joined(types: set[str]) -> str:
    return "|".join(sorted(types, key=lambda t: (TYPES.index(t) if t in TYPES else 99, t)))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
