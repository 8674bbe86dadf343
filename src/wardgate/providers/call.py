"""The provider-neutral view of an AI call: what every LLM-aware check reads.

Adapters turn a provider's request body into an `LLMCall`, its response (JSON or a stream of
server-sent events) into `LLMOutput` and `Usage`. Nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "LLMCall",
    "LLMOutput",
    "Message",
    "Origin",
    "StreamDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
]


class Origin(StrEnum):
    """Where a piece of text came from, which decides how far it is trusted."""

    SYSTEM = "system"  # the application's own instructions
    USER = "user"  # the end user
    ASSISTANT = "assistant"  # earlier model output, replayed
    TOOL_RESULT = "tool_result"  # what a tool or function returned (indirect injection)
    DOCUMENT = "document"  # retrieved or attached documents (RAG)


@dataclass(frozen=True, slots=True)
class Message:
    """One piece of text in the call, with where it sits in the body.

    `path` locates the text in the request JSON (e.g. `messages[2].content[0].text`), so a
    check can name it in a finding and an edit can rewrite it. `tokens` counts input sent
    as token ids (no text to read, but tokens all the same).
    """

    role: str
    origin: Origin
    text: str
    path: str
    images: int = 0
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool or function the caller offers the model."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for (in a response), or replayed (in a request)."""

    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class LLMCall:
    """A parsed AI request.

    `operation` is one of `chat`, `responses`, `completions`, `embeddings`, `messages`
    (Anthropic) or `generic`. `max_tokens` is the output ceiling the caller asked for (None
    when absent); `n` the number of choices; `stream_usage` whether the caller itself asked
    for usage in the stream.
    """

    operation: str
    model: str | None
    messages: tuple[Message, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    stream: bool = False
    stream_usage: bool = False
    max_tokens: int | None = None
    n: int = 1
    best_of: int | None = None

    @property
    def text(self) -> str:
        """All message text, one message per line (for estimates and scanners)."""
        return "\n".join(m.text for m in self.messages)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens as the upstream reported them."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class LLMOutput:
    """A parsed (non-streamed) AI response."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """What one server-sent event added to a streamed response.

    `usage_only` marks an event that carries nothing but usage (OpenAI's final chunk when
    `stream_options.include_usage` is set): the gateway strips it when it asked for usage
    on the caller's behalf.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    usage_only: bool = False
    done: bool = False
