"""The inventory as an OpenAPI 3.1 document, and documents written as JSON or YAML.

Paths are the full paths seen in traffic (the `servers` entries hold scheme and host
only); an operation lists its path, query, header and cookie parameters (required when
every call sent them), its request bodies and responses per content type with the merged
schemas, and the security schemes seen. What OpenAPI has no field for goes under
`x-wardgate`: call and error counts, first and last seen, AI kind, models, consumers and
the fields where sensitive data was seen. The same inventory always gives the same
document, byte for byte.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from wardgate.discovery.inventory import Endpoint
from wardgate.discovery.schema import SchemaSketch

__all__ = ["dump_document", "load_document", "to_openapi"]

_PARAM = re.compile(r"\{([^}]+)\}")
_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "basic": {"type": "http", "scheme": "basic"},
    "digest": {"type": "http", "scheme": "digest"},
}


def to_openapi(endpoints: list[Endpoint], *, title: str = "Discovered API") -> dict[str, Any]:
    """One OpenAPI 3.1 document for `endpoints` (several hosts become several servers)."""
    servers = sorted({f"{e.scheme}://{e.host}" for e in endpoints if e.host})
    paths: dict[str, dict[str, Any]] = {}
    schemes: dict[str, dict[str, Any]] = {}
    for endpoint in sorted(endpoints, key=lambda e: (e.template, e.method, e.host)):
        operation = _operation(endpoint, schemes)
        item = paths.setdefault(endpoint.template, {})
        method = endpoint.method.lower()
        if method in item:  # the same operation on two hosts: one entry, counts summed
            item[method]["x-wardgate"]["calls"] += endpoint.count
            continue
        item[method] = operation
        if len(servers) > 1:
            item.setdefault("servers", [])
            server = {"url": f"{endpoint.scheme}://{endpoint.host}"}
            if server not in item["servers"]:
                item["servers"].append(server)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "discovered"},
    }
    if servers:
        document["servers"] = [{"url": url} for url in servers]
    document["paths"] = {path: paths[path] for path in sorted(paths)}
    if schemes:
        document["components"] = {"securitySchemes": dict(sorted(schemes.items()))}
    return document


def _operation(endpoint: Endpoint, schemes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {}
    parameters = _path_parameters(endpoint)
    for where, named in (
        ("query", endpoint.query),
        ("header", endpoint.headers),
        ("cookie", endpoint.cookies),
    ):
        for name in sorted(named):
            sketch = named[name]
            parameters.append(
                {
                    "name": name,
                    "in": where,
                    "required": sketch.count >= endpoint.count,
                    "schema": _clean(sketch.to_json_schema()),
                }
            )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.request_body or endpoint.request_types:
        content = {
            media: {"schema": _clean(endpoint.request_body[media].to_json_schema())}
            if media in endpoint.request_body
            else {}
            for media in sorted(set(endpoint.request_body) | set(endpoint.request_types))
        }
        operation["requestBody"] = {"content": content}
    operation["responses"] = _responses(endpoint)
    security = [_scheme(name, schemes) for name in sorted(endpoint.auth)]
    if security:
        operation["security"] = [{name: []} for name in sorted(set(security))]
    operation["x-wardgate"] = _extension(endpoint)
    return operation


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters = []
    segments = [s for s in endpoint.template.split("/") if s]
    for index, segment in enumerate(segments):
        for name in _PARAM.findall(segment):
            sketch = endpoint.path_params.get(index)
            schema = _clean(sketch.to_json_schema()) if sketch is not None else {}
            schema.pop("enum", None)  # a handful of ids is not an enumeration
            parameters.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": schema or {"type": "string"},
                }
            )
    return parameters


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code in sorted(endpoint.statuses):
        seen = endpoint.statuses[code]
        responses[str(code)] = {"description": f"Seen {seen} time{'' if seen == 1 else 's'}."}
    for key in sorted(endpoint.responses):
        status, _, media = key.partition(" ")
        response = responses.setdefault(status, {"description": "Seen in traffic."})
        sketch: SchemaSketch = endpoint.responses[key]
        response.setdefault("content", {})[media] = (
            {"schema": _clean(sketch.to_json_schema())} if sketch.count else {}
        )
    return responses or {"default": {"description": "No response was seen."}}


def _scheme(seen: str, schemes: dict[str, dict[str, Any]]) -> str:
    """The security scheme name for an auth marker from the inventory, registered once."""
    if seen in _SCHEMES:
        name = f"{seen}Auth"
        schemes[name] = _SCHEMES[seen]
        return name
    if seen.startswith("apiKey:"):
        _, where, key = seen.split(":", 2)
        name = f"apiKey_{where}_{re.sub(r'[^A-Za-z0-9_]', '_', key)}"
        schemes[name] = {"type": "apiKey", "in": where, "name": key}
        return name
    if seen.startswith("cookie:"):
        key = seen.split(":", 1)[1]
        name = f"cookie_{re.sub(r'[^A-Za-z0-9_]', '_', key)}"
        schemes[name] = {"type": "apiKey", "in": "cookie", "name": key}
        return name
    name = "authorization"
    schemes[name] = {"type": "apiKey", "in": "header", "name": "Authorization"}
    return name


def _extension(endpoint: Endpoint) -> dict[str, Any]:
    extension: dict[str, Any] = {"calls": endpoint.count, "errors": endpoint.errors}
    if endpoint.statuses:
        extension["errorRate"] = round(endpoint.errors / sum(endpoint.statuses.values()), 4)
    if endpoint.first_seen:
        extension["firstSeen"] = _iso(endpoint.first_seen)
        extension["lastSeen"] = _iso(endpoint.last_seen)
    if endpoint.ai_kind:
        extension["ai"] = {"kind": endpoint.ai_kind, "models": sorted(endpoint.models)}
    if endpoint.consumers:
        extension["consumers"] = sorted(endpoint.consumers)
    if endpoint.sensitive:
        extension["sensitive"] = {k: v for k, v in sorted(endpoint.sensitive.items())}
    return extension


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """A sketch's schema as OpenAPI wants it: our statistics renamed as extensions."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties",) and isinstance(value, dict):
            out[key] = {k: _clean(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _clean(value)
        elif key.startswith("x-"):
            out["x-wardgate-" + key[2:]] = value
        else:
            out[key] = value
    return out


def dump_document(document: dict[str, Any], path: Path) -> None:
    """Write `document` as JSON or YAML, as the extension says (`.json`, `.yaml`, `.yml`)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    elif suffix in (".yaml", ".yml"):
        path.write_text(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100),
            encoding="utf-8",
        )
    else:
        raise ValueError(f"{path.name}: the output must end in .json, .yaml or .yml")


def load_document(path: Path) -> dict[str, Any]:
    """An OpenAPI (or Swagger) document from a JSON or YAML file."""
    raw = path.read_bytes()
    document = orjson.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not an OpenAPI document")
    return document
