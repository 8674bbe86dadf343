"""OpenAI adapter: requests as the SDK sends them, responses and streams as OpenAI answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st
from openai.types.chat import ChatCompletion

from wardgate.errors import MalformedRequest
from wardgate.providers.call import (
    LLMCall,
    LLMOutput,
    Message,
    Origin,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from wardgate.providers.openai import OpenAIAdapter

ADAPTER = OpenAIAdapter()
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}


def parse(path: str, body: Any) -> LLMCall:
    call = ADAPTER.parse_request(path, orjson.dumps(body))
    assert call is not None
    return call


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/v1/chat/completions", "chat"),
        ("/openai/v1/chat/completions", "chat"),  # a prefix the route adds
        ("/chat/completions", "chat"),
        ("/openai/deployments/gpt4/chat/completions?api-version=2024-10-21", "chat"),  # Azure
        ("/v1/chat/completions/", "chat"),  # trailing slash
        ("/v1/completions", "completions"),
        ("/v1/responses", "responses"),
        ("/v1/embeddings", "embeddings"),
        ("/v1/models", None),  # not an AI call
        ("/v1/responses/resp_123", None),  # retrieving a stored response
        ("/v1/chat/completions/chatcmpl-1/messages", None),  # stored completion messages
        ("/v1/files", None),
    ],
)
def test_operation_from_path(path: str, operation: str | None) -> None:
    call = ADAPTER.parse_request(path, b'{"model": "m", "messages": [], "input": "x"}')
    assert (call.operation if call else None) == operation


def test_chat_request() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
            {"role": "function", "name": "legacy", "content": "old style result"},
            {"role": "assistant", "content": "It is sunny.", "refusal": None},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": WEATHER_SCHEMA,
                    "strict": True,
                },
            }
        ],
        "functions": [{"name": "legacy", "description": "Old", "parameters": {}}],
        "max_completion_tokens": 256,
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "some_future_field": {"anything": [1, 2]},  # unknown fields are fine
    }
    assert parse("/v1/chat/completions", body) == LLMCall(
        operation="chat",
        model="gpt-4o",
        messages=(
            Message("system", Origin.SYSTEM, "You are terse.", "messages[0].content"),
            Message("developer", Origin.SYSTEM, "Answer in French.", "messages[1].content[0].text"),
            Message("user", Origin.USER, "What is in this picture?", "messages[2].content[0].text"),
            Message("user", Origin.USER, "", "messages[2].content[1]", images=1),
            Message("tool", Origin.TOOL_RESULT, "18C and sunny", "messages[4].content"),
            Message("function", Origin.TOOL_RESULT, "old style result", "messages[5].content"),
            Message("assistant", Origin.ASSISTANT, "It is sunny.", "messages[6].content"),
        ),
        tools=(
            ToolSpec("get_weather", "Weather for a city", WEATHER_SCHEMA),
            ToolSpec("legacy", "Old", {}),
        ),
        tool_calls=(ToolCall("get_weather", '{"location":"Paris"}', "call_1"),),
        stream=True,
        stream_usage=True,
        max_tokens=256,
        n=2,
    )


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        ({"max_tokens": 100}, "max_tokens", 100),  # the older field
        ({"max_tokens": 100, "max_completion_tokens": 50}, "max_tokens", 50),  # newer wins
        ({"max_tokens": None}, "max_tokens", None),  # null is absent
        ({}, "max_tokens", None),
        ({}, "n", 1),
        ({"n": None}, "n", 1),
        ({"stream": True}, "stream_usage", False),  # streaming without usage
        ({"stream_options": {"include_usage": False}}, "stream_usage", False),
        ({"model": None}, "model", None),
    ],
)
def test_chat_fields(extra: dict[str, Any], field: str, expected: object) -> None:
    call = parse("/v1/chat/completions", {"model": "m", "messages": [], **extra})
    assert getattr(call, field) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # a bare string part, as some compatible clients send: still read
        (["plain"], [Message("user", Origin.USER, "plain", "messages[0].content[0]")]),
        # an unknown part type with text: still read, so it cannot slip past the checks
        (
            [{"type": "new_kind", "text": "hi"}],
            [Message("user", Origin.USER, "hi", "messages[0].content[0].text")],
        ),
        ([{"type": "input_audio", "input_audio": {}}], []),  # no text to read
        ("", [Message("user", Origin.USER, "", "messages[0].content")]),
    ],
)
def test_chat_content_parts(content: object, expected: list[Message]) -> None:
    call = parse("/v1/chat/completions", {"messages": [{"role": "user", "content": content}]})
    assert list(call.messages) == expected


def test_unknown_role_is_the_users() -> None:
    call = parse("/v1/chat/completions", {"messages": [{"role": "ipython", "content": "x"}]})
    assert call.messages[0].origin is Origin.USER


def test_responses_request() -> None:
    body = {
        "model": "gpt-4.1",
        "instructions": "Be kind.",
        "input": [
            {"role": "user", "content": "Hello"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe"},
                    {"type": "input_image", "image_url": "https://x.test/b.png"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Sure", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_9",
                "name": "lookup",
                "arguments": '{"q":"x"}',
            },
            {"type": "function_call_output", "call_id": "call_9", "output": "found it"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "item_reference", "id": "msg_0"},
        ],
        "tools": [
            {"type": "function", "name": "lookup", "description": "Look up", "parameters": {}},
            {"type": "web_search_preview"},
        ],
        "max_output_tokens": 300,
        "stream": True,
    }
    assert parse("/v1/responses", body) == LLMCall(
        operation="responses",
        model="gpt-4.1",
        messages=(
            Message("system", Origin.SYSTEM, "Be kind.", "instructions"),
            Message("user", Origin.USER, "Hello", "input[0].content"),
            Message("user", Origin.USER, "Describe", "input[1].content[0].text"),
            Message("user", Origin.USER, "", "input[1].content[1]", images=1),
            Message("assistant", Origin.ASSISTANT, "Sure", "input[2].content[0].text"),
            Message("tool", Origin.TOOL_RESULT, "found it", "input[4].output"),
        ),
        tools=(ToolSpec("lookup", "Look up", {}), ToolSpec("web_search_preview")),
        tool_calls=(ToolCall("lookup", '{"q":"x"}', "call_9"),),
        stream=True,
        stream_usage=True,
        max_tokens=300,
    )


def test_responses_string_input() -> None:
    call = parse("/v1/responses", {"model": "gpt-4.1", "input": "Hi there"})
    assert call.messages == (Message("user", Origin.USER, "Hi there", "input"),)


@pytest.mark.parametrize(
    ("body", "messages", "max_tokens", "n", "best_of"),
    [
        # one prompt
        ({"prompt": "Say this"}, [("Say this", "prompt")], None, 1, None),
        # a batch of prompts, with sampling options
        (
            {"prompt": ["a", "b"], "max_tokens": 7, "n": 2, "best_of": 3},
            [("a", "prompt[0]"), ("b", "prompt[1]")],
            7,
            2,
            3,
        ),
        # token ids: a valid prompt with no text to read
        ({"prompt": [[1, 2, 3]]}, [("", "prompt")], None, 1, None),  # counted, no text
        ({"prompt": [1, 2, 3]}, [("", "prompt")], None, 1, None),
        # the insertion suffix is text the model reads too
        (
            {"prompt": "def f(", "suffix": "return x"},
            [("def f(", "prompt"), ("return x", "suffix")],
            None,
            1,
            None,
        ),
    ],
)
def test_completions_request(
    body: dict[str, Any],
    messages: list[tuple[str, str]],
    max_tokens: int | None,
    n: int,
    best_of: int | None,
) -> None:
    call = parse("/v1/completions", {"model": "gpt-3.5-turbo-instruct", **body})
    assert call.operation == "completions"
    assert [(m.text, m.path) for m in call.messages] == messages
    assert all(m.origin is Origin.USER for m in call.messages)
    assert (call.max_tokens, call.n, call.best_of) == (max_tokens, n, best_of)


@pytest.mark.parametrize(
    ("value", "texts", "token_ids"),
    [
        ("one text", ["one text"], 0),
        (["a", "b"], ["a", "b"], 0),
        ([101, 202], [], 2),  # one token array: no text, but counted
        ([[101], [202, 303]], [], 3),  # several
    ],
)
def test_embeddings_request(value: object, texts: list[str], token_ids: int) -> None:
    call = parse("/v1/embeddings", {"model": "text-embedding-3-small", "input": value})
    assert call.operation == "embeddings"
    assert [m.text for m in call.messages if not m.tokens] == texts
    assert sum(m.tokens for m in call.messages) == token_ids


NESTED_OK = b'{"messages": [], "x": ' + b"[" * 63 + b"]" * 63 + b"}"  # 64 levels
NESTED_TOO_DEEP = b'{"messages": [], "x": ' + b"[" * 64 + b"]" * 64 + b"}"  # 65 levels


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/chat/completions", b"not json", "body is not valid JSON"),
        ("/v1/chat/completions", b"\xff\xfe", "body is not valid JSON"),  # not UTF-8
        ("/v1/chat/completions", b"[]", "body is not a JSON object"),
        ("/v1/chat/completions", b'{"model": "m"}', "messages must be a list"),
        ("/v1/chat/completions", b'{"messages": {}}', "messages must be a list"),
        ("/v1/chat/completions", b'{"messages": ["hi"]}', r"messages\[0\] must be an object"),
        ("/v1/chat/completions", b'{"messages": [{"content": "x"}]}', r"role must be a string"),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": 5}]}',
            r"messages\[0\].content must be a string or a list",
        ),
        ("/v1/chat/completions", b'{"messages": [], "model": 4}', "model must be a string"),
        ("/v1/chat/completions", b'{"messages": [], "max_tokens": true}', "must be an integer"),
        ("/v1/chat/completions", b'{"messages": [], "max_tokens": "9"}', "must be an integer"),
        ("/v1/chat/completions", b'{"messages": [], "max_tokens": 1.5}', "must be an integer"),
        ("/v1/chat/completions", b'{"messages": [], "max_tokens": -1}', "at least 0"),
        ("/v1/chat/completions", b'{"messages": [], "max_completion_tokens": -1}', "at least 0"),
        ("/v1/chat/completions", b'{"messages": [], "n": 0}', "n must be at least 1"),
        ("/v1/chat/completions", b'{"messages": [], "n": false}', "n must be an integer"),
        ("/v1/chat/completions", b'{"messages": [], "stream": "yes"}', "must be a boolean"),
        ("/v1/chat/completions", b'{"messages": [], "stream": 1}', "must be a boolean"),
        ("/v1/chat/completions", b'{"messages": [], "stream_options": 1}', "must be an object"),
        ("/v1/chat/completions", b'{"messages": [], "tools": {}}', "tools must be a list"),
        ("/v1/chat/completions", b'{"messages": [], "tools": [1]}', r"tools\[0\] must be"),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role": "assistant", "tool_calls": {}}]}',
            "tool_calls must be a list",
        ),
        ("/v1/chat/completions", NESTED_TOO_DEEP, "deeper than 64"),
        (
            "/v1/chat/completions",
            orjson.dumps({"messages": [{"role": "user", "content": "x"}] * 10_001}),
            "more than 10000",
        ),
        ("/v1/responses", b'{"input": 5}', "input must be a string or a list"),
        ("/v1/responses", b'{"input": [7]}', r"input\[0\] must be an object"),
        ("/v1/responses", b'{"instructions": []}', "instructions must be a string"),
        ("/v1/responses", b'{"max_output_tokens": -3}', "at least 0"),
        ("/v1/completions", b'{"prompt": 5}', "prompt must be a string or a list"),
        ("/v1/completions", b'{"prompt": [{"a": 1}]}', r"prompt\[0\] must be a string"),
        ("/v1/completions", b'{"prompt": "x", "best_of": 0}', "best_of must be at least 1"),
        ("/v1/embeddings", b'{"input": [null]}', r"input\[0\] must be a string or tokens"),
    ],
)
def test_malformed_requests(path: str, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedRequest, match=reason):
        ADAPTER.parse_request(path, body)


def test_reasons_never_echo_the_body() -> None:
    secret = "sk-secret-value"
    with pytest.raises(MalformedRequest) as caught:
        ADAPTER.parse_request("/v1/chat/completions", orjson.dumps({"messages": secret}))
    assert secret not in str(caught.value)


def test_nesting_at_the_limit_is_accepted() -> None:
    assert ADAPTER.parse_request("/v1/chat/completions", NESTED_OK) is not None


def test_non_ai_path_is_not_parsed() -> None:
    assert ADAPTER.parse_request("/v1/models", b"garbage") is None


@pytest.mark.parametrize("body", [b"", b" \r\n"])
def test_no_body_is_no_call(body: bytes) -> None:
    # `GET /v1/chat/completions` lists stored completions: nothing to read, nothing to refuse.
    assert ADAPTER.parse_request("/v1/chat/completions", body) is None


# --- fuzzing: only an LLMCall, None or MalformedRequest may come out -----------------------

KEYS = st.sampled_from(
    [
        "model", "messages", "role", "content", "type", "text", "tool_calls", "function",
        "name", "arguments", "tools", "functions", "parameters", "input", "instructions",
        "prompt", "suffix", "max_tokens", "max_completion_tokens", "max_output_tokens", "n",
        "best_of", "stream", "stream_options", "include_usage", "output", "call_id",
        "image_url", "custom", "function_call", "index", "choices", "delta", "usage",
        "message", "finish_reason", "prompt_tokens", "completion_tokens", "input_tokens",
        "output_tokens", "response", "item", "output_text", "user", "assistant", "system",
        "tool", "function_call_output",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | KEYS
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=30,
)
PATHS = st.sampled_from(
    ["/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/x"]
)


def _parse_safely(path: str, body: bytes) -> None:
    try:
        result = ADAPTER.parse_request(path, body)
    except MalformedRequest:
        return
    assert result is None or isinstance(result, LLMCall)


@settings(max_examples=400)
@given(path=PATHS, value=JSON)
def test_fuzz_json_requests(path: str, value: object) -> None:
    _parse_safely(path, orjson.dumps(value))


@settings(max_examples=300)
@given(path=PATHS, value=st.dictionaries(KEYS, JSON, max_size=6))
def test_fuzz_object_requests(path: str, value: dict[str, object]) -> None:
    _parse_safely(path, orjson.dumps(value))


@given(path=PATHS, body=st.binary(max_size=64))
def test_fuzz_bytes_requests(path: str, body: bytes) -> None:
    _parse_safely(path, body)


OPERATIONS = st.sampled_from(["chat", "responses", "completions", "embeddings"])


@settings(max_examples=400)
@given(operation=OPERATIONS, value=st.dictionaries(KEYS, JSON, max_size=6) | JSON)
def test_fuzz_responses_and_streams(operation: str, value: object) -> None:
    call = LLMCall(operation=operation, model=None)
    raw = orjson.dumps(value)
    assert isinstance(ADAPTER.parse_response(call, raw), LLMOutput)
    parser = ADAPTER.stream_parser(call)
    for data in (raw.decode(), "[DONE]", "not json"):
        assert isinstance(parser.feed(data, None), StreamDelta)


# --- responses ---------------------------------------------------------------------------

CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me check.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_7",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Oslo"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}


def test_chat_response_is_what_openai_sends() -> None:
    ChatCompletion.model_validate(CHAT_RESPONSE)  # the fixture is a real response shape


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        (
            "chat",
            CHAT_RESPONSE,
            LLMOutput(
                "Let me check.",
                (ToolCall("get_weather", '{"location":"Oslo"}', "call_7"),),
                Usage(82, 17),
                "tool_calls",
            ),
        ),
        # n = 2: every choice is output the checks must see
        (
            "chat",
            {
                "choices": [
                    {"index": 0, "message": {"content": "A"}, "finish_reason": "stop"},
                    {"index": 1, "message": {"content": "B"}, "finish_reason": "length"},
                ]
            },
            LLMOutput("A\nB", finish_reason="stop"),
        ),
        (
            "completions",
            {
                "object": "text_completion",
                "choices": [{"text": "Hello", "index": 0, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
            LLMOutput("Hello", usage=Usage(3, 1), finish_reason="length"),
        ),
        (
            "responses",
            {
                "object": "response",
                "status": "completed",
                "output": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [
                            {"type": "output_text", "text": "Hi ", "annotations": []},
                            {"type": "output_text", "text": "there", "annotations": []},
                        ],
                    },
                    {
                        "type": "function_call",
                        "id": "fc_1",
                        "call_id": "call_2",
                        "name": "f",
                        "arguments": "{}",
                    },
                ],
                "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123},
            },
            LLMOutput("Hi there", (ToolCall("f", "{}", "call_2"),), Usage(36, 87), "completed"),
        ),
        (
            "responses",
            {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
            LLMOutput(finish_reason="max_output_tokens"),
        ),
        (
            "embeddings",
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            },
            LLMOutput(usage=Usage(8, 0)),
        ),
        ("chat", b"<html>502 Bad Gateway</html>", LLMOutput()),  # not JSON: empty
        ("chat", {"choices": "x", "usage": {"prompt_tokens": "1"}}, LLMOutput()),
    ],
)
def test_parse_response(operation: str, body: object, expected: LLMOutput) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    assert ADAPTER.parse_response(LLMCall(operation=operation, model="m"), raw) == expected


# --- rewrites ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # streaming without usage: asked for, other options kept
        (
            "/v1/chat/completions",
            {"messages": [], "stream": True, "stream_options": {"include_obfuscation": False}},
            {"include_obfuscation": False, "include_usage": True},
        ),
        ("/v1/chat/completions", {"messages": [], "stream": True}, {"include_usage": True}),
        ("/v1/completions", {"prompt": "x", "stream": True}, {"include_usage": True}),
        # already asked for, not streaming, or usage always sent: nothing to rewrite
        (
            "/v1/chat/completions",
            {"messages": [], "stream": True, "stream_options": {"include_usage": True}},
            None,
        ),
        ("/v1/chat/completions", {"messages": []}, None),
        ("/v1/responses", {"input": "x", "stream": True}, None),
        ("/v1/embeddings", {"input": "x"}, None),
    ],
)
def test_with_stream_usage(path: str, body: dict[str, Any], expected: object) -> None:
    raw = orjson.dumps(body)
    rewritten = ADAPTER.with_stream_usage(parse(path, body), raw)
    if expected is None:
        assert rewritten is None
        return
    assert rewritten is not None
    assert orjson.loads(rewritten) == {**body, "stream_options": expected}


@pytest.mark.parametrize(
    ("path", "body", "changed"),
    [
        # no limit asked: the name reasoning models accept too
        ("/v1/chat/completions", {"messages": []}, {"max_completion_tokens": 10}),
        ("/v1/chat/completions", {"messages": [], "max_tokens": 500}, {"max_tokens": 10}),
        (
            "/v1/chat/completions",
            {"messages": [], "max_completion_tokens": 500},
            {"max_completion_tokens": 10},
        ),
        (
            "/v1/chat/completions",
            {"messages": [], "max_completion_tokens": 500, "max_tokens": 400},
            {"max_completion_tokens": 10, "max_tokens": 10},
        ),
        ("/v1/responses", {"input": "x", "max_output_tokens": 99}, {"max_output_tokens": 10}),
        ("/v1/responses", {"input": "x"}, {"max_output_tokens": 10}),
        ("/v1/completions", {"prompt": "x"}, {"max_tokens": 10}),
        ("/v1/embeddings", {"input": "x"}, {}),  # no output to limit
    ],
)
def test_with_max_tokens(path: str, body: dict[str, Any], changed: dict[str, int]) -> None:
    raw = orjson.dumps(body)
    rewritten = ADAPTER.with_max_tokens(parse(path, body), raw, 10)
    assert orjson.loads(rewritten) == {**body, **changed}
    assert ADAPTER.parse_request(path, rewritten) is not None
