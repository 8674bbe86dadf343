"""Compile a validated `Policy` into an immutable `Plan`: routes with their pipelines.

A plan is built whole before it serves anything and is swapped whole on reload; a request
keeps the plan it started with. Upstream pools are shared across plans when an upstream's
configuration did not change, so a reload keeps warm keep-alive connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from wardgate.checks.base import CheckContext
from wardgate.checks.registry import build_check
from wardgate.errors import PolicyError
from wardgate.observe.pricing import Price, PriceTable
from wardgate.phases import Phase
from wardgate.pipeline import BoundCheck, Mode, Pipeline
from wardgate.policy.model import Policy, Route, RouteMatch, Upstream
from wardgate.providers import ProviderAdapter
from wardgate.providers.generic import GenericPaths
from wardgate.providers.registry import adapter_for
from wardgate.proxy.upstream import UpstreamPool, client_timeout
from wardgate.stores.counters import CounterStore
from wardgate.stores.memory import MemoryCounterStore

__all__ = ["Plan", "RoutePlan", "compile_policy"]

PoolFactory = Callable[[str, Upstream], UpstreamPool]
AI_PROVIDERS = frozenset({"openai", "anthropic"})


@dataclass(frozen=True, slots=True)
class _Matcher:
    exact_hosts: frozenset[str]
    host_suffixes: tuple[str, ...]
    prefix: str
    methods: frozenset[str]

    @classmethod
    def of(cls, match: RouteMatch) -> _Matcher:
        return cls(
            exact_hosts=frozenset(h for h in match.hosts if not h.startswith("*.")),
            host_suffixes=tuple(h[1:] for h in match.hosts if h.startswith("*.")),
            prefix=match.path_prefix,
            methods=frozenset(match.methods),
        )

    def matches(self, host: str, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        if (self.exact_hosts or self.host_suffixes) and not (
            host in self.exact_hosts or host.endswith(self.host_suffixes)
        ):
            return False
        prefix = self.prefix
        if not path.startswith(prefix):
            return False
        # "/v1" takes "/v1" and "/v1/...", never "/v10".
        return prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] == "/"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    name: str
    matcher: _Matcher
    pool: UpstreamPool
    provider: ProviderAdapter
    body_limit: int
    response_limit: int
    timeout: aiohttp.ClientTimeout
    stream_holdback: int
    pipeline: Pipeline
    # Parse AI calls and their usage (the provider knows the wire format and a check or
    # the route's `usage` setting asks for it).
    parses_calls: bool = False
    # Derived once here, read on every request.
    inspects_request_body: bool = field(init=False)
    inspects_response: bool = field(init=False)

    def __post_init__(self) -> None:
        active = self.pipeline.active
        body = self.parses_calls or Phase.REQUEST_BODY in active
        response = self.parses_calls or bool(active & {Phase.RESPONSE_BODY, Phase.RESPONSE_CHUNK})
        object.__setattr__(self, "inspects_request_body", body)
        object.__setattr__(self, "inspects_response", response)


@dataclass(frozen=True, slots=True)
class Plan:
    policy: Policy
    routes: tuple[RoutePlan, ...]
    prices: PriceTable = field(default_factory=PriceTable)

    def route_for(self, host: str, method: str, path: str) -> RoutePlan | None:
        for route in self.routes:
            if route.matcher.matches(host, method, path):
                return route
        return None

    @property
    def pools(self) -> frozenset[UpstreamPool]:
        return frozenset(r.pool for r in self.routes)


def compile_policy(
    policy: Policy, pool_for: PoolFactory | None = None, counters: CounterStore | None = None
) -> Plan:
    """Build every check and route of `policy`; raise `PolicyError` if any cannot be built.

    `counters` is the store the limit checks share (a fresh in-memory one by default)."""
    make_pool: PoolFactory = pool_for or UpstreamPool
    context = CheckContext(counters=counters or MemoryCounterStore(), prices=price_table(policy))
    pools = {name: make_pool(name, config) for name, config in policy.upstreams.items()}
    routes: list[RoutePlan] = []
    problems: list[str] = []
    for index, route in enumerate(policy.routes):
        try:
            routes.append(_compile_route(policy, route, pools[route.upstream], context))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"routes[{index}] ({route.name}): {exc}")
    if problems:
        raise PolicyError(problems)
    return Plan(policy=policy, routes=tuple(routes), prices=context.prices)


def price_table(policy: Policy) -> PriceTable:
    return PriceTable({k: Price(v.input, v.output) for k, v in policy.prices.items()})


def _compile_route(
    policy: Policy, route: Route, pool: UpstreamPool, context: CheckContext
) -> RoutePlan:
    checks = [
        BoundCheck(
            name=config.name or config.type,
            check=build_check(config, context),
            mode=config.mode or policy.mode,
            on_error=config.on_error,
            timeout=config.timeout,
        )
        for config in route.checks
    ]
    pipeline = Pipeline(checks)
    wants_calls = route.usage or any(
        getattr(c.check, "needs_call", False) for c in checks if c.mode is not Mode.OFF
    )
    return RoutePlan(
        name=route.name,
        matcher=_Matcher.of(route.match),
        pool=pool,
        provider=adapter_for(route.provider, _generic_paths(route)),
        body_limit=route.body_limit,
        response_limit=route.response_limit,
        timeout=client_timeout(route.timeouts or pool.config.timeouts),
        # A check that rewrites streamed text (placeholders restored, secrets masked) needs
        # that much of it still held when the span completes.
        stream_holdback=max(
            [route.stream_holdback]
            + [getattr(c.check, "stream_window", 0) for c in checks if c.mode is not Mode.OFF]
        ),
        pipeline=pipeline,
        parses_calls=wants_calls and (route.provider in AI_PROVIDERS or bool(route.call_paths)),
    )


def _generic_paths(route: Route) -> GenericPaths | None:
    paths = route.call_paths
    if paths is None:
        return None
    return GenericPaths(
        model=paths.model,
        text=tuple(paths.text),
        max_tokens=paths.max_tokens,
        stream=paths.stream,
        usage_input=paths.usage_input,
        usage_output=paths.usage_output,
        output_text=tuple(paths.output_text),
    )
