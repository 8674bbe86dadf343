"""Model prices and the cost of a call, in integer micro-dollars (exact sums, atomic counters)."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Price", "PriceTable"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens, which is also micro-dollars per token."""

    input: float
    output: float


class PriceTable:
    """Prices by model name: exact names first, then the first matching pattern."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        prices = prices or {}
        self._exact = {k: v for k, v in prices.items() if not _is_pattern(k)}
        self._patterns = [(k, v) for k, v in prices.items() if _is_pattern(k)]
        self._cache: dict[str, Price | None] = {}

    def __bool__(self) -> bool:
        return bool(self._exact or self._patterns)

    def price_for(self, model: str | None) -> Price | None:
        if model is None:
            model = ""
        if model in self._cache:
            return self._cache[model]
        price = self._exact.get(model)
        if price is None:
            price = next((p for k, p in self._patterns if fnmatch.fnmatchcase(model, k)), None)
        if len(self._cache) < 4096:  # model names come from clients: bound the cache
            self._cache[model] = price
        return price

    def cost_micros(self, model: str | None, input_tokens: int, output_tokens: int) -> int | None:
        """The cost in micro-dollars, rounded up; None when the model has no price."""
        price = self.price_for(model)
        if price is None:
            return None
        return math.ceil(input_tokens * price.input + output_tokens * price.output)


def _is_pattern(key: str) -> bool:
    return any(c in key for c in "*?[")
