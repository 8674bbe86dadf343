"""Durations as people write them (`250ms`, `10s`, `5m`, `1h`, `7d`, `2w`): one reader for
the policy and the command line."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str, *, unit_required: bool = False) -> float:
    """Seconds; a bare number is seconds unless `unit_required`. ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None or (unit_required and match.group(2) is None):
        raise ValueError(f"{text!r}: use a number and ms, s, m, h, d or w (e.g. 10m)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
