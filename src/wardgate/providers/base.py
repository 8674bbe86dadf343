"""The adapter protocol and the provider-neutral `Problem` every error is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from wardgate.providers.call import LLMCall, LLMOutput, StreamDelta

__all__ = ["PROBLEM_TYPE_BASE", "Problem", "ProviderAdapter", "StreamParser"]

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


class StreamParser(Protocol):
    """Reads one streamed response event by event; holds that stream's state."""

    def feed(self, data: str, event: str | None) -> StreamDelta:
        """One server-sent event (its joined `data` lines and `event` name)."""
        ...


class ProviderAdapter(Protocol):
    """Wire-format knowledge of one provider.

    `error_member` returns the extra top-level members that make the provider's SDKs raise a
    proper exception for a problem response; `error_event` is the SSE event that ends a
    stream with an error once response headers are already sent.

    `parse_request` returns None for a path that is not an AI operation the adapter knows,
    and raises `MalformedRequest` for a body that is not a valid one. `with_stream_usage`
    returns the body rewritten to ask the upstream for usage in the stream (None when the
    caller already asks, or the provider always sends it); `with_max_tokens` returns the
    body with the output ceiling set to `limit`.
    """

    name: str

    def error_member(self, problem: Problem) -> dict[str, Any]: ...

    def error_event(self, problem: Problem) -> bytes: ...

    def parse_request(self, path: str, body: bytes) -> LLMCall | None: ...

    def parse_response(self, call: LLMCall, body: bytes) -> LLMOutput: ...

    def stream_parser(self, call: LLMCall) -> StreamParser: ...

    def with_stream_usage(self, call: LLMCall, body: bytes) -> bytes | None: ...

    def with_max_tokens(self, call: LLMCall, body: bytes, limit: int) -> bytes: ...
