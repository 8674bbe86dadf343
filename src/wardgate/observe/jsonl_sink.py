"""Events as JSON Lines on standard output or appended to a file."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from wardgate.exchange import Exchange
from wardgate.observe.events import event_record

__all__ = ["JsonLinesSink"]


class JsonLinesSink:
    """An `EventSink` writing one JSON object per line, flushed after each batch."""

    def __init__(self, path: str) -> None:
        self._owned = path != "-"
        self._out: BinaryIO = open(path, "ab") if self._owned else sys.stdout.buffer  # noqa: SIM115

    def encode(self, exchanges: Sequence[Exchange]) -> bytes:
        return b"".join(orjson.dumps(event_record(ex)) + b"\n" for ex in exchanges)

    def write(self, encoded: bytes) -> None:
        self._out.write(encoded)
        self._out.flush()

    def close(self) -> None:
        if self._owned:
            self._out.close()
