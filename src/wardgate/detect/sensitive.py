"""Personal data and credentials in one text: both detectors, overlaps resolved, masking.

`find_sensitive` runs the PII and the secrets detectors and keeps, where two findings
overlap, the more certain one (then the longer): a password inside a connection string is
one secret, not a secret and a phone number. `mask` is the default action: every finding is
replaced by its type in angle brackets (`<EMAIL_ADDRESS>`, `<SECRET.aws>`), which keeps the
text readable for a model and says what was there without saying what it was.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from wardgate.detect.pii import find_pii
from wardgate.detect.secrets import find_secrets

__all__ = [
    "PseudonymVault",
    "SensitiveMatch",
    "find_sensitive",
    "keyed_digest",
    "label",
    "mask",
]


@dataclass(frozen=True, slots=True)
class SensitiveMatch:
    """`text[start:end]` (code points, end exclusive) is sensitive data of `type`."""

    type: str
    start: int
    end: int
    score: float


def find_sensitive(text: str) -> list[SensitiveMatch]:
    """Every PII and secret finding in `text`, in order, none overlapping."""
    secrets = [SensitiveMatch(m.type, m.start, m.end, m.score) for m in find_secrets(text)]
    # A secret that holds a PII value whole (`$krb5asrep$23$user@corp.example:...`, a
    # password that is an e-mail address) is the finding: masking it masks both.
    found = secrets + [
        SensitiveMatch(m.type, m.start, m.end, m.score)
        for m in find_pii(text)
        if not any(
            s.start <= m.start and m.end <= s.end and s.end - s.start > m.end - m.start
            for s in secrets
        )
    ]
    return _most_certain(found)


def _most_certain(found: list[SensitiveMatch]) -> list[SensitiveMatch]:
    """The findings that overlap no more certain (then longer, then earlier) one, in order.

    The kept findings never overlap, so ordered by start only the neighbours of a new one
    can: one bisection per finding, where comparing with every kept one was quadratic (100 KB
    of repeated names took seconds)."""
    starts: list[int] = []
    kept: list[SensitiveMatch] = []
    for match in sorted(found, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        at = bisect.bisect_right(starts, match.start)
        if at and kept[at - 1].end > match.start:
            continue
        if at < len(kept) and kept[at].start < match.end:
            continue
        starts.insert(at, match.start)
        kept.insert(at, match)
    return kept


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


def label(entity_type: str) -> str:
    """The short name placeholders use: `EMAIL_ADDRESS` -> `EMAIL`, `SECRET.aws` -> `SECRET`."""
    if entity_type.startswith("SECRET"):
        return "SECRET"
    return _LABELS.get(entity_type, re.sub(r"[^A-Z0-9]+", "_", entity_type.upper()).strip("_"))


_LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
    "DATE_TIME": "DATE",
    "US_PASSPORT": "PASSPORT",
}


def keyed_digest(key: bytes, value: str, size: int = 12) -> str:
    """A digest of `value` only the holder of `key` can recompute: low-entropy values (an SSN
    has 10^9) must not be recoverable from logs by hashing every candidate."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:size]


class PseudonymVault:
    """One request's placeholders: `<EMAIL_1>` stands for the first email it replaced.

    The same value always gets the same placeholder within the vault, so a model sees that
    two mentions are one person. `restore` puts the values back in whatever the model
    answers, and tolerates what models do to placeholders: case changes, spaces inside
    the brackets, a space or hyphen for the underscore, or the brackets dropped. A vault
    lives in one request's exchange and is never shared; it holds at most `limit` values.
    """

    __slots__ = ("_by_value", "_counts", "_limit", "_pattern", "_values")

    def __init__(self, limit: int = 1000) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}  # "EMAIL_1" -> value
        self._counts: dict[str, int] = {}
        self._limit = limit
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def placeholder(self, entity_type: str, value: str) -> str | None:
        """The placeholder for `value` (made on first sight); None when the vault is full."""
        name = label(entity_type)
        key = (name, value)
        known = self._by_value.get(key)
        if known is not None:
            return f"<{known}>"
        if len(self._values) >= self._limit:
            return None
        number = self._counts.get(name, 0) + 1
        self._counts[name] = number
        token = f"{name}_{number}"
        self._by_value[key] = token
        self._values[token] = value
        self._pattern = None
        return f"<{token}>"

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, original value) of every placeholder in `text`."""
        if not self._values or not text:
            return []
        pattern = self._pattern
        if pattern is None:
            names = "|".join(sorted({re.escape(t.rsplit("_", 1)[0]) for t in self._values}))
            pattern = self._pattern = re.compile(
                rf"<\s*({names})[ _-]?(\d{{1,5}})\s*>|(?<![\w<])({names})_(\d{{1,5}})(?!\w)",
                re.IGNORECASE,
            )
        found = []
        for match in pattern.finditer(text):
            name = (match.group(1) or match.group(3)).upper()
            value = self._values.get(f"{name}_{int(match.group(2) or match.group(4))}")
            if value is not None:
                found.append((match.start(), match.end(), value))
        return found

    def restore(self, text: str, escape: Callable[[str], str] | None = None) -> str:
        """`text` with every placeholder replaced by its value (passed through `escape`
        where the text is itself an encoding, such as tool-call arguments in JSON)."""
        found = self.find(text)
        if not found:
            return text
        pieces: list[str] = []
        position = 0
        for start, end, value in found:
            pieces += [text[position:start], escape(value) if escape else value]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    @property
    def longest(self) -> int:
        """The most characters a placeholder of this vault can take, bracketed and spaced."""
        if not self._values:
            return 0
        return max(len(token) for token in self._values) + 8
