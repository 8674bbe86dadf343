"""Events as JSON Lines on standard output or appended to a file."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

import orjson

__all__ = ["JsonLinesSink"]


class JsonLinesSink:
    """An `EventSink` writing one JSON object per line, flushed after each batch."""

    def __init__(self, path: str) -> None:
        self._owned = path != "-"
        self._out: BinaryIO = open(path, "ab") if self._owned else sys.stdout.buffer  # noqa: SIM115

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        self._out.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
        self._out.flush()

    def close(self) -> None:
        if self._owned:
            self._out.close()
