"""Any HTTP API: plain problem details, nothing provider-specific."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.providers.base import Problem

__all__ = ["GenericAdapter"]


class GenericAdapter:
    name = "generic"

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {}

    def error_event(self, problem: Problem) -> bytes:
        return b"event: error\ndata: " + orjson.dumps(problem.as_dict()) + b"\n\n"
