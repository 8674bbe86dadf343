#!/usr/bin/env python3
"""A fast fake OpenAI upstream for benchmarks: raw asyncio.Protocol + httptools + uvloop.

    python bench/fast_upstream.py --port 19100 [--event-delay-ms 20]

HTTP/1.1 with keep-alive. Every POST whose path ends in `/chat/completions`:
  - body without `"stream": true`  -> a fixed OpenAI `chat.completion` JSON (600 bytes);
  - body with `"stream": true`     -> `text/event-stream`, chunked: 20 `chat.completion.chunk`
    events, the first at once and each next one after `--event-delay-ms`, then `data: [DONE]`.
    Each chunk's `system_fingerprint` is `fp_` + the upstream's time.monotonic() when it was
    written (fixed width), so a client on the same host can tell each event's relay delay.
`GET /__stats` answers the counters (requests, streams) as JSON, so a harness can follow
progress without touching the load generator. Anything else is 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

import httptools

STREAM_EVENTS = 20
COMPLETION_BYTES = 600


def _completion() -> bytes:
    doc = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 480, "completion_tokens": 96, "total_tokens": 576},
    }
    base = len(json.dumps(doc, separators=(",", ":")).encode())
    words = "The quick brown fox jumps over the lazy dog. " * 20
    doc["choices"][0]["message"]["content"] = words[: COMPLETION_BYTES - base]
    body = json.dumps(doc, separators=(",", ":")).encode()
    assert len(body) == COMPLETION_BYTES, len(body)
    return body


STAMP = b"%018.6f"  # time.monotonic(), fixed width: every event keeps its size


def _chunk(index: int) -> bytes:
    delta = {"role": "assistant", "content": ""} if index == 0 else {"content": f"word{index} "}
    doc = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "system_fingerprint": "fp_" + "@" * 18,  # replaced by the stamp on write
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    if index == STREAM_EVENTS - 1:
        doc["choices"][0]["finish_reason"] = "stop"
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


COMPLETION = _completion()
COMPLETION_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    % len(COMPLETION)
) + COMPLETION
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
STREAM_EVENTS_WIRE = [
    tuple(_chunked(_chunk(i)).split(b"@" * 18, 1)) for i in range(STREAM_EVENTS)
]  # (before the stamp, after it)
STREAM_DONE_WIRE = _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
STATS = {"requests": 0, "streams": 0}


class Upstream(asyncio.Protocol):
    __slots__ = ("body", "delay", "parser", "transport", "url")

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close(BAD_REQUEST)
        except httptools.HttpParserError:
            self._close(BAD_REQUEST)

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        keep_alive = self.parser.should_keep_alive()
        if method == b"POST" and path.endswith(b"/chat/completions"):
            STATS["requests"] += 1
            body = b"".join(self.body)
            if b'"stream": true' in body or b'"stream":true' in body:
                STATS["streams"] += 1
                transport.pause_reading()  # one exchange at a time on this connection
                asyncio.get_running_loop().create_task(self._stream(transport, keep_alive))
                return
            transport.write(COMPLETION_RESPONSE)
        elif method == b"GET" and path == b"/__stats":
            stats = json.dumps(STATS).encode()
            transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(stats), stats)
            )
        else:
            transport.write(NOT_FOUND)
        if not keep_alive:
            transport.close()

    async def _stream(self, transport: asyncio.Transport, keep_alive: bool) -> None:
        try:
            before, after = STREAM_EVENTS_WIRE[0]
            transport.write(STREAM_HEAD + before + STAMP % time.monotonic() + after)
            for before, after in STREAM_EVENTS_WIRE[1:]:
                await asyncio.sleep(self.delay)
                if transport.is_closing():
                    return
                transport.write(before + STAMP % time.monotonic() + after)
            await asyncio.sleep(self.delay)
            if transport.is_closing():
                return
            transport.write(STREAM_DONE_WIRE)
            if keep_alive:
                transport.resume_reading()
            else:
                transport.close()
        except (ConnectionError, RuntimeError):
            transport.close()

    def _close(self, response: bytes) -> None:
        if self.transport is not None:
            self.transport.write(response)
            self.transport.close()


async def serve(host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Upstream(delay), host, port, reuse_address=True, backlog=4096
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--event-delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    run(serve(args.host, args.port, args.event_delay_ms / 1000.0))


if __name__ == "__main__":
    main()
