"""What the limit and budget checks share: keys, durations, windows and the 429 answer."""

from __future__ import annotations

import hashlib
import math
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field

from wardgate.decision import Decision, Finding
from wardgate.durations import parse_duration
from wardgate.exchange import Exchange

__all__ = [
    "Duration",
    "KeyParts",
    "fixed_window",
    "limit_key",
    "needs_call",
    "period_window",
    "scope_of",
    "too_many",
]

_KEY_PART = re.compile(r"^(consumer|group|route|model|client_ip|header:[A-Za-z0-9-]{1,64})$")


def _duration(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_duration(value)
    else:
        raise ValueError("a duration is seconds or a number with ms, s, m, h, d or w (`1h`)")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]


def _key_parts(value: object) -> list[str]:
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list) or not parts:
        raise ValueError(
            "key is a non-empty list of: consumer, group, route, model, client_ip, header:NAME"
        )
    for part in parts:
        if not isinstance(part, str) or not _KEY_PART.match(part):
            raise ValueError(
                f"unknown key part {part!r} (consumer, group, route, model, client_ip, header:NAME)"
            )
    return [p.lower() for p in parts]


KeyParts = Annotated[
    list[str],
    BeforeValidator(_key_parts),
    Field(
        description="What the limit is counted per: any of consumer (the identity; the "
        "client address when there is none), group, route, model, client_ip, header:NAME."
    ),
]


def scope_of(*parameters: object) -> str:
    """A short tag of a limit's parameters, part of its counter keys: checks that share a
    name share counters only when they count the same way (a GCRA timestamp or a window
    total read under another quota would be wrong)."""
    digest = hashlib.sha256(repr(parameters).encode()).hexdigest()
    return digest[:8]


def needs_call(parts: list[str]) -> bool:
    """A key on the model can only be built once the body is parsed."""
    return "model" in parts


def limit_key(parts: list[str], ex: Exchange) -> str:
    values: list[str] = []
    for part in parts:
        if part == "consumer":
            values.append(ex.identity.consumer if ex.identity else f"ip:{ex.client_ip}")
        elif part == "group":
            values.append((ex.identity.group if ex.identity else None) or "-")
        elif part == "route":
            values.append(ex.route or "-")
        elif part == "model":
            values.append(ex.model or "-")
        elif part == "client_ip":
            values.append(ex.client_ip)
        else:
            values.append(ex.headers.get(part[7:], "-")[:128])
    # Values come from clients: escape the separator so two keys can never collide.
    return "|".join(v.replace("\\", "\\\\").replace("|", "\\|") for v in values)


def fixed_window(seconds: float, now: float | None = None) -> tuple[str, float]:
    """The current window of `seconds` aligned to the epoch: (its id, seconds until it ends)."""
    now = time.time() if now is None else now
    index = math.floor(now / seconds)
    return str(index), (index + 1) * seconds - now


def period_window(period: str, now: float | None = None) -> tuple[str, float]:
    """The current calendar `day` or `month` in UTC: (its id, seconds until it ends)."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        return start.strftime("%Y-%m-%d"), (end - moment).total_seconds()
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), (end - moment).total_seconds()


def too_many(
    finding: Finding,
    *,
    policy_name: str,
    quota: int,
    window: float,
    remaining: int,
    retry_after: float,
    reset_after: float,
) -> Decision:
    """429 with Retry-After and the IETF RateLimit-Policy / RateLimit fields."""
    headers = (
        ("Retry-After", str(max(1, math.ceil(retry_after)))),
        ("RateLimit-Policy", f'"{policy_name}";q={quota};w={max(1, math.ceil(window))}'),
        ("RateLimit", f'"{policy_name}";r={max(0, remaining)};t={max(0, math.ceil(reset_after))}'),
    )
    return Decision.block(429, [finding], headers)
