"""The official OpenAI SDK, pointed at the gateway, works as if talking to the API itself."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text

MESSAGES = [{"role": "user", "content": "Hello through the gateway"}]


async def test_sync_client_completes_and_streams(gateway: Gateway, upstream: Upstream) -> None:
    # The gateway runs on this test's event loop, so the blocking client gets a thread.
    await asyncio.to_thread(_sync_round_trip, gateway.base)
    assert upstream.recorder.total == 2


def _sync_round_trip(base: str) -> None:
    with OpenAI(base_url=f"{base}/v1", api_key="demo-key", max_retries=0) as client:
        reply = client.chat.completions.create(model="demo-chat", messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "Echo: Hello through the gateway"
        assert reply.usage is not None and reply.usage.total_tokens > 0

        stream = client.chat.completions.create(
            model="demo-chat",
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == "Echo: Hello through the gateway"


async def test_async_client_completes_and_streams_with_usage(gateway: Gateway) -> None:
    async with AsyncOpenAI(
        base_url=f"{gateway.base}/v1", api_key="demo-key", max_retries=0
    ) as client:
        reply = await client.chat.completions.create(model="any-model", messages=MESSAGES)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "Echo: Hello through the gateway"

        stream = await client.chat.completions.create(
            model="any-model",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces: list[str] = []
        usage = None
        async for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(pieces) == "Echo: Hello through the gateway"
        assert usage is not None and usage.completion_tokens > 0


async def test_upstream_errors_reach_the_sdk_unchanged(gateway: Gateway) -> None:
    async with AsyncOpenAI(base_url=f"{gateway.base}/v1", api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("user_agent", "error"),
    [
        ("sqlmap/1.7", openai.PermissionDeniedError),  # denied by the access check: 403
        ("curl/8.0", None),  # allowed
    ],
)
async def test_a_block_is_a_provider_shaped_error(
    upstream: Upstream,
    make_gateway: GatewayFactory,
    tmp_path: object,
    user_agent: str,
    error: type[Exception] | None,
) -> None:
    routes = """
      - name: chat
        match: {path_prefix: /v1}
        upstream: up
        provider: openai
        checks:
          - type: access
            deny_headers: [{name: user-agent, matches: "(?i)sqlmap"}]
    """
    gw = await make_gateway(
        policy_text(f'["{upstream.base}"]', routes, events_db=tmp_path / "e.db")
    )  # type: ignore[operator]
    async with AsyncOpenAI(
        base_url=f"{gw.base}/v1",
        api_key="demo-key",
        max_retries=0,
        default_headers={"User-Agent": user_agent},
    ) as client:
        call = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        if error is None:
            await call
            return
        with pytest.raises(error) as raised:
            await call
    assert upstream.recorder.total == 0
    body = raised.value.body  # type: ignore[attr-defined]
    assert body["code"] == "forbidden"
    assert "sqlmap" not in str(raised.value)
