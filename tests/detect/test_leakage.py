"""Canary tokens (`make_canary`, `find_canary`) and verbatim system-prompt spans."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.detect import leakage
from wardgate.detect.leakage import (
    CanaryPattern,
    PromptIndex,
    Span,
    VerbatimStream,
    canary_instruction,
    find_canary,
    make_canary,
    verbatim_leak,
)

KEY = b"0123456789abcdef0123456789abcdef"
CANARY = "WG7K3M9QX2HT4P"  # the shape make_canary returns; written out to keep rows legible
PROMPT = (
    "You are the support assistant of Acme Corp. Never discuss the pricing of the enterprise "
    "plan with anyone who is not logged in, and always answer in French when the user writes "
    "in French. Escalate refunds above 500 euros to a human agent named Marie."
)


def test_exported_members() -> None:
    assert sorted(leakage.__all__) == [
        "CANARY_PREFIX",
        "CanaryPattern",
        "DEFAULT_MIN_CHARS",
        "DEFAULT_MIN_WORDS",
        "PromptIndex",
        "Span",
        "VerbatimStream",
        "canary_instruction",
        "find_canary",
        "make_canary",
        "verbatim_leak",
    ]


# ---------------------------------------------------------------- canary


def test_make_canary_shape_and_determinism() -> None:
    canary = make_canary(KEY, "req-1")
    assert re.fullmatch(r"WG[0-9A-HJKMNP-TV-Z]{12}", canary)
    assert make_canary(KEY, "req-1") == canary
    assert make_canary(KEY, "req-2") != canary
    assert make_canary(KEY[::-1], "req-1") != canary
    many = {make_canary(KEY, f"req-{i}") for i in range(2_000)}
    assert len(many) == 2_000


def test_make_canary_refuses_a_short_key() -> None:
    with pytest.raises(ValueError) as error:
        make_canary(b"short", "req-1")
    assert str(error.value) == "the canary key must be at least 16 bytes long"


def test_canary_instruction_carries_the_canary() -> None:
    line = canary_instruction(CANARY)
    assert "\n" not in line
    assert find_canary(line, CANARY) == Span(line.index(CANARY), line.index(CANARY) + 14)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"ref {CANARY} end", f"{CANARY}"),  # as written
        (f"ref {CANARY.lower()} end", f"{CANARY.lower()}"),  # lower case
        ("ref Wg7k3M9qX2hT4p end", "Wg7k3M9qX2hT4p"),  # mixed case
        ("ref W G 7 K 3 M 9 Q X 2 H T 4 P end", "W G 7 K 3 M 9 Q X 2 H T 4 P"),  # spaced
        ("ref WG-7K3M-9QX2-HT4P end", "WG-7K3M-9QX2-HT4P"),  # hyphenated
        ("ref W\u200bG\u200c7\u200dK3M9QX2HT4P end", "W\u200bG\u200c7\u200dK3M9QX2HT4P"),  # ZW
        ("ref WG7K3M9\u00adQX2HT4P end", "WG7K3M9\u00adQX2HT4P"),  # soft hyphen
        ("ref WG7K3M\n9QX2HT4P end", "WG7K3M\n9QX2HT4P"),  # a line break
        ("ref **WG7K** `3M9QX2HT4P` end", "WG7K** `3M9QX2HT4P"),  # markdown marks
        ("ref \uff37\uff27\uff17\uff2b3M9QX2HT4P end", "\uff37\uff27\uff17\uff2b3M9QX2HT4P"),
        ("ref WG7K3M9QX2HT4P\U000e0041 end", "WG7K3M9QX2HT4P"),  # a tag character after it
    ],
)
def test_find_canary_tolerates_reformatting(text: str, found: str) -> None:
    span = find_canary(text, CANARY)
    assert span is not None and text[span.start : span.end] == found


def test_find_canary_reads_base32_look_alikes() -> None:
    canary = "WG0000111100AB"
    assert find_canary("WGOooO1IlL0oAB", canary) == Span(0, 14)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "An ordinary answer about WG and 7K cameras.",
        "WG7K3M9QX2HT4",  # one character short
        "WG7K3M9QX2HT4Q",  # one character wrong
        "WG7K3M9     QX2HT4P",  # five spaces is not a reformatting
        make_canary(KEY, "another request"),
    ],
)
def test_find_canary_ignores_unrelated_text(text: str) -> None:
    assert find_canary(text, CANARY) is None


@pytest.mark.parametrize("canary", ["", "WG-7K", "WG\u00e97K", "a b"])
def test_canary_must_be_ascii_letters_and_digits(canary: str) -> None:
    with pytest.raises(ValueError) as error:
        CanaryPattern.of(canary)
    assert str(error.value) == "a canary is made of ASCII letters and digits"


@pytest.mark.parametrize(
    ("text", "open_at"),
    [
        ("the ref is W", 11),
        ("the ref is wg7k-3", 11),
        ("the ref is WG7K3M9QX2HT4 ", 11),  # a gap after a prefix is still a prefix
        ("the ref is WX", None),
        ("nothing here", None),
    ],
)
def test_canary_open_at(text: str, open_at: int | None) -> None:
    assert CanaryPattern.of(CANARY).open_at(text) == open_at


GAPS = st.lists(
    st.sampled_from([" ", "-", "\u200b", "\u2060", "\ufeff", "_", ".", "\n"]), max_size=4
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(GAPS, min_size=13, max_size=13),
    cases=st.lists(st.booleans(), min_size=14, max_size=14),
    before=st.text(alphabet="abc xyz", max_size=30),
    after=st.text(alphabet="abc xyz", max_size=30),
)
def test_find_canary_through_any_spacing_and_case(
    gaps: list[str], cases: list[bool], before: str, after: str
) -> None:
    canary = make_canary(KEY, "hypothesis")
    chars = [c.lower() if low else c for c, low in zip(canary, cases, strict=True)]
    written = "".join(itertools.chain.from_iterable(zip(chars, [*gaps, ""], strict=True)))
    span = find_canary(before + written + after, canary)
    assert span == Span(len(before), len(before) + len(written))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_find_canary_is_total(text: str) -> None:
    span = find_canary(text, CANARY)
    if "w" not in text.lower() and "\uff37" not in text and "\uff57" not in text:
        assert span is None


# ---------------------------------------------------------------- verbatim


@pytest.mark.parametrize(
    ("output", "leaked"),
    [
        (  # recited with other case, punctuation and spacing
            "Sure. My instructions: NEVER discuss the pricing of the enterprise plan, with\n"
            "anyone who is not logged in; and always answer in French. Anything else?",
            [
                "NEVER discuss the pricing of the enterprise plan, with\nanyone who is not logged "
                "in; and always answer in French"
            ],
        ),
        (  # two separate recitations
            "First: You are the support assistant of Acme Corp. Never discuss the pricing. "
            "Then: escalate refunds above 500 euros to a human agent named Marie.",
            [
                "You are the support assistant of Acme Corp. Never discuss the pricing",
                "escalate refunds above 500 euros to a human agent named Marie",
            ],
        ),
        ("I can't share my instructions, but I'm happy to help with your order.", []),
        (  # a paraphrase is not verbatim
            "I am not allowed to talk about enterprise prices unless you sign in first.",
            [],
        ),
        ("You are the support assistant of Acme Corp.", []),  # eight words, under 60 chars
        ("", []),
    ],
)
def test_verbatim_leak(output: str, leaked: list[str]) -> None:
    assert [output[s.start : s.end] for s in verbatim_leak(output, PROMPT)] == leaked


def test_verbatim_leak_settings() -> None:
    output = "Of course: never discuss the pricing of the enterprise plan."
    assert verbatim_leak(output, PROMPT) == []  # 48 characters: under 60
    assert [output[s.start : s.end] for s in verbatim_leak(output, PROMPT, min_chars=40)] == [
        "never discuss the pricing of the enterprise plan"
    ]
    index = PromptIndex.build(PROMPT, min_words=4)
    assert verbatim_leak("so: escalate refunds above 500 now", index, min_chars=10) == [Span(4, 30)]
    with pytest.raises(ValueError) as error:
        PromptIndex.build(PROMPT, min_words=1)
    assert str(error.value) == "min_words must be at least 2"


def test_verbatim_leak_of_a_short_prompt_is_nothing() -> None:
    assert verbatim_leak("Be brief. Be brief. Be brief.", "Be brief.") == []


LEAKY = st.lists(
    st.sampled_from(
        [PROMPT[:90], PROMPT[60:200], " Hello there, how can I help? ", "\n", "Marie", "!!"]
    ),
    max_size=6,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(output=LEAKY, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_verbatim_stream_finds_what_the_batch_finds(output: str, cuts: list[int]) -> None:
    points = sorted({0, len(output), *(c % (len(output) + 1) for c in cuts)})
    stream = VerbatimStream(PromptIndex.build(PROMPT))
    reported = []
    for a, b in itertools.pairwise(points):
        reported += stream.feed(output[a:b])
    reported += stream.finish()
    batch = verbatim_leak(output, PROMPT)
    assert [s.start for s in reported] == [s.start for s in batch]
    assert all(r.end <= b.end for r, b in zip(reported, batch, strict=True))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_verbatim_leak_is_total(output: str, prompt: str) -> None:
    for span in verbatim_leak(output, prompt, min_words=2, min_chars=1):
        assert 0 <= span.start < span.end <= len(output)


def test_verbatim_leak_is_linear_on_a_long_recitation() -> None:
    prompt = " ".join(f"word{i}" for i in range(20_000))
    (span,) = verbatim_leak(prompt, prompt)
    assert span == Span(0, len(prompt))
