"""The adapter protocol and the provider-neutral `Problem` every error is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["PROBLEM_TYPE_BASE", "Problem", "ProviderAdapter"]

PROBLEM_TYPE_BASE = "urn:wardgate:problem:"


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem: what the client is told. Never carries the reason or evidence."""

    status: int
    slug: str
    title: str
    request_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "request_id": self.request_id,
        }


class ProviderAdapter(Protocol):
    """Wire-format knowledge of one provider.

    `error_member` returns the extra top-level members that make the provider's SDKs raise a
    proper exception for a problem response; `error_event` is the SSE event that ends a
    stream with an error once response headers are already sent.
    """

    name: str

    def error_member(self, problem: Problem) -> dict[str, Any]: ...

    def error_event(self, problem: Problem) -> bytes: ...
