"""Train the prompt-injection model (`make train`): writes `data/models/injection.json.gz`.

Deterministic: the samples come in a fixed order from `injection_data.py` (train split
only; held-out sources are never read into a feature or a weight), the calibration fold
is fixed by a hash of each text, the solver is liblinear with a fixed seed, and the file
is written with sorted keys and no timestamp. Needs the `train` extra (numpy, scipy,
scikit-learn); the detector itself does not.

For each origin (user prompts scored whole; documents scored by `windows`, a window
labelled 1 when it holds most of the inserted attack or is mostly attack, 0 when it
touches none of it, and left out otherwise) it fits an L2 logistic regression on 80 % of
the training samples over every character n-gram seen in 3 rows and word n-gram seen in
2, keeps the heaviest n-grams, refits on them, then sets the origin's threshold on the
other 20 % scored end to end by the detector (deobfuscation and windows included): the
lowest threshold at which the calibration benign sources with 50 or more texts, pooled with
each weighed alike, have at most `--max-fpr` of their texts flagged, and none more than
twice that.

    python scripts/train_injection.py            # writes the packaged model
    python scripts/train_injection.py --out /tmp/model.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from calibration import choose_threshold
from injection_data import DEFAULT_DATA, DOCUMENT, TRAIN, USER, Sample, load_samples, stable_hash
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from wardgate.detect.injection import (
    CHAR_SIZES,
    MODEL_FORMAT,
    RULES,
    WINDOW_CHARS,
    InjectionDetector,
    char_grams,
    default_model_path,
    fold,
    mask_addresses,
    rule_hits,
    windows,
    word_grams,
)

SEED = 20251125
SCALE = 1000
MIN_DF = {"char": 3, "word": 2}
KEEP = {"char": 60_000, "word": 20_000}
C = {USER: 20.0, DOCUMENT: 20.0}
LEXICON_SIZE = 20_000
MAX_NEGATIVE_WINDOWS = 4
RULE_NAMES = tuple(RULES)


@dataclass(frozen=True, slots=True)
class Row:
    """One training window: its n-gram ids with counts, its rules, label and weight group."""

    char: dict[int, int]
    char_total: int
    word: dict[int, int]
    word_total: int
    rules: tuple[str, ...]
    label: int
    source: str


class Vocabulary:
    """Grams to column ids, in first-seen order (the sample order is fixed)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.df: list[int] = []

    def count(self, grams: Sequence[str]) -> dict[int, int]:
        counts = Counter(grams)
        ids = self.ids
        out: dict[int, int] = {}
        for gram, n in counts.items():
            index = ids.get(gram)
            if index is None:
                index = ids[gram] = len(self.df)
                self.df.append(0)
            self.df[index] += 1
            out[index] = n
        return out


def calibration_fold(sample: Sample) -> bool:
    return stable_hash(sample.text) % 5 == 0


def window_rows(
    samples: Sequence[Sample], origin: str, chars: Vocabulary, words: Vocabulary
) -> list[Row]:
    rng = random.Random(f"{SEED}:{origin}:windows")
    rows: list[Row] = []
    for sample in samples:
        folded = fold(sample.text)
        hits = rule_hits(folded)
        grams = mask_addresses(folded)
        for start, end, label in _labelled_windows(sample, origin, rng):
            char = char_grams(grams, start, end)
            word = word_grams(grams, start, end)
            rules = tuple(
                name for name, starts in hits.items() if any(start <= s < end for s in starts)
            )
            rows.append(
                Row(chars.count(char), len(char), words.count(word), len(word), rules, label,
                    sample.source)
            )  # fmt: skip
    return rows


def _labelled_windows(
    sample: Sample, origin: str, rng: random.Random
) -> list[tuple[int, int, int]]:
    if origin == USER:
        return [(0, len(sample.text), sample.label)]
    found = windows(sample.text)
    if sample.label == 0 or sample.attack is None:
        picked = (
            found if len(found) <= MAX_NEGATIVE_WINDOWS else rng.sample(found, MAX_NEGATIVE_WINDOWS)
        )
        return [(start, end, 0) for start, end in sorted(picked)]
    attack_start, attack_end = sample.attack
    size = attack_end - attack_start
    positive, negative = [], []
    for start, end in found:
        overlap = max(0, min(end, attack_end) - max(start, attack_start))
        if overlap == 0:
            negative.append((start, end, 0))
        elif overlap >= 0.6 * size or overlap >= 0.5 * (end - start):
            positive.append((start, end, 1))
    if len(negative) > 2:
        negative = rng.sample(negative, 2)
    return positive + sorted(negative)


def weights_for(rows: Sequence[Row]) -> np.ndarray:
    """Each class weighs the same; within a class a source weighs the square root of its size."""
    sizes = Counter((row.label, row.source) for row in rows)
    share: dict[tuple[int, str], float] = {}
    for label in (0, 1):
        roots = {key: math.sqrt(n) for key, n in sizes.items() if key[0] == label}
        total = sum(roots.values())
        for key, root in roots.items():
            share[key] = root / total / sizes[key]
    weights = np.array([share[(row.label, row.source)] for row in rows])
    return cast("np.ndarray", weights * len(rows) / weights.sum())


def matrix(rows: Sequence[Row], columns: dict[str, dict[int, int]]) -> sparse.csr_matrix:
    char_columns, word_columns = columns["char"], columns["word"]
    offset_word = len(char_columns)
    offset_rule = offset_word + len(word_columns)
    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    for row in rows:
        char_norm = 1 / math.sqrt(row.char_total) if row.char_total else 0.0
        for gram, n in row.char.items():
            if (column := char_columns.get(gram)) is not None:
                indices.append(column)
                data.append(n * char_norm)
        word_norm = 1 / math.sqrt(row.word_total) if row.word_total else 0.0
        for gram, n in row.word.items():
            if (column := word_columns.get(gram)) is not None:
                indices.append(offset_word + column)
                data.append(n * word_norm)
        for rule in row.rules:
            indices.append(offset_rule + RULE_NAMES.index(rule))
            data.append(1.0)
        pointers.append(len(indices))
    shape = (len(rows), offset_rule + len(RULE_NAMES))
    return sparse.csr_matrix((np.array(data), np.array(indices), np.array(pointers)), shape=shape)


def fit(rows: Sequence[Row], columns: dict[str, dict[int, int]], c: float) -> np.ndarray:
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=SEED)
    labels = np.array([row.label for row in rows])
    model.fit(matrix(rows, columns), labels, sample_weight=weights_for(rows))
    return np.concatenate([model.coef_[0], model.intercept_])


def train_origin(samples: Sequence[Sample], origin: str) -> dict[str, object]:
    chars, words = Vocabulary(), Vocabulary()
    rows = window_rows(samples, origin, chars, words)
    vocab = {"char": chars, "word": words}
    columns = {
        family: _renumber([i for i, df in enumerate(v.df) if df >= MIN_DF[family]])
        for family, v in vocab.items()
    }
    print(f"  {origin}: {len(rows)} rows, {len(columns['char'])} char and "
          f"{len(columns['word'])} word n-grams", flush=True)  # fmt: skip
    weights = fit(rows, columns, C[origin])
    kept = {}
    offset = 0
    for family in ("char", "word"):
        ids = sorted(columns[family], key=columns[family].__getitem__)
        block = np.abs(weights[offset : offset + len(ids)])
        order = np.argsort(-block, kind="stable")[: KEEP[family]]
        kept[family] = _renumber(sorted(ids[i] for i in order))
        offset += len(ids)
    weights = fit(rows, kept, C[origin])
    names = {family: {i: gram for gram, i in v.ids.items()} for family, v in vocab.items()}
    out: dict[str, object] = {}
    offset = 0
    for family in ("char", "word"):
        ids = sorted(kept[family], key=kept[family].__getitem__)
        table = {}
        for index, gram_id in enumerate(ids):
            value = round(float(weights[offset + index]) * SCALE)
            if value:
                table[names[family][gram_id]] = value
        out[family] = dict(sorted(table.items()))
        offset += len(ids)
    out["rule"] = {
        name: round(float(weights[offset + i]) * SCALE) for i, name in enumerate(RULE_NAMES)
    }
    out["bias"] = round(float(weights[-1]) * SCALE)
    return out


def _renumber(ids: Sequence[int]) -> dict[int, int]:
    return {gram: column for column, gram in enumerate(ids)}


_LETTERS = re.compile(r"[^\W\d_]+")


def lexicon(samples: Sequence[Sample]) -> list[str]:
    counts: Counter[str] = Counter()
    for sample in samples:
        counts.update(word for word in _LETTERS.findall(sample.text.lower()) if len(word) <= 20)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:LEXICON_SIZE]]


def report(scored: Sequence[tuple[float, Sample]], threshold: float) -> None:
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for score, sample in scored:
        groups[(sample.source, sample.label)].append(score)
    for (source, label), scores in sorted(groups.items()):
        flagged = sum(score >= threshold for score in scores)
        what = "recall" if label else "FPR"
        print(
            f"    {source:28} label {label} n={len(scores):5}  {what} {flagged / len(scores):.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument("--data", type=Path, default=DEFAULT_DATA)
    cli.add_argument("--out", type=Path, default=default_model_path())
    cli.add_argument(
        "--max-fpr",
        type=float,
        default=0.01,
        help="pooled over the calibration benign sources (twice that for any one)",
    )
    args = cli.parse_args(argv)
    began = time.perf_counter()
    samples = [s for s in load_samples(args.data) if s.split == TRAIN]
    fitting = [s for s in samples if not calibration_fold(s)]
    calibration = [s for s in samples if calibration_fold(s)]
    print(f"{len(samples)} train samples: {len(fitting)} to fit, {len(calibration)} to calibrate")
    model: dict[str, object] = {
        "format": MODEL_FORMAT,
        "char_sizes": list(CHAR_SIZES),
        "window_chars": WINDOW_CHARS,
        "scale": SCALE,
        "lexicon": lexicon(fitting),
        "origins": {},
    }
    origins: dict[str, dict[str, object]] = {}
    for origin in (USER, DOCUMENT):
        origins[origin] = train_origin([s for s in fitting if s.origin == origin], origin)
        origins[origin]["threshold"] = 0.5
    model["origins"] = origins
    detector = InjectionDetector(model)
    for origin in (USER, DOCUMENT):
        scored = [
            (detector.score(s.text, origin).score, s) for s in calibration if s.origin == origin
        ]
        # Up to the next 4-decimal step, strictly: a score of exactly 0.9944 must stay under.
        threshold = (math.floor(choose_threshold(scored, args.max_fpr) * 10_000) + 1) / 10_000
        origins[origin]["threshold"] = threshold
        labels = [s.label for _, s in scored]
        calibration_auc = roc_auc_score(labels, [score for score, _ in scored])
        print(
            f"  {origin}: threshold {threshold}, ROC-AUC {calibration_auc:.4f} (calibration fold)"
        )
        report(scored, threshold)
    model["training"] = {
        "sources": sorted({s.source for s in samples}),
        "samples": len(fitting),
        "calibration_samples": len(calibration),
        "max_calibration_fpr": args.max_fpr,
        "command": "python scripts/train_injection.py",
    }
    raw = json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(raw.encode(), compresslevel=9, mtime=0))
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
