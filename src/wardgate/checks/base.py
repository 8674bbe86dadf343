"""What every check's config has: a name, a mode, a fault policy and a time budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from wardgate.exchange import Exchange
from wardgate.observe.pricing import PriceTable
from wardgate.pipeline import Mode, OnError
from wardgate.stores.counters import CounterStore
from wardgate.stores.memory import MemoryCounterStore

__all__ = ["CheckContext", "CheckSettings", "StrictModel", "answer_json"]


@dataclass(frozen=True)
class CheckContext:
    """What the policy provides every check besides its own config: shared stores, prices."""

    counters: CounterStore = field(default_factory=MemoryCounterStore)
    prices: PriceTable = field(default_factory=PriceTable)


class StrictModel(BaseModel):
    """Closed-world, immutable config: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSettings(StrictModel):
    """Settings the pipeline applies around any check."""

    name: str | None = Field(
        default=None,
        description="Name used in events and logs; defaults to the check type.",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
    )
    mode: Mode | None = Field(
        default=None,
        description="off, monitor (record would_block, never block) or enforce; "
        "defaults to the policy's top-level mode.",
    )
    on_error: OnError = Field(
        default=OnError.BLOCK,
        description="When the check raises or runs past its timeout: `block` fails closed "
        "(503), `allow` fails open. Either way the fault is counted and recorded.",
    )
    timeout: float = Field(
        default=1.0, gt=0, le=60, description="Time budget for one call of the check, seconds."
    )


def answer_json(ex: Exchange) -> dict[str, Any] | None:
    """The successful answer to an AI call as a JSON object; None for anything else."""
    if ex.call is None or not ex.response_body or ex.status >= 300:
        return None
    return _object(ex.response_body)


def _object(raw: str | bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
