"""Anthropic wire format (messages API)."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.providers.base import Problem

__all__ = ["AnthropicAdapter"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}


class AnthropicAdapter:
    name = "anthropic"

    def _error(self, problem: Problem) -> dict[str, Any]:
        return {
            "type": _ERROR_TYPES.get(problem.status, "api_error"),
            "message": f"{problem.title} (request id {problem.request_id})",
        }

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {"error": self._error(problem)}

    def error_event(self, problem: Problem) -> bytes:
        body = orjson.dumps({"type": "error", "error": self._error(problem)})
        return b"event: error\ndata: " + body + b"\n\n"
