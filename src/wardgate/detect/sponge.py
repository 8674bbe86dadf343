"""Sponge inputs: very long, highly repetitive text sent to burn an upstream's GPU time.

A sponge prompt ("ha" a hundred thousand times, one sentence pasted over and over) costs the
upstream as much as a real document of the same length while carrying almost no
information, so it compresses far better than anything people write. `sponge_score`
measures a bounded sample of the text; `is_sponge` judges the measurement.

How well real text compresses with zlib at level 1, estimated as `sponge_score` does:
prose and code 2.3 to 3.5 times, CSV and Markdown tables 3 to 4, JSON and server logs 5 to
8, base64 1.3; the most repetitive legitimate text we found (health-check log lines, arrays
of tiny JSON records) 10 to 17. Junk repeated to burn time scores from about 23 (a 4 KB
paragraph pasted twenty times) to 150 and more ("ha" over and over). Hence the default
limit, 20.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_COMPRESSION_RATIO",
    "DEFAULT_MIN_CHARS",
    "SpongeReport",
    "is_sponge",
    "sponge_score",
]

DEFAULT_MIN_CHARS = 2_000
DEFAULT_MAX_COMPRESSION_RATIO = 20.0

_HEAD = 16_384
_PROBE = 4_096
_WORDS_FROM = 8_192
_MAX_WORDS = 1_024


@dataclass(frozen=True, slots=True)
class SpongeReport:
    """What `sponge_score` measured: ratios come from a bounded sample of the text.

    ``length`` is the whole text's length in characters; ``sampled`` how many of them were
    measured (the head, plus a probe from the middle and one from the end of a long text).
    ``compression_ratio`` is UTF-8 size over zlib (level 1) size, estimated for the whole
    text from the sample (1.0 for the empty text); ``distinct_token_ratio`` is the share
    of distinct whitespace-separated tokens among up to 1,024 from the sample (1.0 when
    there are none): prose scores about 0.5, a pasted sentence below 0.05, one long
    unbroken run of junk 1.0.
    """

    length: int
    sampled: int
    compression_ratio: float
    distinct_token_ratio: float


def sponge_score(text: str) -> SpongeReport:
    """Measure how repetitive ``text`` is, in bounded time whatever its length.

    Pure and total: any string, the empty one and lone surrogates included, gives a report.
    At most 24 K characters are read (well under 1 ms on a slow CPU), so a 10 MB body costs
    no more than a 25 KB one. The probes stand for everything after the head, so real text
    in front of megabytes of junk does not hide the junk.

    >>> sponge_score("ha" * 5_000).compression_ratio > 50
    True
    """
    head, probes = _sample(text)
    raw, packed = _sizes(head, probes, len(text))
    words = head[:_WORDS_FROM].split(maxsplit=_MAX_WORDS)[:_MAX_WORDS]
    if probes:
        half = _MAX_WORDS // 2
        words = words[:half] + probes[:_WORDS_FROM].split(maxsplit=half)[:half]
    return SpongeReport(
        length=len(text),
        sampled=len(head) + len(probes),
        compression_ratio=raw / packed if raw else 1.0,
        distinct_token_ratio=len(set(words)) / len(words) if words else 1.0,
    )


def is_sponge(
    report: SpongeReport,
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO,
) -> bool:
    """True when the text is at least ``min_chars`` long and compresses better than
    ``max_compression_ratio``: long enough to matter, too repetitive to be real content."""
    return report.length >= min_chars and report.compression_ratio > max_compression_ratio


def _sample(text: str) -> tuple[str, str]:
    """The head, and a probe from the middle plus one from the end ("" for short texts)."""
    if len(text) <= _HEAD + 2 * _PROBE:
        return text, ""
    middle = (len(text) - _PROBE) // 2
    return text[:_HEAD], text[middle : middle + _PROBE] + text[-_PROBE:]


def _sizes(head: str, probes: str, length: int) -> tuple[float, float]:
    """Raw and compressed UTF-8 sizes of the whole text, estimated from the sample.

    The probes are compressed after the head in the same stream, so they may refer back to
    it (a paragraph pasted over and over is found even when one copy is longer than a
    probe); their cost stands for every character after the head.
    """
    head_raw = head.encode("utf-8", "surrogatepass")
    packer = zlib.compressobj(1)
    packed = len(packer.compress(head_raw)) + len(packer.flush(zlib.Z_SYNC_FLUSH))
    if not probes:
        return float(len(head_raw)), float(packed + len(packer.flush()))
    probes_raw = probes.encode("utf-8", "surrogatepass")
    probes_packed = len(packer.compress(probes_raw)) + len(packer.flush())
    scale = (length - len(head)) / len(probes)
    return len(head_raw) + len(probes_raw) * scale, packed + probes_packed * scale
