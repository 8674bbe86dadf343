"""Sensitive data end to end: the `openai` SDK, a real gateway and the demo upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai import AsyncOpenAI

from tests.conftest import Gateway, GatewayFactory, Upstream, policy_text
from wardgate.demo.upstream import CHUNK_SIZE_HEADER
from wardgate.observe.query import EventQuery, query_events

EMAIL = "ann.lee@example.org"
CARD = "4111 1111 1111 1111"
TOKEN = "ghp_1234567890abcdefghijABCDEFGHIJ123456"

ROUTES = """
  - name: chat
    match: {path_prefix: /v1}
    upstream: up
    provider: openai
    checks:
      - type: sensitive
        request: {default: pseudonymize, SECRET: flag, PHONE_NUMBER: block, IP_ADDRESS: hash}
        response: {default: flag, SECRET: mask}
  - name: accounts
    match: {path_prefix: /accounts}
    upstream: up
    checks:
      - type: sensitive
        response_fields: {password_hash: strip, ssn: mask, card-number: mask}
"""


@pytest.fixture
async def gateway(upstream: Upstream, make_gateway: GatewayFactory, tmp_path: Path) -> Gateway:
    return await make_gateway(policy_text(f'["{upstream.base}"]', ROUTES, events_db=tmp_path / "e"))


def _client(gateway: Gateway, chunk: int = 0) -> AsyncOpenAI:
    headers = {CHUNK_SIZE_HEADER: str(chunk)} if chunk else None
    return AsyncOpenAI(
        base_url=f"{gateway.base}/v1", api_key="demo-key", max_retries=0, default_headers=headers
    )


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def _streamed(client: AsyncOpenAI, text: str) -> str:
    stream = await client.chat.completions.create(model="m", messages=_user(text), stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_an_email_and_a_card_never_reach_the_upstream_and_come_back_restored(
    gateway: Gateway, upstream: Upstream
) -> None:
    prompt = f"Write to {EMAIL} that card {CARD} was charged; cc {EMAIL}."
    async with _client(gateway) as client:
        reply = await client.chat.completions.create(model="m", messages=_user(prompt))
    sent = upstream.recorder.last
    assert sent is not None
    received = sent.json()["messages"][0]["content"]
    assert EMAIL not in received and CARD not in received and "4111" not in received
    assert received == "Write to <EMAIL_1> that card <CARD_1> was charged; cc <EMAIL_1>."
    assert reply.choices[0].message.content == f"Echo: {prompt}"
    for chunk in (1, 3, 7, 0):  # placeholders split across events every which way
        async with _client(gateway, chunk) as client:
            assert await _streamed(client, prompt) == f"Echo: {prompt}", chunk


async def test_a_secret_in_a_model_answer_is_masked_whole_and_streamed(
    gateway: Gateway,
) -> None:
    prompt = f"the deploy token is {TOKEN} right"  # `flag` on the way in: the model gets it
    async with _client(gateway) as client:
        reply = await client.chat.completions.create(model="m", messages=_user(prompt))
    assert reply.choices[0].message.content == "Echo: the deploy token is <SECRET.github> right"
    for chunk in (1, 5, 0):
        async with _client(gateway, chunk) as client:
            text = await _streamed(client, prompt)
        assert text == "Echo: the deploy token is <SECRET.github> right", chunk
        assert "ghp_" not in text


async def test_a_blocked_type_refuses_the_request_and_hash_is_keyed_and_stable(
    gateway: Gateway, upstream: Upstream
) -> None:
    async with _client(gateway) as client:
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(
                model="m", messages=_user("call me at +1 415 555 2671 tonight")
            )
        first = await client.chat.completions.create(
            model="m", messages=_user("host 8.8.8.8 and 8.8.8.8 again, then 1.1.1.1")
        )
    text = first.choices[0].message.content or ""
    digests = [piece.split(">")[0] for piece in text.split("<IP:")[1:]]
    assert len(digests) == 3 and digests[0] == digests[1] != digests[2]
    assert "8.8.8.8" not in str(upstream.recorder.last.json())


async def test_listed_response_fields_are_stripped_or_masked_at_any_depth(
    gateway: Gateway,
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.base}/accounts/7") as reply:
        assert reply.status == 200
        account = await reply.json()
    assert "password_hash" not in account
    assert account["ssn"] == "<REDACTED>"
    assert account["card_number"] == "<REDACTED>"
    assert account["plan"]["card_number"] == "<REDACTED>"
    assert account["email"] == "ann@example.org"  # not listed: untouched


async def test_no_raw_value_reaches_events_or_logs(
    gateway: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with _client(gateway) as client:
        await client.chat.completions.create(
            model="m", messages=_user(f"mail {EMAIL} card {CARD} token {TOKEN}")
        )
        await _streamed(client, f"token {TOKEN} and {EMAIL}")
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(model="m", messages=_user("+1 415 555 2671"))
    await gateway.flush_events()
    events = query_events(tmp_path / "e", EventQuery())
    assert any("pii.email_address" in str(e) for e in events)
    assert any("secret.github" in str(e) for e in events)
    stored = (tmp_path / "e").read_bytes() + caplog.text.encode()
    for value in (EMAIL, CARD, TOKEN, "4111111111111111", "415 555 2671", "ann.lee"):
        assert value.encode() not in stored, value


async def test_the_default_policy_masks_personal_data_before_the_model(
    upstream: Upstream, make_gateway: GatewayFactory
) -> None:
    from wardgate.cli import default_policy_path

    text = default_policy_path().read_text(encoding="utf-8")
    text = text.replace("${WARDGATE_UPSTREAM:-http://127.0.0.1:18080}", upstream.base)
    gateway = await make_gateway(text)
    async with _client(gateway) as client:
        reply = await client.chat.completions.create(
            model="m", messages=_user(f"Draft a reply to {EMAIL} about card {CARD}.")
        )
    sent = upstream.recorder.last
    assert sent is not None
    received = str(sent.json()["messages"])
    assert EMAIL not in received and CARD not in received
    assert "<EMAIL_ADDRESS>" in received and "<CREDIT_CARD>" in received
    assert reply.choices[0].message.content is not None


SEND: Any = [
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        },
    }
]


async def test_placeholders_come_back_as_values_in_tool_call_arguments(
    gateway: Gateway, upstream: Upstream
) -> None:
    prompt = '/call send_email {"to": "' + EMAIL + '", "body": "card ' + CARD + '"}'
    expected = {"to": EMAIL, "body": f"card {CARD}"}
    async with _client(gateway) as client:
        reply = await client.chat.completions.create(model="m", messages=_user(prompt), tools=SEND)
        sent = upstream.recorder.last
        assert sent is not None and EMAIL not in str(sent.json())
        (call,) = reply.choices[0].message.tool_calls or []
        assert orjson.loads(call.function.arguments) == expected  # type: ignore[union-attr]
        stream = await client.chat.completions.create(
            model="m", messages=_user(prompt), tools=SEND, stream=True
        )
        pieces = [
            fragment.function.arguments or ""
            async for chunk in stream
            for fragment in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
            if fragment.function is not None
        ]
    assert orjson.loads("".join(pieces)) == expected
