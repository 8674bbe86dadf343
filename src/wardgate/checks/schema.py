"""`schema`: positive security from an OpenAPI spec: only declared requests pass.

The spec (OpenAPI 3.0/3.1 or Swagger 2.0, YAML or JSON) is read and compiled when the
policy loads; a missing, unparsable or unenforceable spec (a remote `$ref`, say) fails the
load. In `request_headers` the request is matched to an operation under the spec's base
path (`servers[0]` or `basePath`): no template fits -> `unknown_endpoint` (404 by default),
a template fits but the method is not declared -> 405 with `Allow` (or what
`unknown_endpoint` says when it does not block). Path, query and header parameters are
coerced from strings and validated there too, before the body is read. In `request_body`
the body must have a declared content type (else 415), parse as JSON on JSON operations and
match the compiled schema (else 400). Each violation is one finding whose reason names the
place (`$.user.role: unknown field`, `query.limit: must be integer`), never the value.

`SchemaCheck.from_spec(document, config)` builds the check from an in-memory document: the
seam for a spec learned by discovery instead of read from a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from wardgate.checks.base import CheckSettings
from wardgate.decision import Decision, Finding, Location
from wardgate.discovery.inventory import load_store
from wardgate.discovery.openapi import to_openapi
from wardgate.discovery.validate import (
    CompiledSpec,
    Match,
    SpecError,
    SpecOptions,
    Violation,
    compile_spec,
)
from wardgate.errors import PolicyError, StoreError
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["Config", "SchemaCheck", "load_spec"]

Part = Literal["body", "query", "path", "headers"]
MAX_SPEC_BYTES = 32 * 1024 * 1024
_UNKNOWN_STATUS = {"block_404": 404, "block_403": 403}


class Config(CheckSettings):
    """Enforce a declared API spec per operation: endpoints, fields, types, sizes."""

    type: Literal["schema"] = "schema"
    spec: Path | None = Field(
        default=None,
        description="OpenAPI 3.0/3.1 or Swagger 2.0 file, YAML or JSON; a relative path is "
        "resolved against the gateway's working directory. Read once, at policy load.",
    )
    learned: str | None = Field(
        default=None,
        description="Instead of `spec`: the inventory store discovery learned into (a SQLite "
        "path or postgresql:// URL); its endpoints become the spec when the policy loads. "
        "Review what was learned (`wardgate inventory export`) before enforcing it.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Config:
        if (self.spec is None) == (self.learned is None):
            raise ValueError("give exactly one of `spec` (a file) and `learned` (a store)")
        return self

    unknown_endpoint: Literal["block_404", "block_403", "flag", "allow"] = Field(
        default="block_404",
        description="A request no path template of the spec fits: refuse it with 404 or "
        "403, record a flag, or let it pass unrecorded. An undeclared method on a known "
        "path is refused with 405 when this blocks.",
    )
    unknown_fields: Literal["reject", "allow"] = Field(
        default="reject",
        description="`reject`: object schemas that list properties and say nothing about "
        "`additionalProperties` accept no other fields (mass assignment).",
    )
    max_string: int | None = Field(
        default=65536, ge=1, description="maxLength for strings whose schema sets none."
    )
    max_items: int | None = Field(
        default=10000, ge=1, description="maxItems for arrays whose schema sets none."
    )
    validate_parts: list[Part] = Field(
        default_factory=lambda: list[Part](["body", "query", "path"]),
        alias="validate",
        min_length=1,
        description="What is validated against the spec: body, query, path, headers. The "
        "endpoint itself is always matched.",
    )


def load_spec(path: Path) -> dict[str, Any]:
    """The parsed document at `path`; raises `PolicyError` naming the file."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise ValueError(f"larger than {MAX_SPEC_BYTES} bytes")
        if path.suffix.lower() == ".json":
            document = json.loads(raw)
        else:
            document = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PolicyError([f"schema: spec {path}: {exc}"]) from None
    if not isinstance(document, dict):
        raise PolicyError([f"schema: spec {path}: not a mapping"])
    return document


def _learned_spec(store_url: str | None) -> dict[str, Any]:
    """The OpenAPI document of what discovery learned into a store."""
    try:
        endpoints = load_store(store_url or "").endpoints()
    except StoreError as exc:
        raise PolicyError([f"schema: learned store: {exc}"]) from None
    if not endpoints:
        raise PolicyError(["schema: learned store holds no endpoints yet"])
    return to_openapi(endpoints)


class SchemaCheck:
    def __init__(self, config: Config, compiled: CompiledSpec | None = None) -> None:
        self._config = config
        if compiled is None:
            source = config.spec or config.learned
            document = load_spec(config.spec) if config.spec else _learned_spec(config.learned)
            try:
                compiled = compile_spec(document, _options(config))
            except SpecError as exc:
                raise PolicyError([f"schema: spec {source}: {exc}"]) from None
        self.spec = compiled
        parts = frozenset(config.validate_parts)
        self._params = parts & {"query", "path", "headers"}
        self._body = "body" in parts
        self._key = f"schema:{id(self)}"
        phases = {Phase.REQUEST_HEADERS}
        if self._body:
            phases.add(Phase.REQUEST_BODY)
        self.phases = frozenset(phases)

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], config: Config) -> SchemaCheck:
        """Build from an in-memory document (a learned spec); raises `SpecError`."""
        return cls(config, compile_spec(document, _options(config)))

    async def check_request(self, ex: Exchange) -> Decision:
        if Phase.REQUEST_BODY in self.phases and self._key in ex.vault:
            match: Match | None = ex.vault.pop(self._key)
            if match is None or match.operation is None:
                return Decision.allow()
            content_type = ex.headers.get("content-type")
            return _decide(match.operation.check_body(ex.body, content_type))
        match = self.spec.match(ex.method, ex.path)
        if self._body:
            ex.vault[self._key] = match
        if match is None or match.operation is None:
            return self._unknown(ex, match)
        if not self._params:
            return Decision.allow()
        violation = match.operation.check_params(
            match.captured if "path" in self._params else (),
            ex.query_string if "query" in self._params else "",
            ex.headers if "headers" in self._params else {},
        )
        return _decide(violation)

    def _unknown(self, ex: Exchange, match: Match | None) -> Decision:
        policy = self._config.unknown_endpoint
        if policy == "allow":
            return Decision.allow()
        if match is None:
            finding = Finding(
                kind="schema.unknown_endpoint",
                rule="unknown_endpoint",
                location=Location("path"),
                reason="no path template of the spec fits",
            )
            status = _UNKNOWN_STATUS.get(policy)
            return Decision.flag([finding]) if status is None else Decision.block(status, [finding])
        finding = Finding(
            kind="schema.method",
            rule="method",
            location=Location("method"),
            reason=f"{ex.method} not declared on {match.template}",
        )
        if policy == "flag":
            return Decision.flag([finding])
        return Decision.block(405, [finding], (("Allow", ", ".join(match.allowed)),))


def _decide(violation: Violation | None) -> Decision:
    if violation is None:
        return Decision.allow()
    slot = f"json:{violation.where}" if violation.where.startswith("$") else violation.where
    finding = Finding(
        kind=violation.kind,
        rule=violation.rule,
        location=Location(slot),
        reason=violation.detail,
    )
    return Decision.block(violation.status, [finding])


def _options(config: Config) -> SpecOptions:
    return SpecOptions(
        close_objects=config.unknown_fields == "reject",
        max_string=config.max_string,
        max_items=config.max_items,
    )
