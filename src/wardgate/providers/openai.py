"""OpenAI wire format (chat completions and friends)."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.providers.base import Problem

__all__ = ["OpenAIAdapter"]

# OpenAI's SDKs map status codes to exceptions and read `error.message`/`type`/`code`.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class OpenAIAdapter:
    name = "openai"

    def error_member(self, problem: Problem) -> dict[str, Any]:
        return {
            "error": {
                "message": f"{problem.title} (request id {problem.request_id})",
                "type": _ERROR_TYPES.get(problem.status, "api_error"),
                "param": None,
                "code": problem.slug,
            }
        }

    def error_event(self, problem: Problem) -> bytes:
        body = orjson.dumps({**self.error_member(problem), "request_id": problem.request_id})
        return b"data: " + body + b"\n\ndata: [DONE]\n\n"
