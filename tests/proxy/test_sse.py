"""The SSE splitter is correct however the stream is cut; hold-back releases in order."""

from __future__ import annotations

import itertools

import orjson
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


def _text_event(text: str) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _texts(events: list[bytes]) -> str:
    return "".join(
        orjson.loads(e.decode().removeprefix("data: "))["choices"][0]["delta"]["content"]
        for e in events
    )


def test_held_text_can_be_rewritten_across_events_and_sent_text_cannot() -> None:
    from wardgate.providers.events import with_event_text

    pieces = ["see ![a", "](https://e", "vil.test/x?d=1)", " done"]
    holdback = HoldBack(window=100)
    for piece in pieces:
        holdback.hold(_text_event(piece), len(piece))  # text unknown: no rewrite
    assert not holdback.rewrite(4, 33, "a", with_event_text)
    holdback = HoldBack(window=100)
    for piece in pieces:
        holdback.hold(_text_event(piece), len(piece), piece)
    assert holdback.rewrite(4, 33, "a", with_event_text)
    assert _texts(holdback.drain()) == "see a done"
    small = HoldBack(window=5)
    released = []
    for piece in pieces:
        released += small.push(_text_event(piece), len(piece), piece)
    assert released and not small.rewrite(4, 33, "a", with_event_text)  # partly sent already


def test_one_held_event_takes_several_edits_from_original_offsets() -> None:
    from wardgate.providers.events import with_event_text

    pieces = ["mail <EMAIL_1> and <EMAIL_2>", " now"]
    holdback = HoldBack(window=100)
    for piece in pieces:
        holdback.hold(_text_event(piece), len(piece), piece)
    assert holdback.rewrite(5, 14, "ann@example.org", with_event_text)
    assert holdback.rewrite(19, 28, "bo@example.org", with_event_text)
    assert not holdback.rewrite(10, 20, "x", with_event_text)  # overlaps both: refused
    assert _texts(holdback.drain()) == "mail ann@example.org and bo@example.org now"
