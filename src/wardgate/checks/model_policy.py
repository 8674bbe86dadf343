"""`model_policy`: which consumers may call which models, and how big a call may be.

Model denial of service (OWASP LLM10) is cheapest to stop before the upstream is called:
prompts over a token ceiling, degenerate "sponge" inputs (long and highly repetitive text
that burns GPU time), and calls asking for many choices or huge outputs. `max_output_tokens`
either clamps the caller's `max_tokens` (the body is rewritten) or refuses the call.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Literal

from pydantic import Field

from wardgate.checks.base import CheckContext, CheckSettings, StrictModel
from wardgate.decision import Decision, Finding
from wardgate.detect.sponge import is_sponge, sponge_score
from wardgate.detect.tokens import estimate_messages
from wardgate.exchange import Exchange
from wardgate.phases import Phase

__all__ = ["Config", "Grant", "ModelPolicyCheck"]


class Grant(StrictModel):
    """Models a set of consumers or groups may call."""

    consumers: list[str] = Field(default_factory=list, description="Consumer names.")
    groups: list[str] = Field(default_factory=list, description="Identity groups.")
    models: list[str] = Field(min_length=1, description="Model names or patterns (`gpt-4o*`).")


class Config(CheckSettings):
    """Model allowlists and per-call ceilings for AI calls."""

    type: Literal["model_policy"] = "model_policy"
    models: list[str] = Field(
        default_factory=list,
        description="Models anyone may call (names or patterns); empty allows any model "
        "not otherwise restricted by `grants`.",
    )
    grants: list[Grant] = Field(
        default_factory=list,
        description="Extra models for given consumers or groups. With grants set, a model "
        "outside `models` and the caller's grants is refused (403).",
    )
    max_prompt_tokens: int | None = Field(
        default=None, gt=0, description="Largest estimated prompt; above it: 413."
    )
    max_output_tokens: int | None = Field(
        default=None, gt=0, description="Largest output a call may ask for (`max_tokens`)."
    )
    on_excess_output: Literal["clamp", "reject"] = Field(
        default="clamp",
        description="A call asking for more than `max_output_tokens`: rewrite its limit down "
        "(clamp) or refuse it (403). A call that sets no limit gets `max_output_tokens` "
        "when clamping.",
    )
    max_n: int | None = Field(default=None, gt=0, description="Most choices (`n`) per call.")
    max_best_of: int | None = Field(default=None, gt=0, description="Largest `best_of`.")
    sponge: bool = Field(
        default=True, description="Refuse (413) long, highly repetitive prompt text."
    )
    sponge_min_chars: int = Field(
        default=20000, ge=1000, description="Prompts shorter than this are never sponges."
    )
    sponge_max_compression: float = Field(
        default=20.0, gt=1, description="Compression ratio above which long text is a sponge."
    )


class ModelPolicyCheck:
    phases = frozenset({Phase.REQUEST_BODY})
    needs_call = True

    def __init__(self, config: Config, _context: CheckContext) -> None:
        self._config = config
        self._name = config.name or config.type

    async def check_request(self, ex: Exchange) -> Decision:
        call = ex.call
        if call is None:
            return Decision.allow()
        config = self._config
        if not self._model_allowed(ex, call.model or ""):
            return self._block(403, "model.forbidden", "model not allowed for this consumer")
        if config.max_n is not None and call.n > config.max_n:
            return self._block(403, "model_dos.n", f"n={call.n} over {config.max_n}")
        if config.max_best_of is not None and (call.best_of or 1) > config.max_best_of:
            return self._block(403, "model_dos.best_of", f"best_of over {config.max_best_of}")
        text = call.text
        if config.max_prompt_tokens is not None:
            estimate = estimate_messages(m.text for m in call.messages)
            if estimate > config.max_prompt_tokens:
                return self._block(
                    413, "model_dos.prompt_tokens", f"~{estimate} prompt tokens over the ceiling"
                )
        if config.sponge and len(text) >= config.sponge_min_chars:
            report = sponge_score(text)
            if is_sponge(
                report,
                min_chars=config.sponge_min_chars,
                max_compression_ratio=config.sponge_max_compression,
            ):
                return self._block(413, "model_dos.sponge", "long, highly repetitive input")
        ceiling = config.max_output_tokens
        if ceiling is not None and call.operation != "embeddings":
            asked = call.max_tokens
            if asked is not None and asked > ceiling and config.on_excess_output == "reject":
                return self._block(403, "model_dos.max_tokens", f"max_tokens over {ceiling}")
            if (asked is None or asked > ceiling) and config.on_excess_output == "clamp":
                if ex.body is not None and ex.provider is not None:
                    ex.body = ex.provider.with_max_tokens(call, ex.body, ceiling)
                    ex.call = replace(call, max_tokens=ceiling)
                finding = Finding(
                    kind="model_dos.max_tokens_clamped",
                    rule=self._name,
                    severity="low",
                    reason=f"output limit set to {ceiling}",
                )
                return Decision.modify([], [finding])
        return Decision.allow()

    def _model_allowed(self, ex: Exchange, model: str) -> bool:
        config = self._config
        if not config.models and not config.grants:
            return True
        if _matches(model, config.models):
            return True
        identity = ex.identity
        if identity is None:
            return False
        return any(
            (identity.consumer in g.consumers or (identity.group or "") in g.groups)
            and _matches(model, g.models)
            for g in config.grants
        )

    def _block(self, status: int, kind: str, reason: str) -> Decision:
        return Decision.block(status, [Finding(kind=kind, rule=self._name, reason=reason)])


def _matches(model: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, p) for p in patterns)
