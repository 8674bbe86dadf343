"""The threshold of a detector trained by `train_injection.py`, chosen on its calibration
fold. Standard library only, so the tests check it without the `train` extra."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence

from injection_data import Sample

# A calibration benign source smaller than this is too small to bound a false-positive rate.
MIN_CALIBRATION_SOURCE = 50


def choose_threshold(scored: Sequence[tuple[float, Sample]], max_fpr: float) -> float:
    """The lowest threshold that flags at most `max_fpr` of the calibration benign texts of
    sources of at least `MIN_CALIBRATION_SOURCE` texts, pooled with each source weighed
    alike, and at most twice that of any one of them.

    One order statistic of one source (its second-highest score, for a source of 100 texts
    at 1 %) moves with every retraining; the pooled share rests on several hundred texts,
    and the per-source bound keeps one source from taking all of it."""
    by_source: dict[str, list[float]] = defaultdict(list)
    for score, sample in scored:
        if sample.label == 0:
            by_source[sample.source].append(score)
    sources = [sorted(s) for s in by_source.values() if len(s) >= MIN_CALIBRATION_SOURCE]
    if not sources:
        return 0.5

    def acceptable(threshold: float) -> bool:
        shares = [(len(s) - bisect.bisect_left(s, threshold)) / len(s) for s in sources]
        return sum(shares) / len(shares) <= max_fpr and max(shares) <= 2 * max_fpr

    candidates = sorted({math.nextafter(score, 1.0) for s in sources for score in s} | {0.5})
    fitting = [t for t in candidates if t >= 0.5 and acceptable(t)]
    return min(min(fitting, default=0.995), 0.995)
