"""Engines by name: the one place that knows which engines exist."""

from __future__ import annotations

from wardgate.detect.attacks.builtin import DEFAULT_BODY_LIMIT, DEFAULT_THRESHOLD, BuiltinEngine
from wardgate.detect.attacks.model import Engine

__all__ = ["ENGINE_NAMES", "build_engine"]

ENGINE_NAMES = ("builtin", "crs")


def build_engine(
    name: str,
    *,
    paranoia: int = 1,
    threshold: int | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> Engine:
    """Build engine `name` at a paranoia level; `threshold` defaults to each engine's own (5).

    `crs` needs libmodsecurity3 and the Core Rule Set installed; building it without them
    raises RuntimeError saying what to install.
    """
    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    if name == "builtin":
        return BuiltinEngine(paranoia=paranoia, threshold=limit, body_limit=body_limit)
    if name == "crs":
        from wardgate.detect.attacks.crs import CrsEngine  # optional native library

        return CrsEngine(paranoia=paranoia, threshold=limit)
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")
