"""Personal data and credentials in one text: both detectors, overlaps resolved, masking.

`find_sensitive` runs the PII and the secrets detectors and keeps, where two findings
overlap, the more certain one (then the longer): a password inside a connection string is
one secret, not a secret and a phone number. `mask` is the default action: every finding is
replaced by its type in angle brackets (`<EMAIL_ADDRESS>`, `<SECRET.aws>`), which keeps the
text readable for a model and says what was there without saying what it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from wardgate.detect.pii import find_pii
from wardgate.detect.secrets import find_secrets

__all__ = ["SensitiveMatch", "find_sensitive", "mask"]


@dataclass(frozen=True, slots=True)
class SensitiveMatch:
    """`text[start:end]` (code points, end exclusive) is sensitive data of `type`."""

    type: str
    start: int
    end: int
    score: float


def find_sensitive(text: str) -> list[SensitiveMatch]:
    """Every PII and secret finding in `text`, in order, none overlapping."""
    found = [SensitiveMatch(m.type, m.start, m.end, m.score) for m in find_secrets(text)]
    found += [SensitiveMatch(m.type, m.start, m.end, m.score) for m in find_pii(text)]
    found.sort(key=lambda m: (-m.score, -(m.end - m.start), m.start))
    kept: list[SensitiveMatch] = []
    for match in found:
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


def mask(text: str, matches: list[SensitiveMatch]) -> str:
    """`text` with each (non-overlapping) match replaced by `<TYPE>`."""
    pieces: list[str] = []
    position = 0
    for match in sorted(matches, key=lambda m: m.start):
        pieces.append(text[position : match.start])
        pieces.append(f"<{match.type}>")
        position = match.end
    pieces.append(text[position:])
    return "".join(pieces)
