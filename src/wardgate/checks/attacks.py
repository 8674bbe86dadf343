"""`attacks`: injection and exploit detection on every part of a request.

Binds an attack engine (`builtin` by default, `crs` for ModSecurity with the OWASP Core Rule
Set) to the request-body phase: the path, query, headers, cookies and the parsed body are all
inspected, and a request scoring at or over the threshold is refused with a 403.

On AI routes, chat message text is natural language: someone asking how a SQL `UNION` works
is not attacking anyone, so by default only the few signatures that are dangerous even in
prose (JNDI lookups) apply to message text. Set `message_text: interpreted` on routes where
the text does reach an interpreter (a text-to-SQL endpoint, a code-running tool).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckSettings
from wardgate.decision import Decision
from wardgate.detect.attacks.engines import build_engine
from wardgate.detect.attacks.model import Engine, HttpSample, finding
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["AttacksCheck", "Config"]

# Bodies past this size are inspected off the event loop, so one large request cannot stall
# every other connection while it is scanned. `crs` costs milliseconds even for small
# requests (libmodsecurity releases the GIL), so it always runs in a thread.
_OFFLOAD_BYTES = {"builtin": 65_536, "crs": -1}


# On AI routes, text that is language or that a model wrote, not a parameter a client sets
# for an interpreter: tool and parameter descriptions, and tool calls replayed in the history
# (an agent's `ls -la /tmp` is the tool's business; the tools check judges calls). `[*]` is
# any index, `.**` any depth below.
_MODEL_WRITTEN = frozenset(
    {
        "json:messages[*].tool_calls[*].function.arguments",
        "json:messages[*].function_call.arguments",
        "json:input[*].arguments",
        "json:messages[*].content[*].input.**",
        "json:tools[*].description",
        "json:tools[*].function.description",
        "json:tools[*].function.parameters.**",
        "json:tools[*].input_schema.**",
        "json:tools[*].parameters.**",
        "json:functions[*].description",
        "json:functions[*].parameters.**",
    }
)


_OVERSIZE = finding(
    "attack.protocol",
    "body.over_inspection_limit",
    "error",
    "body",
    reason="body longer than the attacks check inspects",
)
_MALFORMED = finding(
    "attack.malformed",
    "body.unparsable",
    "error",
    "body",
    reason="body does not parse as its declared content type",
)


class Config(CheckSettings):
    """Attack detection: engine, sensitivity, and how message text is treated."""

    type: Literal["attacks"] = "attacks"
    engine: Literal["builtin", "crs"] = Field(
        default="builtin",
        description="builtin (libinjection + Wardgate signatures + semantic checks) or crs "
        "(OWASP Core Rule Set on libmodsecurity3; needs the libmodsecurity3 and "
        "modsecurity-crs packages).",
    )
    paranoia: int = Field(
        default=1,
        ge=1,
        le=4,
        description="1 to 4: higher levels add broader rules, catching more and "
        "false-positiving more.",
    )
    threshold: int = Field(
        default=5,
        ge=1,
        description="Anomaly score at which a request is blocked (critical rule = 5, "
        "error = 4, warning = 3, notice = 2).",
    )
    body_limit: int = Field(
        default=1_048_576,
        ge=131_072,
        description="Bytes of the body inspected (at least 128 KiB). What happens to a "
        "longer body is `oversize`.",
    )
    oversize: Literal["block", "inspect_prefix"] = Field(
        default="block",
        description="A body longer than `body_limit`: refuse it (413), since its tail would "
        "pass uninspected, or inspect its first `body_limit` bytes and pass the rest.",
    )
    message_text: Literal["natural", "interpreted"] = Field(
        default="natural",
        description="On AI routes: `natural` treats chat message text as language (only "
        "prose-safe signatures such as JNDI apply); `interpreted` inspects it like any "
        "parameter, for routes whose text reaches SQL, a shell or a template.",
    )
    reject_malformed: bool = Field(
        default=True,
        description="Refuse (400) a body that does not parse as its declared content type, "
        "rather than pass it on half-inspected.",
    )


class AttacksCheck:
    phases = frozenset({Phase.REQUEST_BODY})

    def __init__(self, config: Config) -> None:
        self._config = config
        self._engine: Engine = build_engine(
            config.engine,
            paranoia=config.paranoia,
            threshold=config.threshold,
            body_limit=config.body_limit,
        )
        self._offload_bytes = _OFFLOAD_BYTES[config.engine]
        # On AI routes the parsed call says which JSON fields are message text.
        self.needs_call = config.message_text == "natural"

    async def check_request(self, ex: Exchange) -> Decision:
        if self._config.oversize == "block" and len(ex.body or b"") > self._config.body_limit:
            return Decision.block(413, [_OVERSIZE])
        sample = HttpSample(
            method=ex.method,
            path=ex.path,
            query=ex.query_string,
            headers=tuple(ex.headers.items()),
            body=ex.body or b"",
        )
        text_slots = self._text_slots(ex)
        if len(sample.body) > self._offload_bytes:
            report = await asyncio.to_thread(self._engine.inspect, sample, text_slots=text_slots)
        else:
            report = self._engine.inspect(sample, text_slots=text_slots)
        if report.malformed and self._config.reject_malformed:
            return Decision.block(400, [_MALFORMED, *report.findings])
        if report.blocked:
            return Decision.block(403, report.findings)
        if report.findings:
            return Decision.flag(report.findings)
        return Decision.allow()

    def _text_slots(self, ex: Exchange) -> frozenset[str]:
        if self._config.message_text == "interpreted" or ex.call is None:
            return frozenset()
        messages = frozenset(f"json:{m.path}" for m in ex.call.messages if m.path)
        return messages | _MODEL_WRITTEN
