"""Provider adapters: one module per wire format (OpenAI, Anthropic, generic JSON).

An adapter translates between a provider's wire format and Wardgate's provider-neutral
view (`call.py`): requests into an `LLMCall`, responses and streamed events into output
text, tool calls and usage; and it shapes errors the way the provider's SDKs expect them.
"""

from __future__ import annotations

from wardgate.providers.base import Problem, ProviderAdapter
from wardgate.providers.generic import GenericPaths
from wardgate.providers.registry import adapter_for, get_adapter

__all__ = ["GenericPaths", "Problem", "ProviderAdapter", "adapter_for", "get_adapter"]
