"""Provider adapters: one module per wire format (OpenAI, Anthropic, generic JSON).

An adapter translates between a provider's wire format and Wardgate's provider-neutral
view. So far each adapter shapes errors the way its SDKs expect them; request and stream
parsing arrive with the consumption issue.
"""

from __future__ import annotations

from wardgate.providers.base import Problem, ProviderAdapter
from wardgate.providers.registry import get_adapter

__all__ = ["Problem", "ProviderAdapter", "get_adapter"]
