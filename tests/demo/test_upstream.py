"""The demo upstream, exercised over real sockets with the official OpenAI SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import Upstream
from wardgate.demo.upstream import (
    CHUNK_DELAY_HEADER,
    CHUNK_SIZE_HEADER,
    DELAY_HEADER,
    DEMO_MODELS,
    FAULT_HEADER,
    RecordedRequest,
    RequestRecorder,
    start_demo_upstream,
)

AUTH = {"Authorization": "Bearer demo-key"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello there, my friend"}]}


@pytest.fixture
async def client(upstream: Upstream) -> AsyncIterator[AsyncOpenAI]:
    base_url = upstream.url("/v1")
    async with AsyncOpenAI(base_url=base_url, api_key="demo-key", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for line in response.content:
        if line.startswith(b"data: "):
            yield line[6:].rstrip(b"\n")


async def test_chat_completion_echoes_the_last_user_message(
    client: AsyncOpenAI, upstream: Upstream
) -> None:
    completion = await client.chat.completions.create(
        model="any-model-name",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "Mail bob@example.com"}]},
        ],
    )

    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "any-model-name"
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == (
        "assistant",
        "Echo: Mail bob@example.com",
    )
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len("Echo: Mail bob@example.com") // 4 + 1
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    seen = upstream.recorder.last
    assert seen is not None
    assert (seen.method, seen.path, seen.header("authorization")) == (
        "POST",
        "/v1/chat/completions",
        "Bearer demo-key",
    )
    assert seen.json()["messages"][-1]["content"][0]["text"] == "Mail bob@example.com"


async def test_streamed_completion_with_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async with stream:
        chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert pieces == ["Echo: ", "one ", "two ", "three"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len("Echo: one two three") // 4 + 1
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_without_usage_ends_with_stop_then_done(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True}
    async with http.post(upstream.url("/v1/chat/completions"), json=body, headers=AUTH) as resp:
        assert resp.content_type == "text/event-stream"
        events = [event async for event in _sse_events(resp)]

    assert events[-1] == b"[DONE]"
    assert b'"finish_reason":"stop"' in events[-2]
    assert b'"usage"' not in b"".join(events)


@pytest.mark.parametrize("size", [1, 3, 7])
async def test_chunk_size_header_splits_the_reply_into_fixed_pieces(
    client: AsyncOpenAI, size: int
) -> None:
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "[EMAIL_1] wrote"}],
        stream=True,
        extra_headers={CHUNK_SIZE_HEADER: str(size)},
    )
    async with stream:
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]

    content = [piece for piece in pieces[1:] if piece]
    assert "".join(content) == "Echo: [EMAIL_1] wrote"
    assert all(len(piece) <= size for piece in content)


async def test_chunk_delay_relays_events_one_by_one(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True}
    headers = {**AUTH, CHUNK_DELAY_HEADER: "60"}
    arrivals: list[float] = []
    async with http.post(upstream.url("/v1/chat/completions"), json=body, headers=headers) as resp:
        async for _ in _sse_events(resp):
            arrivals.append(time.monotonic())

    # role, "Echo: " and 4 words, stop, then [DONE] right after the stop chunk.
    assert len(arrivals) == 8
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals[:-1])]
    assert min(gaps) >= 0.05


@pytest.mark.parametrize("api_key", ["wrong-key", ""])
async def test_wrong_key_is_rejected(upstream: Upstream, api_key: str) -> None:
    async with AsyncOpenAI(
        base_url=upstream.url("/v1"), api_key=api_key or "x", max_retries=0
    ) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list(extra_headers={"Authorization": api_key})

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_missing_key_gets_an_openai_error_body(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    async with http.post(upstream.url("/v1/chat/completions"), json=CHAT) as resp:
        assert resp.status == 401
        error = (await resp.json())["error"]

    assert error == {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


async def test_no_api_key_configured_accepts_any_key() -> None:
    runner, port = await start_demo_upstream(api_key=None)
    try:
        async with AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=0
        ) as sdk:
            models = await sdk.models.list()
    finally:
        await runner.cleanup()

    assert [m.id for m in models.data] == list(DEMO_MODELS)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
    ],
)
async def test_bad_chat_requests_get_400(
    upstream: Upstream, http: aiohttp.ClientSession, body: bytes, param: str | None
) -> None:
    url = upstream.url("/v1/chat/completions")
    async with http.post(url, data=body, headers=AUTH) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]

    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_unknown_path_gets_an_openai_404(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    async with http.get(upstream.url("/v1/nowhere"), headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["message"] == "Not Found"


async def test_models_list(client: AsyncOpenAI) -> None:
    models = await client.models.list()

    assert [m.id for m in models.data] == list(DEMO_MODELS)
    assert {m.owned_by for m in models.data} == {"wardgate-demo"}


async def test_embeddings_are_deterministic_in_both_encodings(client: AsyncOpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; "float" comes back as JSON numbers.
    default = await client.embeddings.create(model="demo-embed", input=["alpha", "beta"])
    floats = await client.embeddings.create(
        model="demo-embed", input=["alpha", "beta"], encoding_format="float"
    )

    vectors = [item.embedding for item in default.data]
    assert vectors == [item.embedding for item in floats.data]
    assert [len(v) for v in vectors] == [8, 8]
    assert vectors[0] != vectors[1]
    assert all(-1 <= x < 1 for v in vectors for x in v)
    assert default.usage.prompt_tokens == default.usage.total_tokens == 4


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("GET", "/echo-headers", "a=1&b=two", ""),
        ("POST", "/echo", "", '{"secret": "sk-123"}'),
        ("PUT", "/echo/deeper%2Fpath", "x=%20y", "plain text body"),
    ],
)
async def test_echo_returns_what_was_received(
    upstream: Upstream,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    query: str,
    body: str,
) -> None:
    url = upstream.url(f"{path}?{query}" if query else path)
    headers = [("x-first", "1"), ("X-Dup", "a"), ("X-Dup", "b")]
    async with http.request(method, url, data=body.encode(), headers=headers) as resp:
        assert resp.status == 200
        echoed: dict[str, Any] = await resp.json()

    assert (echoed["method"], echoed["path"], echoed["query_string"]) == (method, path, query)
    assert echoed["body"] == body
    sent = [pair for pair in echoed["headers"] if pair[0].lower() in {"x-first", "x-dup"}]
    assert sent == [["x-first", "1"], ["X-Dup", "a"], ["X-Dup", "b"]]
    assert echoed["remote"] == "127.0.0.1"


async def test_slow_fault_delays_the_answer(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    headers = {**AUTH, FAULT_HEADER: "slow", DELAY_HEADER: "200"}
    started = time.monotonic()
    async with http.get(upstream.url("/v1/models"), headers=headers) as resp:
        assert resp.status == 200

    assert time.monotonic() - started >= 0.2


async def test_slow_fault_defaults_to_outlasting_a_short_timeout(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    headers = {**AUTH, FAULT_HEADER: "slow"}
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(TimeoutError):
        async with http.get(upstream.url("/v1/models"), headers=headers, timeout=timeout):
            pass


async def test_reset_fault_drops_the_connection(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    headers = {**AUTH, FAULT_HEADER: "reset"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(upstream.url("/v1/chat/completions"), json=CHAT, headers=headers):
            pass

    assert upstream.recorder.total == 1


@pytest.mark.parametrize(("fault", "status"), [("status-500", 500), ("status-429", 429)])
async def test_status_fault_answers_with_an_openai_error(
    upstream: Upstream, http: aiohttp.ClientSession, fault: str, status: int
) -> None:
    headers = {**AUTH, FAULT_HEADER: fault}
    async with http.post(upstream.url("/v1/chat/completions"), json=CHAT, headers=headers) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]

    assert error["code"] == "demo_fault"
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")


async def test_status_500_fault_surfaces_in_the_sdk(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        await client.models.list(extra_headers={FAULT_HEADER: "status-500"})


async def test_close_midstream_fault_cuts_the_stream_after_two_events(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True}
    headers = {**AUTH, FAULT_HEADER: "close-midstream"}
    events: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            upstream.url("/v1/chat/completions"), json=body, headers=headers
        ) as resp:
            assert resp.status == 200
            async for event in _sse_events(resp):
                events.append(event)

    assert len(events) == 2
    assert b'"role":"assistant"' in events[0]
    assert b'"content":"Echo: "' in events[1]


async def test_close_midstream_fault_surfaces_in_the_sdk(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={FAULT_HEADER: "close-midstream"},
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        async with stream:
            async for chunk in stream:
                received.append(chunk)

    assert len(received) == 2


def test_recorder_is_bounded_but_counts_everything() -> None:
    recorder = RequestRecorder(maxlen=2)
    for n in range(3):
        recorder.record(RecordedRequest("GET", f"/{n}", "", (("X-N", str(n)),), b""))

    assert (len(recorder), recorder.total) == (2, 3)
    assert [r.path for r in recorder.requests] == ["/1", "/2"]
    assert recorder.last is not None
    assert recorder.last.header("x-n") == "2"


async def test_module_runs_standalone(http: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wardgate.demo.upstream",
        "--port",
        "0",
        "--api-key",
        "cli-key",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        base_url = banner.split()[-1]
        headers = {"Authorization": "Bearer cli-key"}
        async with http.get(f"{base_url}/models", headers=headers) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        returncode = await asyncio.wait_for(proc.wait(), 20)

    assert returncode == 0
