"""Where in a text a detector's expensive pattern is worth running.

The PII and secrets patterns try a dozen shapes at every position of the text, which costs
about 0.3 ms per shape family on 4 KB even where nothing could match. Every one of their
candidates contains an anchor (an `@`, a digit, `AKIA`, `-----BEGIN`, `=` ...) within a
known reach, so one Hyperscan pass over the text finds the anchors (microseconds) and the
patterns run only in the merged windows around them, from `before` characters ahead of an
anchor to `after` characters past it, extended to the next whitespace so that a window
never ends inside a word and the patterns' look-aheads see the real next character.

Hyperscan matches bytes; the text is scanned as Latin-1 with every other character (and
every lone surrogate) replaced by one `?`, so byte offsets are string indices and each byte
is one character: an anchor matches exactly where it would in the text. (UTF-32, four
bytes a character, made the scan seven times slower: 230 against 31 µs for the windows of
bench's 4 KB chat prompt, `timeit` of `windows` at 44bdc8f.) Anchors are Latin-1 literals and
character classes (`[0-9]`; a `?` in either also matches any character past Latin-1),
matched case-sensitively unless marked caseless (ASCII letters only).
"""

from __future__ import annotations

import contextlib
import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

import hyperscan

__all__ = ["Anchor", "AnchorScanner"]

_SPACE = re.compile(r"\s")
_TOKEN = re.compile(r"\[[^\]]+\]|.", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Anchor:
    """`pattern` (Latin-1 literal characters and `[...]` classes) and the reach of the
    candidates that contain it."""

    pattern: str
    before: int
    after: int
    caseless: bool = False
    # A weak anchor (an `=` of any assignment) alone lets a detector try only the few
    # shapes that need nothing stronger: see `AnchorScanner.split_windows`.
    weak: bool = False
    # The shapes an anchor can start: `windows_and_matches` keeps each group's windows
    # apart, so a detector runs only that group's patterns in them.
    group: str = ""

    @property
    def length(self) -> int:
        return len(_TOKEN.findall(self.pattern))


class AnchorScanner:
    """One compiled Hyperscan database of anchors; `windows` is pure and reentrant within
    one thread (the database keeps one scratch space)."""

    def __init__(self, anchors: Sequence[Anchor]) -> None:
        self._anchors = tuple(anchors)
        self._lengths = tuple(anchor.length for anchor in self._anchors)
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=[_expression(anchor.pattern) for anchor in self._anchors],
            ids=list(range(len(self._anchors))),
            flags=[hyperscan.HS_FLAG_CASELESS if a.caseless else 0 for a in self._anchors],
        )
        _release_freed_heap()

    def hits(self, text: str) -> list[tuple[int, int]]:
        """`(index of the anchor, end of its match)` for every anchor match in `text`."""
        found: list[tuple[int, int]] = []

        def on_match(ident: int, _start: int, end: int, _flags: int, _context: object) -> None:
            found.append((ident, end))

        if text:
            self._database.scan(text.encode("latin-1", "replace"), match_event_handler=on_match)
        return found

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Merged `(start, end)` windows of `text` around its anchors, in order."""
        return self.split_windows(text)[0]

    def split_windows(self, text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The windows around every anchor, and those around the strong (not `weak`) ones."""
        spans = self._spans(text)
        if not spans:
            return [], []
        every = self._merged(text, spans)
        strong = (
            self._merged(text, [s for s in spans if not s[2].weak])
            if any(s[2].weak for s in spans)
            else every
        )
        return every, strong

    def windows_and_matches(
        self, text: str, exact: frozenset[str] = frozenset()
    ) -> tuple[dict[str, list[tuple[int, int]]], list[tuple[int, int, Anchor]]]:
        """The windows around the anchors of each group, and the matches themselves
        (`start, end, anchor`, in order of start) of the anchors of the `exact` groups, which
        are what a detector looks for (a listed name) rather than where to look."""
        spans: dict[str, list[tuple[int, int, Anchor]]] = {}
        matches: list[tuple[int, int, Anchor]] = []
        for span in self._spans(text):
            if span[2].group in exact:
                matches.append(span)
            else:
                spans.setdefault(span[2].group, []).append(span)
        windows = {group: self._merged(text, members) for group, members in spans.items()}
        return windows, matches

    def _spans(self, text: str) -> list[tuple[int, int, Anchor]]:
        """Each anchor match's reach, `(start, end, anchor)`, in order of start."""
        anchors, lengths = self._anchors, self._lengths
        spans: list[tuple[int, int, Anchor]] = []
        for ident, last in self.hits(text):
            anchor = anchors[ident]
            start = last - lengths[ident] - anchor.before
            spans.append((max(start, 0), last + anchor.after, anchor))
        spans.sort(key=itemgetter(0, 1))
        return spans

    @staticmethod
    def _merged(text: str, spans: list[tuple[int, int, Anchor]]) -> list[tuple[int, int]]:
        merged: list[tuple[int, int]] = []
        low, high = -1, -1
        for start, end, _ in spans:
            if start > high:
                if high > low:
                    merged.append((low, high))
                low = start
            if end > high:
                high = _window_end(text, end)
        if high > low:
            merged.append((low, high))
        return merged


# How far past its reach a window follows a token to its end. Unbounded, one anchor before
# 100 KB without a blank (`login::::...`) made a window of all of it, and every candidate in
# it paid for the detector's whole pattern.
MAX_TOKEN = 4096


def _window_end(text: str, end: int) -> int:
    """A window reaches to the end of the token it ends in (up to `MAX_TOKEN` characters
    on); one whose reach ran into a run of blanks (an aligned `key:            value`)
    reaches the token after them."""
    if end >= len(text):
        return len(text)
    if end and text[end - 1] in " \t":
        ahead = text[end : end + 32]
        end += len(ahead) - len(ahead.lstrip(" \t"))
    space = _SPACE.search(text, end, end + MAX_TOKEN)
    return space.start() if space is not None else min(len(text), end + MAX_TOKEN)


def _release_freed_heap() -> None:
    """Give the heap the compiler freed back to the system. Compiling 1,500 literals peaks
    at about 25 MB, which glibc would otherwise keep in the process for good; elsewhere
    (no `malloc_trim`) nothing is done."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _expression(pattern: str) -> bytes:
    """`pattern`'s classes as written, and its other characters escaped as literal bytes."""
    pieces: list[bytes] = []
    for token in _TOKEN.findall(pattern):
        if len(token) > 1 and max(map(ord, token)) < 256:
            pieces.append(token.encode("latin-1"))
        elif len(token) == 1 and ord(token) < 256:
            pieces.append(b"\\x%02x" % ord(token))
        else:
            raise ValueError(f"anchor {pattern!r}: only Latin-1 is supported")
    return b"".join(pieces)
