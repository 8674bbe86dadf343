"""The registry of check types: the one list to extend when a check is added."""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeAlias

from pydantic import Field

from wardgate.checks import access, request_limits
from wardgate.checks.base import CheckSettings
from wardgate.pipeline import Check

__all__ = ["CHECK_TYPES", "CheckConfig", "build_check"]


class CheckFactory(Protocol):
    def __call__(self, config: Any, /) -> Check: ...


CHECK_TYPES: dict[str, tuple[type[CheckSettings], CheckFactory]] = {
    "access": (access.Config, access.AccessCheck),
    "request_limits": (request_limits.Config, request_limits.RequestLimitsCheck),
}

CheckConfig: TypeAlias = Annotated[
    access.Config | request_limits.Config,
    Field(discriminator="type"),
]


def build_check(config: CheckSettings) -> Check:
    type_name: str = getattr(config, "type")  # noqa: B009 - every registered config has it
    _, factory = CHECK_TYPES[type_name]
    return factory(config)
