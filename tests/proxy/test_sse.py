"""The SSE splitter is correct however the stream is cut; hold-back releases in order."""

from __future__ import annotations

import itertools

from hypothesis import given, strategies as st

from wardgate.proxy.sse import HoldBack, SseSplitter, parse_event

EVENTS = [
    b'data: {"a": 1}\n\n',
    b"event: ping\ndata: x\r\n\r\n",
    b"data: line one\ndata: line two\n\n",
    b": a comment\ndata: [DONE]\n\n",
]


@given(
    events=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_split_anywhere_gives_the_same_events(events: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(events)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    splitter = SseSplitter()
    seen: list[bytes] = []
    for start, end in itertools.pairwise(points):
        seen.extend(splitter.feed(stream[start:end]))
    assert seen == events
    assert splitter.rest() == b""


def test_parse_event_fields() -> None:
    event = parse_event(b"event: delta\ndata: one\ndata:two\n\n", 3)
    assert (event.event, event.data, event.index) == ("delta", "one\ntwo", 3)


def test_holdback_zero_releases_immediately() -> None:
    assert HoldBack(0).push(b"e1", 5) == [b"e1"]


def test_holdback_keeps_the_newest_window() -> None:
    holdback = HoldBack(10)
    assert holdback.push(b"e1", 6) == []
    assert holdback.push(b"e2", 6) == []  # only 6 characters stand behind e1
    assert holdback.push(b"e3", 6) == [b"e1"]  # 12 behind e1, 6 behind e2
    assert holdback.drain() == [b"e2", b"e3"]
