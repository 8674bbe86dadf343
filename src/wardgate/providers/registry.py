"""Provider names to adapters; unknown names fail loudly."""

from __future__ import annotations

from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.base import ProviderAdapter
from wardgate.providers.generic import GenericAdapter
from wardgate.providers.openai import OpenAIAdapter

__all__ = ["ADAPTERS", "get_adapter"]

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.name: adapter for adapter in (OpenAIAdapter(), AnthropicAdapter(), GenericAdapter())
}


def get_adapter(name: str) -> ProviderAdapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise KeyError(
            f"unknown provider {name!r} (known: {', '.join(sorted(ADAPTERS))})"
        ) from None
