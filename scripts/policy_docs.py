"""Render docs/policy.md from the policy model's JSON Schema (`python scripts/policy_docs.py`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from wardgate.policy.model import Policy

OUT = Path(__file__).resolve().parents[1] / "docs" / "policy.md"


def _type(spec: dict[str, Any] | bool) -> str:
    if isinstance(spec, bool):  # JSON Schema's `true`: anything
        return "any"
    if "$ref" in spec:
        return f"[{spec['$ref'].rsplit('/', 1)[-1]}](#{spec['$ref'].rsplit('/', 1)[-1].lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"])
    if "oneOf" in spec:
        return " or ".join(_type(s) for s in spec["oneOf"])
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}))}"
    if kind == "object" and "additionalProperties" in spec:
        return f"map of {_type(spec['additionalProperties'])}"
    return str(kind)


def _default(spec: dict[str, Any], required: bool) -> str:
    if "default" in spec:
        return f"`{spec['default']}`"
    return "required" if required else "(built-in)"


def _section(name: str, definition: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", "", definition.get("description", "").strip(), ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    required = set(definition.get("required", []))
    for key, spec in definition.get("properties", {}).items():
        description = spec.get("description", "").replace("\n", " ")
        lines.append(
            f"| `{key}` | {_type(spec)} | {_default(spec, key in required)} | {description} |"
        )
    return [*lines, ""]


def render() -> str:
    schema = Policy.model_json_schema()
    lines = [
        "# Policy reference",
        "",
        "Generated from the policy model by `python scripts/policy_docs.py`; the same schema",
        "is printed by `wardgate policy-schema`. Do not edit by hand.",
        "",
    ]
    lines += _section("Policy", schema)
    for name in sorted(schema.get("$defs", {})):
        lines += _section(name, schema["$defs"][name])
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text() == text else 1)
    OUT.write_text(text)
