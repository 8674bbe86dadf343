"""Anchored windows find exactly what a scan of the whole text finds."""

from __future__ import annotations

import random

import pytest

from wardgate.detect import pii, secrets
from wardgate.detect.anchors import MAX_TOKEN, Anchor, AnchorScanner

FRAGMENTS = [
    "Dear Ann Lee,", "my name is Jürgen Müller", "Mr. O'Brien", "call +1 415 555 2671",
    "phone: 020 7946 0958", "ann.lee@example.org", "x@y", "card 4111 1111 1111 1111",
    "SSN 078-05-1120", "IBAN DE89 3704 0044 0532 0130 00", "born on 12 March 1985",
    "2024-03-05", "10.0.0.1", "2001:db8::1", "version 1.2.3.4", "12 Main Street",
    "Friedrichstraße 123", "12 rue de la Paix", "passport X1234567", "BSN 111222333",
    "order 88231", "AKIAZ7QW3RTYUIOP2ASD", "ghp_1234567890abcdefghijABCDEFGHIJ123456",
    "api_key = 'Zx9Qw3Er7Ty1Ui5Op2'", "password: hunter2hunter2", "https://u:pa55w0rd@db.io/x",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "sk_live_abcdefghijklmnopqrstuvwx",
    "token=", ":", "=", "@", "é", "\u2019", "\n", "  ", "the", "quarterly", "numbers",
    "value", "é€", "42", "7", "-", ".", "(", ")", "+",
    # names, places and dates found from lists and cues
    "Zbigniew Kowalski", "Best regards,\nAnna", "my wife Ingrid", "I'm Priya", "Herr Müller",
    "Tunisia", "New York City", "in 1977", "at 15:00", "3:30 PM", "March 3rd", "14. Mai 2024",
    "2024年5月14日", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
]  # fmt: skip


def _whole(scanner: AnchorScanner, text: str) -> list[tuple[int, int]]:
    return [(0, len(text))] if text else []


def _whole_split(
    scanner: AnchorScanner, text: str
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    whole = _whole(scanner, text)
    return whole, whole


_WINDOWS_AND_MATCHES = AnchorScanner.windows_and_matches


def _whole_grouped(
    scanner: AnchorScanner, text: str, exact: frozenset[str] = frozenset()
) -> tuple[dict[str, list[tuple[int, int]]], list[tuple[int, int, Anchor]]]:
    # Every group's window is the whole text; the exact groups' matches are what they are.
    _, matches = _WINDOWS_AND_MATCHES(scanner, text, exact)
    whole = _whole(scanner, text)
    groups = {anchor.group for anchor in scanner._anchors} - exact
    return ({group: whole for group in groups} if whole else {}), matches


def scan_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every detector scan the whole text with every shape: the reference."""
    monkeypatch.setattr(AnchorScanner, "windows", _whole)
    monkeypatch.setattr(AnchorScanner, "split_windows", _whole_split)
    monkeypatch.setattr(AnchorScanner, "windows_and_matches", _whole_grouped)


@pytest.mark.parametrize("seed", range(30))
def test_windows_change_nothing_found(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    texts = [
        "".join(rng.choice(FRAGMENTS) + rng.choice(["", " ", " ", "\n", ", "]) for _ in range(n))
        for n in (1, 5, 20, 80)
        for _ in range(5)
    ]
    windowed = [(pii.find_pii(t), secrets.find_secrets(t)) for t in texts]
    scan_whole_text(monkeypatch)
    assert windowed == [(pii.find_pii(t), secrets.find_secrets(t)) for t in texts]


def test_windows_merge_and_end_at_whitespace() -> None:
    scanner = AnchorScanner([Anchor("@", 3, 2), Anchor("[0-9]", 0, 0)])
    text = "abc mail ann@example.org now 7 and 8 end"
    windows = scanner.windows(text)
    assert [text[a:b] for a, b in windows] == ["ann@example.org", "7", "8"]
    assert scanner.windows("") == [] and scanner.windows("no anchors here") == []


def test_offsets_are_string_indices_past_non_ascii_text() -> None:
    scanner = AnchorScanner([Anchor("@", 0, 0)])
    text = "€€ 😀 a@b"
    ((start, end),) = scanner.windows(text)
    assert text[start:end] == "@b"


def test_lone_surrogates_are_scanned_not_raised_on() -> None:
    text = "\ud800 mail ann@example.org"
    assert [m.type for m in pii.find_pii(text)] == ["EMAIL_ADDRESS"]


def test_a_window_follows_a_token_at_most_max_token_characters() -> None:
    # One anchor before 100 KB without a blank must not make a window of all of it.
    scanner = AnchorScanner([Anchor("login", 0, 8)])
    text = "login" + ":" * 100_000 + " tail"
    assert scanner.windows(text) == [(0, 5 + 8 + MAX_TOKEN)]
