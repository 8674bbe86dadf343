"""Provider names to adapters; unknown names fail loudly."""

from __future__ import annotations

from wardgate.providers.anthropic import AnthropicAdapter
from wardgate.providers.base import ProviderAdapter
from wardgate.providers.generic import GenericAdapter, GenericPaths
from wardgate.providers.openai import OpenAIAdapter

__all__ = ["ADAPTERS", "adapter_for", "get_adapter"]

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


def adapter_for(name: str, generic_paths: GenericPaths | None = None) -> ProviderAdapter:
    """The shared adapter for `name`, or a generic one that knows where a route's AI fields are.

    Adapters hold no per-request state, so all routes share one; only a configured generic
    adapter carries something of its route (its paths).
    """
    if name == GenericAdapter.name and generic_paths is not None:
        return GenericAdapter(generic_paths)
    return get_adapter(name)
