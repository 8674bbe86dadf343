"""The registry of check types: the one list to extend when a check is added."""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeAlias

from pydantic import Field

from wardgate.checks import (
    access,
    api_key,
    attacks,
    budget,
    concurrency,
    injection,
    jwt_auth,
    model_policy,
    mtls,
    output,
    rate_limit,
    request_limits,
    schema,
    sensitive,
    token_limit,
    tools,
)
from wardgate.checks.base import CheckContext, CheckSettings
from wardgate.pipeline import Check

__all__ = ["CHECK_TYPES", "CheckConfig", "build_check"]


class CheckFactory(Protocol):
    def __call__(self, config: Any, context: CheckContext, /) -> Check: ...


def _config_only(cls: Any) -> CheckFactory:
    def build(config: Any, _context: CheckContext) -> Check:
        check: Check = cls(config)
        return check

    return build


CHECK_TYPES: dict[str, tuple[type[CheckSettings], CheckFactory]] = {
    "access": (access.Config, _config_only(access.AccessCheck)),
    "request_limits": (request_limits.Config, _config_only(request_limits.RequestLimitsCheck)),
    "api_key": (api_key.Config, _config_only(api_key.ApiKeyCheck)),
    "jwt": (jwt_auth.Config, _config_only(jwt_auth.JwtCheck)),
    "mtls": (mtls.Config, _config_only(mtls.MtlsCheck)),
    "rate_limit": (rate_limit.Config, rate_limit.RateLimitCheck),
    "token_limit": (token_limit.Config, token_limit.TokenLimitCheck),
    "budget": (budget.Config, budget.BudgetCheck),
    "concurrency": (concurrency.Config, concurrency.ConcurrencyCheck),
    "model_policy": (model_policy.Config, model_policy.ModelPolicyCheck),
    "attacks": (attacks.Config, _config_only(attacks.AttacksCheck)),
    "injection": (injection.Config, _config_only(injection.InjectionCheck)),
    "tools": (tools.Config, _config_only(tools.ToolsCheck)),
    "output": (output.Config, _config_only(output.OutputCheck)),
    "sensitive": (sensitive.Config, _config_only(sensitive.SensitiveCheck)),
    "schema": (schema.Config, _config_only(schema.SchemaCheck)),
}

CheckConfig: TypeAlias = Annotated[
    access.Config
    | request_limits.Config
    | api_key.Config
    | jwt_auth.Config
    | mtls.Config
    | rate_limit.Config
    | token_limit.Config
    | budget.Config
    | concurrency.Config
    | model_policy.Config
    | attacks.Config
    | injection.Config
    | tools.Config
    | output.Config
    | sensitive.Config
    | schema.Config,
    Field(discriminator="type"),
]


def build_check(config: CheckSettings, context: CheckContext) -> Check:
    type_name: str = getattr(config, "type")  # noqa: B009 - every registered config has it
    _, factory = CHECK_TYPES[type_name]
    return factory(config, context)
