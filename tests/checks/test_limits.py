"""Limit, budget, concurrency and model-policy checks over real exchanges and stores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from click.testing import CliRunner
from multidict import CIMultiDict
from pydantic import ValidationError

from tests.conftest import GatewayFactory, Upstream, policy_text
from wardgate.checks import budget, concurrency, model_policy, rate_limit, token_limit
from wardgate.checks.base import CheckContext
from wardgate.checks.limiting import limit_key, period_window
from wardgate.cli import main
from wardgate.decision import Action
from wardgate.exchange import Exchange, Identity
from wardgate.observe.pricing import Price, PriceTable
from wardgate.providers.call import LLMCall, Message, Origin, Usage
from wardgate.providers.openai import OpenAIAdapter


def _exchange(consumer: str | None = "alice", call: LLMCall | None = None) -> Exchange:
    ex = Exchange("rid", "POST", "/v1/chat/completions", "", CIMultiDict(), "10.0.0.7")
    ex.identity = Identity(consumer) if consumer else None
    ex.call = call
    ex.model = call.model if call else None
    return ex


def _call(text: str = "hello there", **kwargs: Any) -> LLMCall:
    message = Message("user", Origin.USER, text, "messages[0].content")
    return LLMCall("chat", kwargs.pop("model", "gpt-4o"), (message,), **kwargs)


def test_keys_escape_client_values_and_fall_back_to_the_address() -> None:
    ex = _exchange("a|b")
    assert limit_key(["consumer", "route"], ex) == "a\\|b|-"
    assert limit_key(["consumer"], _exchange(None)) == "ip:10.0.0.7"


@pytest.mark.parametrize("per", ["0s", "-1", "soon", "5x", True])
def test_durations_are_validated(per: object) -> None:
    with pytest.raises(ValidationError):
        rate_limit.Config(requests=1, per=per)  # type: ignore[arg-type]


def test_durations_read_units() -> None:
    assert rate_limit.Config(requests=1, per="1h").per == 3600
    assert rate_limit.Config(requests=1, per="250ms").per == 0.25


async def test_rate_limit_is_per_consumer() -> None:
    check = rate_limit.RateLimitCheck(rate_limit.Config(requests=2, per=60), CheckContext())
    alice = [await check.check_request(_exchange("alice")) for _ in range(3)]
    assert [d.action for d in alice] == [Action.ALLOW, Action.ALLOW, Action.BLOCK]
    assert (await check.check_request(_exchange("bob"))).action is Action.ALLOW
    headers = dict(alice[-1].headers)
    assert headers["RateLimit-Policy"] == '"rate_limit";q=2;w=60'
    assert int(headers["Retry-After"]) == 30


async def test_token_limit_settles_with_reported_usage() -> None:
    context = CheckContext()
    check = token_limit.TokenLimitCheck(
        token_limit.Config(tokens=1000, per=3600, assume_output_tokens=500), context
    )
    first = _exchange(call=_call())
    assert (await check.check_request(first)).action is Action.ALLOW
    # Reserved ~505; the second worst case no longer fits...
    assert (await check.check_request(_exchange(call=_call()))).action is Action.BLOCK
    first.upstream = "http://up"
    first.usage = Usage(5, 20)
    await check.check_log(first)  # ...until the first settles at 25 tokens
    assert (await check.check_request(_exchange(call=_call()))).action is Action.ALLOW


async def test_a_call_that_never_reached_the_upstream_is_refunded() -> None:
    check = token_limit.TokenLimitCheck(
        token_limit.Config(tokens=600, per=3600, assume_output_tokens=500), CheckContext()
    )
    ex = _exchange(call=_call())
    assert (await check.check_request(ex)).action is Action.ALLOW
    await check.check_log(ex)  # blocked later, never forwarded: ex.upstream is None
    assert (await check.check_request(_exchange(call=_call()))).action is Action.ALLOW


async def test_budget_prices_the_worst_case_and_refuses_unpriced_models() -> None:
    prices = PriceTable({"gpt-4o*": Price(input=2.5, output=10.0)})
    check = budget.BudgetCheck(
        budget.Config(usd=0.01, period="day", assume_output_tokens=400),
        CheckContext(prices=prices),
    )
    # Worst case: ~4 input tokens * 2.5 + 400 output * 10 = ~4,010 micro-dollars.
    assert (await check.check_request(_exchange(call=_call()))).action is Action.ALLOW
    assert (await check.check_request(_exchange(call=_call()))).action is Action.ALLOW
    refused = await check.check_request(_exchange(call=_call()))
    assert refused.action is Action.BLOCK and refused.status == 429
    unpriced = await check.check_request(_exchange(call=_call(model="mystery")))
    assert unpriced.status == 403


def test_calendar_periods_end_at_utc_midnight() -> None:
    day, left = period_window("day", now=86400 * 3 + 3600)
    assert day == "1970-01-04" and left == 86400 - 3600
    month, left = period_window("month", now=86400 * 31 - 60)
    assert month == "1970-01" and left == 60


async def test_concurrency_limits_streams_and_queues_briefly() -> None:
    config = concurrency.Config(max_requests=2, max_streams=1, queue_seconds=0.3)
    check = concurrency.ConcurrencyCheck(config, CheckContext())
    first = _exchange(call=_call(stream=True))
    assert (await check.check_request(first)).action is Action.ALLOW
    second = _exchange(call=_call(stream=True))
    waiting = asyncio.create_task(check.check_request(second))
    await asyncio.sleep(0.05)
    await check.check_log(first)  # the first stream ends: the queued one gets its slot
    assert (await waiting).action is Action.ALLOW
    third = await check.check_request(_exchange(call=_call(stream=True)))
    assert third.action is Action.BLOCK and third.status == 429


@pytest.mark.parametrize(
    ("config", "call", "status"),
    [
        ({"models": ["gpt-4o-mini"]}, _call(model="gpt-4o"), 403),
        ({"models": ["gpt-4o*"]}, _call(model="gpt-4o-mini"), None),
        ({"max_n": 2}, _call(n=3), 403),
        ({"max_best_of": 1}, _call(best_of=4), 403),
        ({"max_prompt_tokens": 50}, _call("word " * 400), 413),
        ({"max_output_tokens": 100, "on_excess_output": "reject"}, _call(max_tokens=500), 403),
        ({}, _call("the same sentence over and over. " * 2000), 413),
        ({"sponge": False}, _call("the same sentence over and over. " * 2000), None),
    ],
)
async def test_model_policy(config: dict[str, Any], call: LLMCall, status: int | None) -> None:
    check = model_policy.ModelPolicyCheck(model_policy.Config(**config), CheckContext())
    decision = await check.check_request(_exchange(call=call))
    assert decision.status == status


async def test_model_grants_per_consumer() -> None:
    config = model_policy.Config(
        models=["gpt-4o-mini"], grants=[{"groups": ["research"], "models": ["o1*"]}]
    )
    check = model_policy.ModelPolicyCheck(config, CheckContext())
    researcher = _exchange(call=_call(model="o1-preview"))
    researcher.identity = Identity("r", group="research")
    assert (await check.check_request(researcher)).action is Action.ALLOW
    assert (await check.check_request(_exchange(call=_call(model="o1-preview")))).status == 403


async def test_max_tokens_is_clamped_in_the_forwarded_body(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    routes = """
      - name: chat
        match: {path_prefix: /v1}
        upstream: up
        provider: openai
        checks:
          - {type: model_policy, max_output_tokens: 64}
    """
    gateway = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )
    body = {"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        for asked in (1000, None, 10):
            payload = body if asked is None else {**body, "max_tokens": asked}
            async with http.post(
                f"{gateway.base}/v1/chat/completions",
                json=payload,
                headers={"Authorization": "Bearer demo-key"},
            ) as response:
                assert response.status == 200
            forwarded = orjson.loads(upstream.recorder.requests[-1].body)
            if asked is None:  # reasoning models refuse max_tokens: the clamp uses the new name
                assert forwarded["max_completion_tokens"] == 64 and "max_tokens" not in forwarded
            else:
                assert forwarded["max_tokens"] == (10 if asked == 10 else 64)


async def test_usage_report_groups_tokens_and_cost(
    upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    extra = """
prices:
  demo-*: {input: 1.0, output: 2.0}
"""
    gateway = await make_gateway(
        policy_text(f'["{upstream.base}"]', events_db=tmp_path / "e.db", extra=extra)
    )
    adapter = OpenAIAdapter()
    async with aiohttp.ClientSession() as http:
        for model in ("demo-chat", "demo-chat", "other"):
            body = {"model": model, "messages": [{"role": "user", "content": "count me"}]}
            assert adapter.parse_request("/v1/chat/completions", orjson.dumps(body))
            async with http.post(
                f"{gateway.base}/v1/chat/completions",
                json=body,
                headers={"Authorization": "Bearer demo-key"},
            ) as response:
                assert response.status == 200
    await gateway.flush_events()
    result = CliRunner().invoke(
        main, ["usage", "--by", "model", "--json", "--db", str(tmp_path / "e.db")]
    )
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in map(orjson.loads, result.output.splitlines())}
    demo, other = rows["demo-chat"], rows["other"]
    assert demo["requests"] == 2 and demo["input_tokens"] > 0 and demo["output_tokens"] > 0
    expected = (demo["input_tokens"] * 1.0 + demo["output_tokens"] * 2.0) / 1e6
    assert demo["cost_usd"] == pytest.approx(expected, abs=2e-6)
    assert other["requests"] == 1 and other["cost_usd"] is None
    table = CliRunner().invoke(main, ["usage", "--db", str(tmp_path / "e.db")])
    assert "consumer" in table.output.splitlines()[0] and "demo-chat" in table.output


def test_clamping_must_come_before_reserving() -> None:
    from wardgate.errors import PolicyError
    from wardgate.policy.load import parse_policy

    text = """
version: 1
upstreams: {up: {targets: ["http://127.0.0.1:9"]}}
routes:
  - name: chat
    upstream: up
    provider: openai
    checks:
      - {type: token_limit, tokens: 1000, per: 1h}
      - {type: model_policy, max_output_tokens: 100}
"""
    with pytest.raises(PolicyError, match="model_policy must come before token_limit"):
        parse_policy(text, "p.yaml")


async def test_a_cut_stream_keeps_its_worst_case_and_a_refused_call_is_refunded() -> None:
    check = token_limit.TokenLimitCheck(
        token_limit.Config(tokens=1000, per=3600, assume_output_tokens=500), CheckContext()
    )
    cut = _exchange(call=_call())
    assert (await check.check_request(cut)).action is Action.ALLOW
    cut.upstream, cut.status, cut.error = "http://up", 200, "client-disconnected"
    cut.usage = Usage(5, 1)  # what a stream had reported when it broke
    await check.check_log(cut)
    assert (await check.check_request(_exchange(call=_call()))).action is Action.BLOCK
    refused_upstream = _exchange(call=_call())
    other = token_limit.TokenLimitCheck(
        token_limit.Config(tokens=600, per=3600, assume_output_tokens=500, name="other"),
        CheckContext(),
    )
    assert (await other.check_request(refused_upstream)).action is Action.ALLOW
    refused_upstream.upstream, refused_upstream.status = "http://up", 400
    await other.check_log(refused_upstream)  # the provider refused it: nothing consumed
    assert (await other.check_request(_exchange(call=_call()))).action is Action.ALLOW


def test_token_id_inputs_and_images_are_reserved() -> None:
    from wardgate.checks.reservations import IMAGE_TOKENS, estimated_usage

    adapter = OpenAIAdapter()
    body = orjson.dumps({"model": "e", "input": [[1, 2, 3] * 1000, [4] * 500]})
    call = adapter.parse_request("/v1/embeddings", body)
    assert call is not None
    assert estimated_usage(call, 0).input_tokens >= 3500
    image = Message("user", Origin.USER, "", "messages[0].content[0]", images=2)
    assert estimated_usage(LLMCall("chat", "m", (image,)), 0).input_tokens >= 2 * IMAGE_TOKENS
