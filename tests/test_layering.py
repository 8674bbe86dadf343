"""The import arrows of DESIGN.md stay true: detectors know nothing of HTTP or policy,
the pipeline knows no check, the proxy knows no detector."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "wardgate"

FORBIDDEN = [
    # (package or module, prefixes it must not import)
    ("detect", ("wardgate.checks", "wardgate.proxy", "wardgate.policy", "aiohttp")),
    ("pipeline.py", ("wardgate.checks", "wardgate.proxy", "wardgate.policy", "wardgate.detect")),
    ("decision.py", ("wardgate.checks", "wardgate.proxy", "wardgate.policy", "aiohttp")),
    ("proxy", ("wardgate.detect", "wardgate.checks")),
    ("checks", ("wardgate.proxy", "wardgate.policy", "aiohttp")),
    ("providers", ("wardgate.proxy", "wardgate.checks", "wardgate.policy", "aiohttp")),
    ("discovery", ("wardgate.proxy", "wardgate.checks", "aiohttp")),
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("part", "forbidden"), FORBIDDEN)
def test_import_arrows(part: str, forbidden: tuple[str, ...]) -> None:
    target = SRC / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    violations = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(forbidden)
    ]
    assert violations == []
