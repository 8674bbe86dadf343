"""The pseudonym vault: one placeholder per value, restored however a model writes it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, strategies as st

from wardgate.detect import sensitive
from wardgate.detect.sensitive import (
    PseudonymVault,
    SensitiveMatch,
    find_sensitive,
    keyed_digest,
    label,
)


def test_the_same_value_gets_the_same_placeholder_and_types_count_apart() -> None:
    vault = PseudonymVault()
    assert vault.placeholder("EMAIL_ADDRESS", "a@x.org") == "<EMAIL_1>"
    assert vault.placeholder("EMAIL_ADDRESS", "b@x.org") == "<EMAIL_2>"
    assert vault.placeholder("EMAIL_ADDRESS", "a@x.org") == "<EMAIL_1>"
    assert vault.placeholder("CREDIT_CARD", "4111111111111111") == "<CARD_1>"
    assert vault.placeholder("SECRET.aws", "AKIA...") == "<SECRET_1>"
    assert len(vault) == 4


@pytest.mark.parametrize(
    "written",
    ["<EMAIL_1>", "<email_1>", "< EMAIL_1 >", "<EMAIL 1>", "<EMAIL-1>", "EMAIL_1", "Email_1"],
)
def test_placeholders_are_restored_however_the_model_reformats_them(written: str) -> None:
    vault = PseudonymVault()
    vault.placeholder("EMAIL_ADDRESS", "a@x.org")
    assert vault.restore(f"Mail {written}, then stop.") == "Mail a@x.org, then stop."


def test_unknown_numbers_and_lookalike_words_are_left_alone() -> None:
    vault = PseudonymVault()
    vault.placeholder("EMAIL_ADDRESS", "a@x.org")
    text = "<EMAIL_2> EMAIL_10 MYEMAIL_1 EMAIL_1x <PHONE_1>"
    assert vault.restore(text) == text


def test_restoring_inside_json_text_escapes_the_value() -> None:
    vault = PseudonymVault()
    vault.placeholder("PERSON", 'Ann "Nan" Lee')
    restored = vault.restore('{"to": "<PERSON_1>"}', escape=lambda v: v.replace('"', '\\"'))
    assert restored == '{"to": "Ann \\"Nan\\" Lee"}'


def test_a_full_vault_hands_out_no_more_placeholders() -> None:
    vault = PseudonymVault(limit=2)
    assert vault.placeholder("PERSON", "A") and vault.placeholder("PERSON", "B")
    assert vault.placeholder("PERSON", "C") is None
    assert vault.placeholder("PERSON", "A") == "<PERSON_1>"


def test_labels_and_keyed_digests() -> None:
    assert label("EMAIL_ADDRESS") == "EMAIL" and label("SECRET.github") == "SECRET"
    assert label("NL_BSN") == "NL_BSN"
    one, two = keyed_digest(b"k1", "078-05-1120"), keyed_digest(b"k2", "078-05-1120")
    assert one != two and len(one) == 12 and one == keyed_digest(b"k1", "078-05-1120")


def test_overlaps_are_resolved_against_neighbours_only() -> None:
    # Disjoint findings in order: each new one is checked against its neighbours, the same
    # answer as against every kept one (a long text of names took seconds that way).
    text = "Maria Lopez met Klaus Meyer. " * 200
    found = find_sensitive(text)
    assert len(found) == 400
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


_FINDINGS = st.lists(
    st.builds(
        lambda start, length, score: SensitiveMatch("X", start, start + length, score),
        st.integers(0, 60),
        st.integers(1, 12),
        st.sampled_from([0.5, 0.6, 0.7, 0.9]),
    ),
    max_size=14,
)


@given(_FINDINGS)
def test_overlaps_resolved_as_by_comparing_with_every_kept_finding(
    found: list[SensitiveMatch],
) -> None:
    kept: list[SensitiveMatch] = []
    for match in sorted(found, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    assert sensitive._most_certain(found) == sorted(kept, key=lambda m: m.start)
