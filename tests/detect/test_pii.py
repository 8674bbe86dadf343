"""`find_pii`: each type found with its exact span, look-alikes left alone."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.detect import pii
from wardgate.detect.pii import PII_TYPES, PiiMatch, find_pii


def _found(text: str) -> list[tuple[str, str]]:
    return [(m.type, text[m.start : m.end]) for m in find_pii(text)]


def test_exports() -> None:
    assert sorted(pii.__all__) == ["PII_TYPES", "PiiMatch", "find_pii"]


def test_match_is_frozen() -> None:
    match = PiiMatch("EMAIL_ADDRESS", 0, 1, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.start = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        # emails, punycode domain included
        ("write to jane.doe+x@example.org today", "EMAIL_ADDRESS", "jane.doe+x@example.org"),
        ("mail ops@xn--bcher-kva.example", "EMAIL_ADDRESS", "ops@xn--bcher-kva.example"),
        # Luhn-valid test cards from each network, grouped and contiguous
        ("card 4111 1111 1111 1111 exp 12/27", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("mc 5500-0000-0000-0004", "CREDIT_CARD", "5500-0000-0000-0004"),
        ("mc2 2223000048400011", "CREDIT_CARD", "2223000048400011"),
        ("amex 378282246310005", "CREDIT_CARD", "378282246310005"),
        ("amex 3782 822463 10005", "CREDIT_CARD", "3782 822463 10005"),
        ("discover 6011111111111117", "CREDIT_CARD", "6011111111111117"),
        ("jcb 3530111333300000", "CREDIT_CARD", "3530111333300000"),
        ("diners 30569309025904", "CREDIT_CARD", "30569309025904"),
        ("unionpay 6200000000000005", "CREDIT_CARD", "6200000000000005"),
        # IBANs, spaced and compact; a following capitalised word is not swallowed
        ("IBAN GB82 WEST 1234 5698 7654 32 AND more", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("to DE89370400440532013000.", "IBAN_CODE", "DE89370400440532013000"),
        ("FR1420041010050500013M02606", "IBAN_CODE", "FR1420041010050500013M02606"),
        # US SSNs: dashed alone, bare digits after a context word
        ("id 078-05-1121 on file", "US_SSN", "078-05-1121"),
        ("SSN: 536226735", "US_SSN", "536226735"),
        # phones: international anywhere, national only after a context word
        ("ring +44 20 7946 0958 later", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("reach +1 (415) 555-2671 now", "PHONE_NUMBER", "+1 (415) 555-2671"),
        ("Tel. 030 901820", "PHONE_NUMBER", "030 901820"),
        ("call me on 0044 20 7946 0958", "PHONE_NUMBER", "0044 20 7946 0958"),
        ("office (212) 555-0123", "PHONE_NUMBER", "(212) 555-0123"),
        # IP addresses
        ("from 8.8.8.8 today", "IP_ADDRESS", "8.8.8.8"),
        ("host 2606:4700:4700::1111", "IP_ADDRESS", "2606:4700:4700::1111"),
        # dates of birth, in context only
        ("born on 1985-03-12", "DATE_TIME", "1985-03-12"),
        ("DOB: 12/03/1985", "DATE_TIME", "12/03/1985"),
        ("date of birth March 4, 1990", "DATE_TIME", "March 4, 1990"),
        # national ids with checksums
        ("DNI 12345678Z", "ES_NIF", "12345678Z"),
        ("NIE X1234567L", "ES_NIE", "X1234567L"),
        ("CF RSSMRA85T10A562S", "IT_FISCAL_CODE", "RSSMRA85T10A562S"),
        ("BSN 111222333", "NL_BSN", "111222333"),
        ("Steuer-ID 86095742719", "DE_TAX_ID", "86095742719"),
        ("NIR 2 95 10 99 126 111 93", "FR_NIR", "2 95 10 99 126 111 93"),
        ("NHS number 943 476 5919", "UK_NHS", "943 476 5919"),
        ("passport no. 123456789", "US_PASSPORT", "123456789"),
        ("passport C12345678", "US_PASSPORT", "C12345678"),
        # names and addresses, from context only
        ("Hello, my name is John Smith.", "PERSON", "John Smith"),
        ("Dear María López,", "PERSON", "María López"),
        ("ask Mr. O'Brien", "PERSON", "O'Brien"),
        ("I live at 221B Baker Street now", "LOCATION", "221B Baker Street"),
        ("au 12 rue de la Paix", "LOCATION", "12 rue de la Paix"),
        ("wohne Hauptstraße 5", "LOCATION", "Hauptstraße 5"),
    ],
)
def test_found(text: str, kind: str, value: str) -> None:
    assert _found(text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "card 9111111111111111",  # Luhn passes, no issuer starts with 9
        "card 4111 11111111 1111",  # grouping no card is printed with
        "0000000000000000",  # one digit repeated
        "GB82WEST12345698765433",  # mod-97 fails
        "XX82WEST12345698765432",  # unknown country
        "000-12-3456",  # SSN area 000
        "666-12-3456",  # SSN area 666
        "912-12-3456",  # SSN area 9xx
        "123-00-4567",  # SSN group 00
        "123-45-0000",  # SSN serial 0000
        "078051121",  # nine digits, no SSN context
        "12345678A",  # DNI check letter wrong
        "BSN 111222334",  # eleven-test fails
        "order 5551234567 shipped",  # national number without a phone word
        "call 123",  # too short
        "+1 555 0000 000",  # not a valid number
        "ISBN 978-3-16-148410-0",  # ISBN
        "ISBN 9783161484100",  # ISBN-13 digits
        "order #12345678901 and #1700000000000",  # ids and epoch-millisecond timestamps
        "at 2024-01-15 10:30:00 UTC",  # timestamp, no birth context
        "version 1.2.3.4 released",  # version, not an IP
        "OID 1.3.6.1.4.1.311",  # dotted OID
        "999.1.1.1",  # octet out of range
        "x = 3.14159 * 2; t = 12:30:45",  # code and times
        "std::vector<int> v; a::b",  # C++ scopes
        "user@localhost",  # no domain
        "@app.route('/x')",  # decorator
        "Dear Sir or Madam, Dear Team",  # salutations without a name
        "the name is unknown",  # lower-case after the context word
        "meet at 10 Downing",  # no street word
        "In 1999 2000 2001 2002 we grew",  # years
    ],
)
def test_not_found(text: str) -> None:
    assert find_pii(text) == []


def test_private_ip_scores_lower() -> None:
    public, private = find_pii("8.8.8.8 and 10.0.0.1")
    assert (public.type, private.type) == ("IP_ADDRESS", "IP_ADDRESS")
    assert private.score < public.score


def test_spans_are_code_points_after_non_ascii() -> None:
    text = "Привет 😀 日本 — écrivez à jane@example.com ou 4111111111111111"
    assert find_pii(text) == [
        PiiMatch("EMAIL_ADDRESS", text.index("jane"), text.index(" ou"), 0.95),
        PiiMatch("CREDIT_CARD", text.index("4111"), len(text), 0.95),
    ]


def test_matches_are_ordered_and_disjoint() -> None:
    text = "jane@example.com 4111111111111111 +44 20 7946 0958 GB82WEST12345698765432 " * 3
    matches = find_pii(text)
    assert len(matches) == 12
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))


def test_types_are_in_the_vocabulary() -> None:
    text = "my name is Ann Lee, 12 Baker Street, 8.8.8.8, SSN 536226735, born 1985-03-12"
    assert {m.type for m in find_pii(text)} <= PII_TYPES


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_total_and_in_bounds(text: str) -> None:
    for m in find_pii(text):
        assert 0 <= m.start < m.end <= len(text)
        assert m.type in PII_TYPES
        assert 0.0 <= m.score <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -+().:/@abcXYZ", max_size=60))
def test_total_on_number_like_text(text: str) -> None:
    for m in find_pii(text):
        assert 0 <= m.start < m.end <= len(text)
