"""A small fake OpenAI-compatible API server: the upstream behind ``wardgate demo`` and the tests.

Its answers are deterministic (the assistant echoes the last user message back), so tests can
check what reached the upstream and what came back through the gateway. It can also record
every request it receives, echo requests back verbatim under ``/echo``, and misbehave on
demand through test-only request headers (``x-demo-fault``) to exercise upstream failures.

Run it standalone with ``python -m wardgate.demo.upstream --port 18080``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import re
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

DEFAULT_API_KEY = "demo-key"
DEMO_MODELS = ("demo-chat", "demo-embed")

FAULT_HEADER = "x-demo-fault"
"""``slow`` | ``reset`` | ``status-<code>`` (e.g. ``status-500``) | ``close-midstream``."""
DELAY_HEADER = "x-demo-delay-ms"
"""How long ``x-demo-fault: slow`` waits before answering (default 5000)."""
CHUNK_DELAY_HEADER = "x-demo-chunk-delay-ms"
"""Pause between streamed events (default 0)."""
CHUNK_SIZE_HEADER = "x-demo-chunk-size"
"""Stream the reply in pieces of this many characters instead of word by word."""

EMBEDDING_DIMENSIONS = 8


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One received request; path and query are still percent-encoded, as they were sent."""

    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, looked up case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return orjson.loads(self.body)


class RequestRecorder:
    """Remembers the most recent requests the demo upstream received, and counts all of them."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.requests: deque[RecordedRequest] = deque(maxlen=maxlen)
        self.total = 0

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        self.total += 1

    @property
    def last(self) -> RecordedRequest | None:
        return self.requests[-1] if self.requests else None

    def clear(self) -> None:
        self.requests.clear()
        self.total = 0

    def __len__(self) -> int:
        return len(self.requests)


class ApiError(Exception):
    """An error answered in OpenAI's error format."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def response(self) -> web.Response:
        kind = "server_error" if self.status >= 500 else "invalid_request_error"
        error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        return _json({"error": error}, status=self.status)


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _header_int(request: web.Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.headers.get(name, default)))
    except ValueError:
        raise ApiError(400, f"{name} must be a non-negative integer.") from None


def _abort(request: web.Request) -> None:
    # Dropping the TCP connection without an answer is the point of these faults.
    if request.transport is not None:
        request.transport.abort()


def _raw_headers(request: web.Request) -> list[tuple[str, str]]:
    # As sent: original order, case and duplicates; latin-1 maps bytes 1:1 to characters.
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return payload


def _make_middlewares(api_key: str | None, recorder: RequestRecorder | None) -> list[Middleware]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if recorder is not None:
            body = await request.read()
            headers = tuple(_raw_headers(request))
            path, query = request.rel_url.raw_path, request.rel_url.raw_query_string
            recorder.record(RecordedRequest(request.method, path, query, headers, body))
        return await handler(request)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:  # unknown routes and methods, answered like OpenAI does
            if exc.status < 400:
                raise
            return ApiError(exc.status, exc.reason).response()

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = request.headers.get(FAULT_HEADER, "")
        if fault == "slow":
            await asyncio.sleep(_header_int(request, DELAY_HEADER, 5000) / 1000)
        elif fault == "reset":
            _abort(request)
            return web.Response()  # never sent; aiohttp treats the failed write as a disconnect
        elif fault.startswith("status-") and fault[7:].isdigit() and 400 <= int(fault[7:]) < 600:
            raise ApiError(int(fault[7:]), f"Demo upstream fault: {fault}", code="demo_fault")
        return await handler(request)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            api_key is not None
            and request.path.startswith("/v1/")
            and request.headers.get("Authorization") != f"Bearer {api_key}"
        ):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        return await handler(request)

    return [errors, record, faults, auth]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


def _chunks(text: str, size: int) -> list[str]:
    if size > 0:
        return [text[i : i + size] for i in range(0, len(text), size)]
    # Split where whitespace ends, so every chunk is a word plus its trailing space.
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    payload = await _read_json(request)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array.", param="messages")
    last_user = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), {}
    )
    said = _text_of(last_user.get("content"))
    reply = f"Echo: {said}"
    if said.startswith("/system"):
        # Plays a model that recites its instructions (for leakage tests).
        system = next(
            (m for m in messages if isinstance(m, dict) and m.get("role") == "system"), {}
        )
        reply = f"My instructions: {_text_of(system.get('content'))}"
    call = _requested_call(said) if payload.get("tools") else None
    prompt_tokens = sum(
        _tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)
    )
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": _tokens(reply),
        "total_tokens": prompt_tokens + _tokens(reply),
    }
    head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time())}
    head["model"] = str(payload.get("model") or DEMO_MODELS[0])
    if payload.get("stream") is True:
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return await _stream(request, head, reply, usage if include_usage else None, call)
    message: dict[str, Any] = {"role": "assistant", "content": reply}
    finish = "stop"
    if call is not None:
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return _json({**head, "object": "chat.completion", "choices": [choice], "usage": usage})


def _requested_call(said: str) -> dict[str, Any] | None:
    """`/call NAME {json}` in the user's message plays a model that calls tool NAME."""
    if not said.startswith("/call "):
        return None
    name, _, arguments = said.removeprefix("/call ").partition(" ")
    function = {"name": name, "arguments": arguments.strip() or "{}"}
    return {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": function}


async def _stream(
    request: web.Request,
    head: dict[str, Any],
    reply: str,
    usage: dict[str, int] | None,
    call: dict[str, Any] | None = None,
) -> web.StreamResponse:
    delay = _header_int(request, CHUNK_DELAY_HEADER, 0) / 1000
    size = _header_int(request, CHUNK_SIZE_HEADER, 0)
    close_midstream = request.headers.get(FAULT_HEADER) == "close-midstream"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        extra = {"usage": None} if usage is not None else {}
        return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    if call is None:
        events += [chunk({"content": piece}) for piece in _chunks(reply, size)]
        events.append(chunk({}, "stop"))
    else:
        # The name first, then the arguments in pieces, as OpenAI streams a call.
        opening = {
            **call,
            "index": 0,
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(chunk({"tool_calls": [opening]}))
        for piece in _chunks(call["function"]["arguments"], 8):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        events.append(chunk({}, "tool_calls"))
    if usage is not None:
        events.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.headers["Cache-Control"] = "no-cache"
    await response.prepare(request)
    for index, event in enumerate(events):
        if close_midstream and index == 2:
            _abort(request)
            return response
        if index and delay:
            await asyncio.sleep(delay)
        await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def list_models(request: web.Request) -> web.Response:
    created = 1_700_000_000
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "wardgate-demo"}
        for m in DEMO_MODELS
    ]
    return _json({"object": "list", "data": data})


def _embedding(text: str) -> list[float]:
    # Multiples of 1/128 survive the float32 round trip of encoding_format=base64 exactly.
    digest = hashlib.sha256(text.encode()).digest()
    return [(byte - 128) / 128 for byte in digest[:EMBEDDING_DIMENSIONS]]


async def embeddings(request: web.Request) -> web.Response:
    payload = await _read_json(request)
    raw = payload.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw):
        texts = [orjson.dumps(raw).decode()]  # one tokenised input
    elif isinstance(raw, list) and raw:
        texts = [i if isinstance(i, str) else orjson.dumps(i).decode() for i in raw]
    else:
        raise ApiError(400, "'input' must be a string or a non-empty array.", param="input")
    as_base64 = payload.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector: Any = _embedding(text)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(_tokens(text) for text in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    model = str(payload.get("model") or DEMO_MODELS[1])
    return _json({"object": "list", "data": data, "model": model, "usage": usage})


async def echo(request: web.Request) -> web.Response:
    return _json(
        {
            "method": request.method,
            "path": request.rel_url.raw_path,
            "query_string": request.rel_url.raw_query_string,
            "headers": _raw_headers(request),
            "body": (await request.read()).decode("utf-8", "replace"),
            "remote": request.remote,
        }
    )


async def account(request: web.Request) -> web.Response:
    """A REST endpoint that says more than its clients need (excessive data exposure), for
    the sensitive-data check's `response_fields`. Every value is made up."""
    number = request.match_info["id"]
    return _json(
        {
            "id": number,
            "name": "Ann Example",
            "email": "ann@example.org",
            "password_hash": "$2b$12$7yq0QPVp0f1cnnG3ZPfbTe7R5M1d4hW0WJp0m3u2gGq9jGJXj0yqS",
            "ssn": "078-05-1120",
            "card_number": "4111111111111111",
            "plan": {"tier": "pro", "card_number": "5500005555555559"},
        }
    )


def make_app(
    api_key: str | None = DEFAULT_API_KEY, *, recorder: RequestRecorder | None = None
) -> web.Application:
    """The demo upstream; ``api_key=None`` accepts any key (or none)."""
    # Generous body limit: the gateway, not its upstream, should be what enforces sizes in tests.
    middlewares = _make_middlewares(api_key, recorder)
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/accounts/{id}", account)
    app.router.add_route("*", "/echo{tail:.*}", echo)  # also covers /echo-headers
    app.on_response_prepare.append(_name_server)
    return app


async def _name_server(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "wardgate-demo"


async def start_demo_upstream(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    recorder: RequestRecorder | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve the demo upstream on a real socket; returns the runner (to ``cleanup()``) and port."""
    # A short shutdown timeout so cleanup does not wait for a "slow" fault to finish sleeping.
    runner = web.AppRunner(
        make_app(api_key, recorder=recorder), access_log=None, shutdown_timeout=0.5
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])


async def _serve(host: str, port: int, api_key: str | None) -> None:
    runner, bound = await start_demo_upstream(host, port, api_key=api_key)
    print(f"Wardgate demo upstream listening on http://{host}:{bound}/v1", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Wardgate demo upstream (a fake OpenAI).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="key clients must send; '' accepts any key"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as r:
        r.run(_serve(args.host, args.port, args.api_key or None))


if __name__ == "__main__":
    main()
