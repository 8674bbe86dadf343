"""Load a policy file: YAML with `${ENV}` interpolation, validated into a `Policy`.

Every problem is reported as `file:line: key.path: message`, so an operator can go
straight to it; nothing is ever silently replaced by a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wardgate.errors import PolicyError
from wardgate.policy.model import Policy

__all__ = ["load_policy", "parse_policy"]

ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
KeyPath = tuple[str | int, ...]


def load_policy(path: str | Path, environ: Mapping[str, str] | None = None) -> Policy:
    """Read, interpolate and validate the policy at `path`; raise `PolicyError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path}: cannot read policy: {exc}"]) from None
    return parse_policy(text, str(path), environ)


def parse_policy(
    text: str, source: str = "<policy>", environ: Mapping[str, str] | None = None
) -> Policy:
    environ = os.environ if environ is None else environ
    document = _Document(source, environ)
    data = document.read(text)
    if not isinstance(data, dict):
        raise PolicyError([f"{source}:1: the policy must be a mapping with a `version` key"])
    upstreams = data.get("upstreams")
    context = {"upstreams": set(upstreams)} if isinstance(upstreams, dict) else None
    try:
        return Policy.model_validate(data, context=context)
    except ValidationError as exc:
        raise PolicyError([document.describe(error, data) for error in exc.errors()]) from None


class _Document:
    """Turns YAML text into plain data while remembering the line of every key."""

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[str] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def read(self, text: str) -> Any:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise PolicyError([f"{self.source}:{line}: invalid YAML: {exc.problem}"]) from None
        except yaml.YAMLError as exc:
            raise PolicyError([f"{self.source}: invalid YAML: {exc}"]) from None
        if root is None:
            raise PolicyError([f"{self.source}:1: the policy is empty"])
        try:
            data = self._value(root, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise PolicyError([f"{self.source}:{line}: invalid value: {exc.problem}"]) from None
        except (ValueError, TypeError) as exc:
            # e.g. a date that does not exist (2001-99-99): the constructor raises plainly.
            raise PolicyError([f"{self.source}: invalid value: {exc}"]) from None
        if self.problems:
            raise PolicyError(self.problems)
        return data

    def _value(self, node: yaml.Node, path: KeyPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._scalars.construct_object(key_node, deep=True))
                if key in result:
                    line = key_node.start_mark.line + 1
                    self.problems.append(
                        f"{self.source}:{line}: {_dotted((*path, key))}: duplicate key"
                    )
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self._value(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._value(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self._scalars.construct_object(node, deep=True)
        if isinstance(value, str) and "$" in value:
            return self._interpolate(value, path)
        return value

    def _interpolate(self, value: str, path: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self.problems.append(
                f"{self.source}:{self.lines.get(path, 1)}: {_dotted(path)}: "
                f"environment variable {name} is not set"
            )
            return ""

        return ENV_REFERENCE.sub(replace, value)

    def describe(self, error: Mapping[str, Any], data: Any) -> str:
        path = _data_path(tuple(error["loc"]), data)
        line = self._line_of(path)
        message = str(error["msg"]).removeprefix("Value error, ")
        where = _dotted(path) or "(top level)"
        return f"{self.source}:{line}: {where}: {message}"

    def _line_of(self, path: KeyPath) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


def _data_path(loc: KeyPath, data: Any) -> KeyPath:
    """Follow pydantic's error location through the data, dropping union-member tags."""
    path: list[str | int] = []
    node = data
    for position, segment in enumerate(loc):
        child = _child(node, segment)
        if child is _MISSING and isinstance(node, dict) and position < len(loc) - 1:
            continue  # a discriminator tag such as `access`: not a key of the document
        node = None if child is _MISSING else child
        path.append(segment)
    return tuple(path)


_MISSING = object()


def _child(node: Any, segment: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(segment, _MISSING)
    if isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
        return node[segment]
    return _MISSING


def _dotted(path: KeyPath) -> str:
    out = ""
    for segment in path:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else segment)
    return out
