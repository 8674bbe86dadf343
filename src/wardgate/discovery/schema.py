"""JSON schema inference from samples: a bounded, mergeable summary of one body position.

`SchemaSketch.add` takes parsed JSON values (request or response bodies, one at a time);
`merge` folds in a sketch learned elsewhere (another worker, another process, a stored
inventory) so that the result equals one sketch that saw both sample sets. `to_json_schema`
renders JSON Schema 2020-12 / OpenAPI 3.1: `type` (a list when mixed, "null" included),
`properties` and `required` (keys present in every object sample), `items`, a string
`format` when every string sample matched it, an `enum` only when the values look stable,
and the longest string and array seen as `x-max-length-seen` / `x-max-items-seen`.
`fields` flattens the sketch into (JSONPath, type) pairs for drift diffs and labels.

Every dimension is bounded by `SketchLimits` (depth, properties per object, nodes per
sketch, key length, tracked enum values, array elements sampled), so a huge or hostile
body costs bounded memory and never recurses deeper than `max_depth`: positions below it
record their type only, keys past the caps are summarised in `additionalProperties`.

`infer_scalar` and `SchemaSketch.add_text` type string parameters (query, header, path
values): "42" is an integer, "true" a boolean, a UUID a string with format "uuid".

    >>> sketch = SchemaSketch()
    >>> sketch.add({"id": 1, "email": "a@example.com"})
    >>> sketch.add({"id": 2, "email": None})
    >>> sketch.to_json_schema()["properties"]["email"]["type"]
    ['string', 'null']
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

__all__ = [
    "STATE_VERSION",
    "TYPES",
    "Field",
    "SchemaSketch",
    "SketchLimits",
    "infer_scalar",
    "string_format",
]

STATE_VERSION = 1
# Canonical order of JSON types in rendered schemas and field types.
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
# Format checks are skipped past this length: such a string is none of these formats.
_MAX_FORMAT_LENGTH = 2048
# Longer digit strings are identifiers, and int() refuses past 4300 digits anyway.
_MAX_NUMBER_LENGTH = 64

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s]+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def string_format(text: str) -> str | None:
    """The JSON Schema `format` `text` satisfies, or None; the formats never overlap."""
    if len(text) > _MAX_FORMAT_LENGTH:
        return None
    if _DATE_TIME.fullmatch(text):
        try:
            datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            return None
        return "date-time"
    if _DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return "date"
    if _UUID.fullmatch(text):
        return "uuid"
    if _EMAIL.fullmatch(text):
        return "email"
    if _URI.fullmatch(text):
        return "uri"
    if _IPV4.fullmatch(text):
        return "ipv4" if _is_ip(text, ipaddress.IPv4Address) else None
    if ":" in text and _IPV6.fullmatch(text):
        return "ipv6" if _is_ip(text, ipaddress.IPv6Address) else None
    return None


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _parse_text(text: str) -> Any:
    """The typed value a parameter string stands for: int, float, bool or the string."""
    if len(text) > _MAX_NUMBER_LENGTH:
        return text
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def infer_scalar(text: str) -> dict[str, Any]:
    """The JSON schema of one parameter value given as text.

    Integers (no leading zeros, which mark identifiers such as "007"), numbers, booleans
    ("true"/"false", any case), then strings with the format they match, if any.
    """
    value = _parse_text(text)
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    fmt = string_format(text)
    return {"type": "string", "format": fmt} if fmt else {"type": "string"}


@dataclass(frozen=True, slots=True)
class SketchLimits:
    """Bounds on one sketch and the thresholds for calling string values an enum.

    An enum is rendered when at least `enum_min_samples` strings were seen, at most
    `enum_max_values` distinct values, each seen `enum_min_count` times or more, none
    longer than `enum_max_length`; tracking stops for good past those caps.
    """

    max_depth: int = 16
    max_properties: int = 200
    max_nodes: int = 4096
    max_key_length: int = 256
    max_array_sample: int = 1000
    enum_max_values: int = 8
    enum_min_samples: int = 5
    enum_min_count: int = 2
    enum_max_length: int = 64


class Field(NamedTuple):
    """One flattened position: JSONPath (`$.user.email`, `$.items[*].id`) and its type,
    the JSON types seen joined by "|" in canonical order (`string|null`)."""

    path: str
    type: str


_MIXED = "*"


@dataclass(slots=True, eq=False)
class _Node:
    count: int = 0
    types: dict[str, int] = field(default_factory=dict)
    fmt: str | None = None  # common string format, _MIXED when strings disagree
    max_length: int = -1
    max_items: int = -1
    values: dict[str, int] | None = field(default_factory=dict)  # None: past enum caps
    properties: dict[str, _Node] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    extra: _Node | None = None
    truncated: bool = False
    items: _Node | None = None


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


class SchemaSketch:
    """A bounded, mergeable summary of the JSON values seen at one position.

    Not thread-safe: give each worker its own sketch and `merge` them. `add` raises
    `TypeError` only for values JSON cannot hold (a set, bytes); it never raises for shape.
    """

    __slots__ = ("_nodes", "_root", "limits")

    def __init__(self, limits: SketchLimits | None = None) -> None:
        self.limits = limits or SketchLimits()
        self._root = _Node()
        self._nodes = 1

    @property
    def count(self) -> int:
        """How many values were added (merged sketches included)."""
        return self._root.count

    @property
    def node_count(self) -> int:
        """How many positions the sketch tracks; never above `limits.max_nodes`."""
        return self._nodes

    def add(self, value: Any) -> None:
        """Record one parsed JSON value."""
        self._add(self._root, value, 0)

    def add_text(self, text: str) -> None:
        """Record one parameter value given as text, typed as `infer_scalar` types it."""
        self._add(self._root, _parse_text(text), 0)

    def merge(self, other: SchemaSketch) -> None:
        """Fold in everything `other` saw; `other` is left unchanged."""
        if other is self:
            other = SchemaSketch.from_state(self.to_state(), self.limits)
        self._merge(self._root, other._root, 0)

    def _new_node(self) -> _Node | None:
        if self._nodes >= self.limits.max_nodes:
            return None
        self._nodes += 1
        return _Node()

    def _child(self, node: _Node, key: str) -> _Node | None:
        """The node for `key` of an object node, or its extra node when past the caps."""
        child = node.properties.get(key)
        if child is not None:
            return child
        if len(node.properties) < self.limits.max_properties and (
            len(key) <= self.limits.max_key_length
        ):
            child = self._new_node()
            if child is not None:
                node.properties[key] = child
                return child
        if node.extra is None:
            node.extra = self._new_node()
        if node.extra is None:
            node.truncated = True
        return node.extra

    def _add(self, node: _Node, value: Any, depth: int) -> None:
        kind = _type_of(value)
        node.count += 1
        node.types[kind] = node.types.get(kind, 0) + 1
        if kind == "string":
            self._add_string(node, value)
        elif kind == "array":
            node.max_items = max(node.max_items, len(value))
            if depth < self.limits.max_depth and value:
                if node.items is None:
                    node.items = self._new_node()
                if node.items is not None:
                    for item in value[: self.limits.max_array_sample]:
                        self._add(node.items, item, depth + 1)
        elif kind == "object" and depth < self.limits.max_depth:
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"not a JSON object key: {type(key).__name__}")
                child = self._child(node, key)
                if key in node.properties:
                    node.present[key] = node.present.get(key, 0) + 1
                if child is not None:
                    self._add(child, item, depth + 1)

    def _add_string(self, node: _Node, text: str) -> None:
        node.max_length = max(node.max_length, len(text))
        fmt = string_format(text) or _MIXED
        if node.fmt is None:
            node.fmt = fmt
        elif node.fmt != fmt:
            node.fmt = _MIXED
        if node.values is not None:
            if len(text) > self.limits.enum_max_length:
                node.values = None
            else:
                node.values[text] = node.values.get(text, 0) + 1
                if len(node.values) > self.limits.enum_max_values:
                    node.values = None

    def _merge(self, node: _Node, other: _Node, depth: int) -> None:
        node.count += other.count
        for kind, n in other.types.items():
            node.types[kind] = node.types.get(kind, 0) + n
        if other.fmt is not None:
            node.fmt = other.fmt if node.fmt in (None, other.fmt) else _MIXED
        node.max_length = max(node.max_length, other.max_length)
        node.max_items = max(node.max_items, other.max_items)
        if node.values is not None:
            if other.values is None:
                node.values = None
            else:
                for text, n in other.values.items():
                    node.values[text] = node.values.get(text, 0) + n
                if len(node.values) > self.limits.enum_max_values or any(
                    len(text) > self.limits.enum_max_length for text in node.values
                ):
                    node.values = None
        if depth >= self.limits.max_depth:
            return
        for key, child in other.properties.items():
            target = self._child(node, key)
            if key in node.properties:
                node.present[key] = node.present.get(key, 0) + other.present.get(key, 0)
            if target is not None:
                self._merge(target, child, depth + 1)
        if other.extra is not None:
            if node.extra is None:
                node.extra = self._new_node()
            if node.extra is None:
                node.truncated = True
            else:
                self._merge(node.extra, other.extra, depth + 1)
        if other.items is not None:
            if node.items is None:
                node.items = self._new_node()
            if node.items is not None:
                self._merge(node.items, other.items, depth + 1)
        node.truncated = node.truncated or other.truncated

    def to_json_schema(self) -> dict[str, Any]:
        """The schema of everything seen; `{}` (anything) before the first sample."""
        return self._schema(self._root)

    def _schema(self, node: _Node) -> dict[str, Any]:
        if not node.count:
            return {}
        types = _types(node)
        schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
        if "string" in types:
            if node.fmt not in (None, _MIXED):
                schema["format"] = node.fmt
            elif (enum := self._enum(node)) is not None:
                schema["enum"] = [*enum, None] if "null" in types else enum
            schema["x-max-length-seen"] = node.max_length
        if "object" in types and (node.properties or node.extra is not None):
            schema["properties"] = {k: self._schema(v) for k, v in node.properties.items()}
            objects = node.types["object"]
            required = [k for k in node.properties if node.present.get(k, 0) >= objects]
            if required:
                schema["required"] = required
            if node.extra is not None:
                schema["additionalProperties"] = self._schema(node.extra)
        if "array" in types:
            if node.items is not None:
                schema["items"] = self._schema(node.items)
            schema["x-max-items-seen"] = node.max_items
        return schema

    def _enum(self, node: _Node) -> list[str] | None:
        limits = self.limits
        values = node.values
        if not values or node.types.get("string", 0) < limits.enum_min_samples:
            return None
        if any(kind not in ("string", "null") for kind in node.types):
            return None  # an enum of the strings would reject the other values
        if any(n < limits.enum_min_count for n in values.values()):
            return None
        return sorted(values)

    def fields(self) -> list[Field]:
        """Every position seen, depth first, properties in first-seen order."""
        out: list[Field] = []
        self._fields(self._root, "$", out)
        return out

    def _fields(self, node: _Node, path: str, out: list[Field]) -> None:
        if not node.count:
            return
        out.append(Field(path, "|".join(_types(node))))
        for key, child in node.properties.items():
            step = f".{key}" if _IDENT.fullmatch(key) else "[" + _quote(key) + "]"
            self._fields(child, path + step, out)
        if node.extra is not None:
            self._fields(node.extra, path + ".*", out)
        if node.items is not None:
            self._fields(node.items, path + "[*]", out)

    def to_state(self) -> dict[str, Any]:
        """A compact JSON-able form, read back by `from_state` (limits are not stored)."""
        return {"v": STATE_VERSION, "root": _dump(self._root)}

    @classmethod
    def from_state(cls, state: Any, limits: SketchLimits | None = None) -> SchemaSketch:
        """The sketch `to_state` wrote, re-bounded by `limits`.

        Raises `ValueError` when `state` is not a state of this version, so a corrupt
        store record is a fault and never silently an empty sketch.
        """
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            raise ValueError(f"not a schema sketch state of version {STATE_VERSION}")
        sketch = cls(limits)
        source = _load(state.get("root"), 0, sketch.limits.max_depth)
        sketch._merge(sketch._root, source, 0)
        return sketch


def _types(node: _Node) -> list[str]:
    """The node's JSON types in canonical order; "integer" folds into "number"."""
    types = [t for t in TYPES if t in node.types]
    if "integer" in types and "number" in types:
        types.remove("integer")
    return types


def _quote(key: str) -> str:
    return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dump(node: _Node) -> dict[str, Any]:
    out: dict[str, Any] = {"n": node.count, "t": node.types}
    if node.fmt is not None:
        out["f"] = node.fmt
    if node.max_length >= 0:
        out["l"] = node.max_length
    if node.max_items >= 0:
        out["i"] = node.max_items
    if node.values is None or node.values:
        out["e"] = node.values
    if node.properties:
        out["p"] = {k: [node.present.get(k, 0), _dump(v)] for k, v in node.properties.items()}
    if node.extra is not None:
        out["x"] = _dump(node.extra)
    if node.truncated:
        out["tr"] = True
    if node.items is not None:
        out["a"] = _dump(node.items)
    return out


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"schema sketch state: {name!r} is not a count")
    return value


def _counts(value: Any, name: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"schema sketch state: {name!r} is not a map of counts")
    return {str(k): _int(v, name) for k, v in value.items()}


def _load(data: Any, depth: int, max_depth: int) -> _Node:
    """Parse one node of a state; children below `max_depth` are dropped, not parsed."""
    if not isinstance(data, dict):
        raise ValueError("schema sketch state: a node is not an object")
    types = _counts(data.get("t", {}), "t")
    if any(kind not in TYPES for kind in types):
        raise ValueError("schema sketch state: unknown JSON type")
    fmt = data.get("f")
    if fmt is not None and not isinstance(fmt, str):
        raise ValueError("schema sketch state: 'f' is not a string")
    values = data.get("e", {})
    node = _Node(
        count=_int(data.get("n", 0), "n"),
        types=types,
        fmt=fmt,
        max_length=_int(data.get("l", -1), "l"),
        max_items=_int(data.get("i", -1), "i"),
        values=None if values is None else _counts(values, "e"),
        truncated=data.get("tr") is True,
    )
    if depth >= max_depth:
        return node
    properties = data.get("p", {})
    if not isinstance(properties, dict):
        raise ValueError("schema sketch state: 'p' is not an object")
    for key, entry in properties.items():
        if not isinstance(entry, list) or len(entry) != 2:
            raise ValueError("schema sketch state: a property is not [count, node]")
        node.present[key] = _int(entry[0], "p")
        node.properties[key] = _load(entry[1], depth + 1, max_depth)
    if "x" in data:
        node.extra = _load(data["x"], depth + 1, max_depth)
    if "a" in data:
        node.items = _load(data["a"], depth + 1, max_depth)
    return node
