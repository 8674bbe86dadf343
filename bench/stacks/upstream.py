"""Fake AI upstream for bench/stacks.py: answers every request with one fixed chat.completion.

A bare asyncio.Protocol with httptools (no framework) on uvloop, so it costs far less CPU per
request than any proxy under test. A body asking for `"stream": true` gets a short
text/event-stream instead, spread over time, so the harness can check each proxy streams.
"""

import argparse
import asyncio
import json
import re
from typing import cast

import httptools
import uvloop

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The quarterly report shows revenue up 12% on the previous quarter, "
                    "driven by subscriptions; costs rose 4%, mostly hosting. Net margin "
                    "improved to 18%. Risks: one large customer renews in March.",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 512, "completion_tokens": 48, "total_tokens": 560},
        "system_fingerprint": "fp_bench",
    }
).encode()

JSON_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    % len(COMPLETION)
) + COMPLETION

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
STREAM_EVENTS = [
    b'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"%s"}}]}\n\n' % word
    for word in (b"The", b" report", b" looks", b" fine", b".")
] + [b"data: [DONE]\n\n"]
STREAM_EVENT_GAP_S = 0.05
WANTS_STREAM = re.compile(rb'"stream"\s*:\s*true')


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection; httptools calls the on_* methods while parsing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.parser = httptools.HttpRequestParser(self)
        self.body = bytearray()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.body = bytearray()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        if WANTS_STREAM.search(self.body):
            # Only the harness's one-off streaming check comes here, never pipelined load.
            self.streaming = asyncio.ensure_future(self.send_stream(keep_alive))
            return
        self.transport.write(JSON_RESPONSE)
        if not keep_alive:
            self.transport.close()

    async def send_stream(self, keep_alive: bool) -> None:
        self.transport.write(STREAM_HEAD)
        for event in STREAM_EVENTS:
            await asyncio.sleep(STREAM_EVENT_GAP_S)
            self.transport.write(chunk(event))
        self.transport.write(b"0\r\n\r\n")
        if not keep_alive:
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))
