"""Server-sent events: an incremental splitter and the hold-back relay.

The splitter is fed bytes as they arrive and returns whole events, however the upstream's
writes were cut. Events are relayed byte for byte as the upstream sent them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from wardgate.errors import UpstreamProtocolError
from wardgate.pipeline import StreamEvent

__all__ = ["HoldBack", "SseSplitter", "parse_event"]

# One event larger than this is not a chat stream: refuse it rather than buffer without end.
MAX_EVENT_BYTES = 1024 * 1024
EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
LINE_END = re.compile(r"\r\n|\n|\r")


class SseSplitter:
    """Cuts a byte stream into complete raw events (each with its blank-line terminator)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if len(buffer) > MAX_EVENT_BYTES:
            raise UpstreamProtocolError("server-sent event over the size limit")
        events: list[bytes] = []
        start = 0
        # A lone "\r" at the end may be the first half of "\r\n": wait for more bytes.
        for match in EVENT_END.finditer(buffer):
            if match.end() == len(buffer) and buffer.endswith(b"\r"):
                break
            events.append(buffer[start : match.end()])
            start = match.end()
        self._buffer = buffer[start:]
        return events

    def rest(self) -> bytes:
        """Whatever was left unterminated when the stream ended."""
        rest, self._buffer = self._buffer, b""
        return rest


def parse_event(raw: bytes, index: int) -> StreamEvent:
    """The `data` (joined by newlines) and `event` fields of one raw event."""
    data: list[str] = []
    event: str | None = None
    for line in LINE_END.split(raw.decode("utf-8", "replace")):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    return StreamEvent(data="\n".join(data), event=event, index=index)


class HoldBack:
    """Keeps the newest events until `window` characters of answer stand behind them.

    With a window of 0 every event is released as soon as it is pushed. A violation found by
    a chunk check can then end the stream before the held text reaches the client, or, for
    events whose text is known, `rewrite` can replace a span of the answer still held.
    """

    __slots__ = ("_chars", "_held", "_released", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        # (raw event, its answer characters, its text when known, rewritten already)
        self._held: deque[tuple[bytes, int, str | None, bool]] = deque()
        self._chars = 0
        self._released = 0  # answer characters already sent

    def push(self, raw: bytes, chars: int, text: str | None = None) -> list[bytes]:
        self.hold(raw, chars, text)
        return self.release()

    def hold(self, raw: bytes, chars: int, text: str | None = None) -> None:
        self._held.append((raw, chars, text, False))
        self._chars += chars

    def release(self) -> list[bytes]:
        released: list[bytes] = []
        while self._held and (self.window == 0 or self._chars - self._held[0][1] >= self.window):
            event, size, _, _ = self._held.popleft()
            self._chars -= size
            self._released += size
            released.append(event)
        return released

    def rewrite(
        self, start: int, end: int, replacement: str, rebuild: Callable[[bytes, str], bytes | None]
    ) -> bool:
        """Replace answer characters `start` to `end` (offsets in the whole answer) with
        `replacement`, in the held events; False when any of it was sent already or an event
        cannot be rebuilt (the caller then ends the stream instead)."""
        if start < self._released:
            return False
        offset = self._released
        rewritten: deque[tuple[bytes, int, str | None, bool]] = deque()
        for raw, size, text, edited in self._held:
            low, high = offset, offset + size
            offset = high
            if high <= start or low >= end or size == 0:
                rewritten.append((raw, size, text, edited))
                continue
            if text is None or edited or len(text) != size:
                return False
            new_text = (
                text[: max(start - low, 0)]
                + (replacement if low <= start else "")
                + text[min(end, high) - low :]
            )
            rebuilt = rebuild(raw, new_text)
            if rebuilt is None:
                return False
            rewritten.append((rebuilt, size, new_text, True))
        if offset < end:
            return False  # the span runs past what is held: not all of it is here
        self._held = rewritten
        return True

    def drain(self) -> list[bytes]:
        released = [raw for raw, _, _, _ in self._held]
        self._held.clear()
        self._chars = 0
        return released
