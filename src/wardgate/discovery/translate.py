"""OpenAPI schema objects translated to JSON Schema draft 7, the dialect the validators run.

`SchemaTranslator` reads a parsed OpenAPI 3.0/3.1 or Swagger 2.0 document's schemas: local
`$ref`s are inlined, only recursive ones become shared `definitions`; `nullable` becomes a
type union, 3.0 boolean `exclusiveMinimum` the numeric form, 3.1 `prefixItems` the tuple form
of `items`; keywords draft 7 cannot express are dropped and listed in `notes`. With
`SpecOptions.close_objects`, objects that list properties reject others (mass assignment),
`readOnly` properties may not be sent, and unbounded strings and arrays get the default
limits. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from wardgate.discovery.json_schema import READ_ONLY, SUBSCHEMA_LISTS, SpecError

__all__ = [
    "KEEP",
    "SchemaTranslator",
    "SpecOptions",
    "escape_pointer",
    "param_kind",
    "swagger_param_schema",
]

KEEP = frozenset({
    "type", "enum", "const", "multipleOf", "maximum", "minimum", "exclusiveMaximum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxProperties", "minProperties", "required", "format", "additionalItems",
    "contains", "propertyNames", "additionalProperties",
})  # fmt: skip
_UNSUPPORTED = frozenset({
    "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
    "dependentSchemas", "contentSchema",
})  # fmt: skip
_MAX_MERGE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class SpecOptions:
    """How strictly to read the spec: closed objects, default string and array limits."""

    close_objects: bool = True
    max_string: int | None = 65536
    max_items: int | None = 10000


class SchemaTranslator:
    """OpenAPI schema objects -> draft 7, sharing one `definitions` table across operations."""

    def __init__(self, document: Mapping[str, Any], options: SpecOptions, v31: bool) -> None:
        self.document = document
        self.options = options
        self.v31 = v31
        self.definitions: dict[str, Any] = {}
        self.notes: list[str] = []
        self._refs: dict[tuple[str, bool], str] = {}
        self._inlined: dict[tuple[str, bool], Any] = {}
        self._open: set[tuple[str, bool]] = set()
        self._recursive: set[tuple[str, bool]] = set()

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SpecError(f"remote $ref {ref[:200]!r} is not supported: bundle the spec first")
        node: Any = self.document
        for raw in ref[1:].split("/")[1:]:
            key = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, Mapping) and key in node:
                node = node[key]
            else:
                raise SpecError(f"$ref {ref[:200]!r} points nowhere")
        return node

    def deref(self, node: Any, where: str, depth: int = 0) -> Mapping[str, Any]:
        while isinstance(node, Mapping) and "$ref" in node:
            if depth > _MAX_MERGE_DEPTH:
                raise SpecError(f"{where}: $ref chain too long")
            node, depth = self.pointer(str(node["$ref"])), depth + 1
        if not isinstance(node, Mapping):
            raise SpecError(f"{where}: expected an object")
        return node

    def root(self, schema: Any, where: str) -> dict[str, Any]:
        translated = self.schema(schema, where, closed=self.options.close_objects)
        return translated if isinstance(translated, dict) else {"not": {}} if not translated else {}

    def resolve_type(self, schema: Any) -> Any:
        try:
            node = self.deref(schema, "parameter")
        except SpecError:
            return None
        return node.get("type")

    def schema(self, node: Any, where: str, *, closed: bool, depth: int = 0) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, Mapping):
            raise SpecError(f"{where}: a schema must be an object")
        if depth > 64:
            raise SpecError(f"{where}: schema nested too deeply")
        if "$ref" in node:
            target = self._ref(str(node["$ref"]), closed)
            rest = {k: v for k, v in node.items() if k not in ("$ref", "nullable")}
            out: dict[str, Any] = target
            if self.v31 and any(k in KEEP or k in SUBSCHEMA_LISTS for k in rest):
                out = {"allOf": [target, self.schema(rest, where, closed=False, depth=depth + 1)]}
            return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") else out
        out = {}
        for key, value in node.items():
            if key in KEEP and key not in ("additionalProperties", "additionalItems"):
                out[key] = value
            elif key in _UNSUPPORTED:
                self.notes.append(f"{where}: `{key}` is not enforced")
        _numeric_bounds(out, node)
        if out.get("type") == "file":
            del out["type"]
        if node.get("nullable") or node.get("x-nullable"):
            types = out.get("type")
            if isinstance(types, str):
                out["type"] = [types, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        sub = depth + 1
        for key in ("additionalProperties", "additionalItems", "contains", "propertyNames"):
            if isinstance(node.get(key), bool | Mapping):
                out[key] = self.schema(node[key], f"{where}/{key}", closed=closed, depth=sub)
        for key in ("not", "if", "then", "else"):
            if key in node:
                out[key] = self.schema(node[key], f"{where}/{key}", closed=False, depth=sub)
        if "prefixItems" in node:
            out["items"] = [
                self.schema(s, f"{where}/prefixItems", closed=closed, depth=sub)
                for s in node["prefixItems"]
            ]
            if "items" in node:
                out["additionalItems"] = self.schema(
                    node["items"], f"{where}/items", closed=closed, depth=sub
                )
        elif "items" in node:
            items = node["items"]
            out["items"] = (
                [self.schema(s, f"{where}/items", closed=closed, depth=sub) for s in items]
                if isinstance(items, list)
                else self.schema(items, f"{where}/items", closed=closed, depth=sub)
            )
        if "dependentRequired" in node:
            out["dependencies"] = dict(node["dependentRequired"])
        composed = [k for k in SUBSCHEMA_LISTS if k in node]
        for key in composed:
            # The parts stay open: the closing is done once, here, over all their properties.
            out[key] = [
                self.schema(s, f"{where}/{key}/{i}", closed=False, depth=sub)
                for i, s in enumerate(node[key])
            ]
        properties = node.get("properties")
        read_only: set[str] = set()
        if isinstance(properties, Mapping):
            out["properties"] = {}
            for name, prop in properties.items():
                if isinstance(prop, Mapping) and prop.get("readOnly"):
                    read_only.add(name)
                    out["properties"][name] = {"not": {}, READ_ONLY: True}
                    continue
                out["properties"][name] = self.schema(
                    prop, f"{where}/properties/{escape_pointer(name)}", closed=closed, depth=sub
                )
        if read_only and isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r not in read_only]
        if "patternProperties" in node:
            out["patternProperties"] = {
                pattern: self.schema(s, f"{where}/patternProperties", closed=closed, depth=sub)
                for pattern, s in node["patternProperties"].items()
            }
        if closed and "additionalProperties" not in node:
            names = self._property_names(node, 0)
            if names:
                known = out.setdefault("properties", {})
                for name in names:
                    known.setdefault(name, {})
                out["additionalProperties"] = False
        self._limits(out)
        return out

    def _limits(self, out: dict[str, Any]) -> None:
        types = out.get("type")
        types = [types] if isinstance(types, str) else types or []
        limit = self.options.max_string
        if "string" in types and "maxLength" not in out and "enum" not in out and limit:
            out["maxLength"] = limit
        if "array" in types and "maxItems" not in out and self.options.max_items is not None:
            out["maxItems"] = self.options.max_items

    def _property_names(self, node: Any, depth: int) -> set[str]:
        """Every property an object schema allows, through $refs and allOf/oneOf/anyOf."""
        if depth > _MAX_MERGE_DEPTH or not isinstance(node, Mapping):
            return set()
        node = self.deref(node, "schema")
        names = set(node.get("properties") or {})
        for key in SUBSCHEMA_LISTS:
            for part in node.get(key) or []:
                names |= self._property_names(part, depth + 1)
        return names

    def _ref(self, ref: str, closed: bool) -> Any:
        """Inline the target; only a reference back into a schema being translated becomes a
        shared definition. So a `$ref` left in a translated schema means recursion: `_run`
        bounds the depth of values checked against those, and error paths stay plain."""
        ident = (ref, closed)
        key = self._refs.setdefault(ident, f"s{len(self._refs)}")
        if ident in self._open:
            self._recursive.add(ident)
            return {"$ref": f"#/definitions/{key}"}
        if ident not in self._inlined:
            self._open.add(ident)
            try:
                translated = self.schema(self.pointer(ref), ref, closed=closed)
            finally:
                self._open.discard(ident)
            self._inlined[ident] = translated
            if ident in self._recursive:
                self.definitions[key] = translated
        return self._inlined[ident]


def _numeric_bounds(out: dict[str, Any], node: Mapping[str, Any]) -> None:
    """OpenAPI 3.0 (draft 4) boolean exclusive bounds -> the numeric draft 6+ form."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in node:
                out[exclusive] = out.pop(bound)


def swagger_param_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in param.items() if k in KEEP or k == "items"}


def param_kind(types: Any) -> str | None:
    types = [types] if isinstance(types, str) else types or []
    for kind in ("array", "integer", "number", "boolean"):
        if kind in types:
            return kind
    return None


def escape_pointer(key: Any) -> str:
    """`key` as a JSON Pointer reference token (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")
