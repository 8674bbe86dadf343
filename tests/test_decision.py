"""Decisions are frozen values built by constructors; evidence never holds the raw value."""

from __future__ import annotations

import dataclasses

import pytest

from wardgate.decision import Action, Decision, Edit, Evidence, Finding


def test_precedence_is_block_modify_flag_allow() -> None:
    assert sorted([Action.FLAG, Action.BLOCK, Action.ALLOW, Action.MODIFY]) == [
        Action.ALLOW,
        Action.FLAG,
        Action.MODIFY,
        Action.BLOCK,
    ]


def test_constructors() -> None:
    finding = Finding(kind="x.y", rule="r")
    assert Decision.allow().action is Action.ALLOW
    assert Decision.flag([finding]).findings == (finding,)
    edit = Edit(slot="body", start=0, end=1, replacement="*")
    assert Decision.modify([edit], [finding]).edits == (edit,)
    blocked = Decision.block(403, [finding])
    assert blocked.action is Action.BLOCK and blocked.status == 403
    with pytest.raises(dataclasses.FrozenInstanceError):
        blocked.status = 200  # type: ignore[misc]


def test_evidence_is_a_length_and_a_short_hash() -> None:
    evidence = Evidence.of("my secret value")
    assert evidence.length == 15
    assert len(evidence.digest) == 12
    assert "secret" not in repr(evidence)
