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


class _Held:
    """One event kept back: as the upstream sent it, and the edits made to its text."""

    __slots__ = ("edits", "raw", "sent", "size", "text")

    def __init__(self, raw: bytes, size: int, text: str | None) -> None:
        self.raw = raw  # the upstream's bytes, which every rebuild starts from
        self.sent = raw  # what goes to the client: `raw` with `edits` applied
        self.size = size
        self.text = text
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in `text`


class HoldBack:
    """Keeps the newest events until `window` characters of answer stand behind them.

    With a window of 0 every event is released as soon as it is pushed. A violation found by
    a chunk check can then end the stream before the held text reaches the client, or, for
    events whose text is known, `rewrite` can replace spans of the answer still held (any
    number of them per event, from any number of checks, as long as they do not overlap).
    Offsets are always those of the answer as the upstream sent it.
    """

    __slots__ = ("_chars", "_held", "_released", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self._held: deque[_Held] = deque()
        self._chars = 0
        self._released = 0  # answer characters already sent

    def push(self, raw: bytes, chars: int, text: str | None = None) -> list[bytes]:
        self.hold(raw, chars, text)
        return self.release()

    def hold(self, raw: bytes, chars: int, text: str | None = None) -> None:
        self._held.append(_Held(raw, chars, text))
        self._chars += chars

    def release(self) -> list[bytes]:
        released: list[bytes] = []
        while self._held and (self.window == 0 or self._chars - self._held[0].size >= self.window):
            held = self._held.popleft()
            self._chars -= held.size
            self._released += held.size
            released.append(held.sent)
        return released

    def rewrite(
        self, start: int, end: int, replacement: str, rebuild: Callable[[bytes, str], bytes | None]
    ) -> bool:
        """Replace answer characters `start` to `end` (offsets in the whole answer) with
        `replacement`, in the held events; False when any of it was sent already, overlaps
        an earlier edit, or an event cannot be rebuilt (the caller then ends the stream)."""
        if start < self._released:
            return False
        offset = self._released
        planned: list[tuple[_Held, list[tuple[int, int, str]], bytes]] = []
        for held in self._held:
            low, high = offset, offset + held.size
            offset = high
            if high <= start or low >= end or held.size == 0:
                continue
            if held.text is None or len(held.text) != held.size:
                return False
            edit = (max(start - low, 0), min(end, high) - low, replacement if low <= start else "")
            if any(edit[0] < e_end and e_start < edit[1] for e_start, e_end, _ in held.edits):
                return False
            edits = sorted([*held.edits, edit])
            rebuilt = rebuild(held.raw, _applied(held.text, edits))
            if rebuilt is None:
                return False
            planned.append((held, edits, rebuilt))
        if offset < end:
            return False  # the span runs past what is held: not all of it is here
        for held, edits, rebuilt in planned:
            held.edits, held.sent = edits, rebuilt
        return True

    def rewrite_events(self, rebuild: Callable[[bytes], bytes | None]) -> int:
        """Pass every held event (as it would be sent) through `rebuild`; those it returns
        bytes for are replaced. Their answer text must be unchanged (offsets stay valid).
        Returns how many were rewritten."""
        count = 0
        for held in self._held:
            rebuilt = rebuild(held.sent)
            if rebuilt is not None:
                held.sent = held.raw = rebuilt
                count += 1
        return count

    def drain(self) -> list[bytes]:
        released = [held.sent for held in self._held]
        self._held.clear()
        self._chars = 0
        return released


def _applied(text: str, edits: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    position = 0
    for start, end, replacement in edits:
        pieces += [text[position:start], replacement]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
