#!/usr/bin/env python3
"""Concurrent SSE client: N streams, per stream the time to the first body byte and the
arrival time of every event (both from the moment its request was written).

    python bench/lib/stream_client.py --port P --streams 64 --rounds 10 --body-file F [--steady S]

Burst mode (default): each round opens N connections, then writes all N requests at once.
Steady mode (--steady S, S = one stream's expected duration in seconds): N workers, worker k
starts k*S/N seconds late and then runs `rounds` streams back to back, so N streams are in
flight at any time but they start spread out, as independent clients' would.

Prints one JSON document: {"rounds": [{"ttfb": [...], "events": [[...], ...], "relay": [[...],
...], "errors": [...]}]}: per stream, the TTFB, every event's arrival, and for every event the
upstream stamped (bench/fast_upstream.py puts its time.monotonic() in `system_fingerprint`) the
relay delay, arrival minus that stamp (same host, same monotonic clock).
Raw sockets (asyncio streams on uvloop), so the client adds as little as it can; the harness
pins it to CPU 1 beside the upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

clock = time.monotonic  # the clock the upstream stamps events with
STAMP = re.compile(rb'"system_fingerprint":"fp_([0-9.]+)"')


class Body:
    """Decodes a chunked (or plain) body incrementally and counts finished SSE events."""

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.raw = bytearray()
        self.text = bytearray()
        self.done = False
        self.parsed = 0

    def feed(self, data: bytes) -> int:
        """Add bytes; return how many body bytes they completed (0 if only framing)."""
        before = len(self.text)
        if not self.chunked:
            self.text += data
        else:
            self.raw += data
            while True:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(bytes(self.raw[:line_end]).split(b";")[0], 16)
                if size == 0:
                    self.done = True
                    break
                if len(self.raw) < line_end + 2 + size + 2:
                    break
                start = line_end + 2
                self.text += self.raw[start : start + size]
                del self.raw[: start + size + 2]
        return len(self.text) - before

    def new_events(self) -> list[float | None]:
        """The upstream's stamp (or None) of every event completed since the last call."""
        stamps: list[float | None] = []
        while (end := self.text.find(b"\n\n", self.parsed)) >= 0:
            m = STAMP.search(self.text, self.parsed, end)
            stamps.append(float(m.group(1)) if m else None)
            self.parsed = end + 2
        return stamps


async def one_stream(port: int, request: bytes, go: asyncio.Event | None) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if go is not None:
        await go.wait()
    t0 = clock()
    writer.write(request)
    result: dict = {"ttfb": None, "events": [], "relay": [], "status": None}
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed before the response head")
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        result["status"] = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        body = Body("chunked" in headers.get("transfer-encoding", "").lower())
        length = int(headers.get("content-length", "-1"))
        data, now = rest, clock()
        while True:
            if data:
                if body.feed(data) and result["ttfb"] is None:
                    result["ttfb"] = now - t0
                for stamp in body.new_events():
                    result["events"].append(now - t0)
                    if stamp is not None:
                        result["relay"].append(now - stamp)
            if body.done or (length >= 0 and len(body.text) >= length):
                break
            data = await reader.read(65536)
            now = clock()
            if not data:
                break
    finally:
        writer.close()
    return result


def collect(outcomes: list) -> dict:
    out: dict = {"ttfb": [], "events": [], "relay": [], "errors": []}
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            out["errors"].append(repr(outcome))
        elif outcome["status"] != 200 or outcome["ttfb"] is None:
            out["errors"].append(f"status {outcome['status']}, {len(outcome['events'])} events")
        else:
            out["ttfb"].append(outcome["ttfb"])
            out["events"].append(outcome["events"])
            out["relay"].append(outcome["relay"])
    return out


async def round_(port: int, request: bytes, streams: int) -> dict:
    go = asyncio.Event()
    tasks = [asyncio.create_task(one_stream(port, request, go)) for _ in range(streams)]
    await asyncio.sleep(0.2)  # let every connection open first
    go.set()
    return collect(await asyncio.gather(*tasks, return_exceptions=True))


async def steady(port: int, request: bytes, streams: int, rounds: int, period: float) -> dict:
    async def worker(k: int) -> list:
        await asyncio.sleep(k * period / streams)
        outcomes = []
        for _ in range(rounds):
            try:
                outcomes.append(await one_stream(port, request, None))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    per_worker = await asyncio.gather(*(worker(k) for k in range(streams)))
    return collect([o for outcomes in per_worker for o in outcomes])


async def main_async(args: argparse.Namespace, body: bytes) -> dict:
    headers = [
        f"POST {args.path} HTTP/1.1",
        f"Host: 127.0.0.1:{args.port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        "User-Agent: wardgate-bench/1 (stream-client)",
        f"Authorization: Bearer {args.bearer}",
        f"Content-Length: {len(body)}",
    ]
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    for _ in range(args.warmup_rounds):
        await round_(args.port, request, args.streams)
    if args.steady:
        return {
            "rounds": [await steady(args.port, request, args.streams, args.rounds, args.steady)]
        }
    rounds = []
    for _ in range(args.rounds):
        rounds.append(await round_(args.port, request, args.streams))
        await asyncio.sleep(0.1)
    return {"rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup-rounds", type=int, default=1)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--bearer", default="sk-bench")
    parser.add_argument(
        "--steady",
        type=float,
        default=0.0,
        help="steady mode: one stream's expected duration in seconds",
    )
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    json.dump(run(main_async(args, Path(args.body_file).read_bytes())), sys.stdout)


if __name__ == "__main__":
    main()
