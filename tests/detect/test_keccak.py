"""Keccak-256: the permutation against hashlib's SHA3-256, and Ethereum's known digests."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st

from wardgate.detect import keccak


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_the_permutation_is_sha3s(data: bytes) -> None:
    # SHA3-256 is the same sponge with another padding byte.
    assert keccak._sponge(data, 0x06) == hashlib.sha3_256(data).digest()


def test_keccak256_of_nothing_is_ethereums() -> None:
    assert keccak.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
