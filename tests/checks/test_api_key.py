"""`api_key`: config contract first, then behaviour over real exchanges."""

from __future__ import annotations

import hashlib

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from wardgate.checks.api_key import ApiKeyCheck, Config, hash_key
from wardgate.decision import Action
from wardgate.exchange import Exchange, Identity

KEY_A = "sk-test-alpha-0123456789"
KEY_B = "sk-test-beta-9876543210"
DIGEST_A = hashlib.sha256(KEY_A.encode()).hexdigest()  # what `printf %s KEY | sha256sum` prints


def _keys() -> list[dict[str, object]]:
    return [
        {"consumer": "alpha", "group": "gold", "attributes": {"team": "a"}, "sha256": DIGEST_A},
        {"consumer": "beta", "sha256": hash_key(KEY_B).upper()},  # case of the hex is free
    ]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"keys": _keys()}, None),
        ({"keys": _keys(), "header": "x-api-key"}, None),
        ({"keys": _keys(), "header": ["authorization", "api-key", "x-api-key"]}, None),
        ({"keys": []}, "at least 1 item"),
        ({"keys": [{"consumer": "a", "sha256": "abc"}]}, "should match pattern"),
        ({"keys": [{"consumer": "a", "sha256": KEY_A}]}, "should match pattern"),  # raw key
        ({"keys": [{"consumer": "", "sha256": DIGEST_A}]}, "at least 1 character"),
        (
            {
                "keys": [
                    {"consumer": "a", "sha256": DIGEST_A},
                    {"consumer": "b", "sha256": DIGEST_A},
                ]
            },
            "consumers 'a' and 'b' have the same key",
        ),
        ({"keys": _keys(), "header": "bad header"}, "invalid header name"),
        ({"keys": _keys(), "header": []}, "at least one header"),
        ({"keys": _keys(), "colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key(KEY_A) == DIGEST_A


def _exchange(headers: list[tuple[str, str]] | None = None) -> Exchange:
    return Exchange(
        request_id="r",
        method="POST",
        path="/v1/chat/completions",
        query_string="",
        headers=CIMultiDict(headers or []),
        client_ip="192.0.2.1",
    )


@pytest.mark.parametrize(
    ("extra", "headers", "consumer", "kind", "challenge"),
    [
        ({}, [("Authorization", f"Bearer {KEY_A}")], "alpha", None, None),
        ({}, [("authorization", f"bearer   {KEY_B} ")], "beta", None, None),  # case, spaces
        ({}, [("Authorization", "Bearer sk-wrong")], None, "auth.invalid", "Bearer"),
        ({}, [("Authorization", "Bearer ")], None, "auth.invalid", "Bearer"),  # empty token
        ({}, [("Authorization", f"Basic {KEY_A}")], None, "auth.missing", "Bearer"),
        ({}, [], None, "auth.missing", 'Bearer realm="wardgate"'),
        ({}, [("x-api-key", KEY_A)], None, "auth.missing", "Bearer"),  # not configured
        (
            {},
            [("Authorization", f"Bearer {KEY_A}"), ("Authorization", f"Bearer {KEY_B}")],
            None,
            "auth.invalid",
            "Bearer",
        ),  # two different keys: ambiguous
        ({"header": "x-api-key"}, [("X-Api-Key", KEY_A)], "alpha", None, None),
        ({"header": "x-api-key"}, [("x-api-key", f"Bearer {KEY_A}")], None, "auth.invalid", "Api"),
        ({"header": "x-api-key"}, [], None, "auth.missing", 'ApiKey header="x-api-key"'),
        ({"header": ["api-key", "x-api-key"]}, [("api-key", KEY_B)], "beta", None, None),
        (
            {"header": ["authorization", "x-api-key"]},
            [("authorization", f"Bearer {KEY_A}"), ("x-api-key", KEY_A)],
            "alpha",
            None,
            None,
        ),  # the same key twice is fine
        (
            {"header": ["authorization", "x-api-key"]},
            [("authorization", f"Bearer {KEY_A}"), ("x-api-key", KEY_B)],
            None,
            "auth.invalid",
            "Bearer",
        ),
        ({"optional": True}, [], None, None, None),  # anonymous passes, without identity
        ({"optional": True}, [("Authorization", "Bearer nope")], None, "auth.invalid", "Bearer"),
    ],
)
async def test_decisions(
    extra: dict[str, object],
    headers: list[tuple[str, str]],
    consumer: str | None,
    kind: str | None,
    challenge: str | None,
) -> None:
    check = ApiKeyCheck(Config.model_validate({"keys": _keys(), **extra}))
    ex = _exchange(headers)
    decision = await check.check_request(ex)
    if kind is None:
        assert decision.action is Action.ALLOW
        assert (ex.identity.consumer if ex.identity else None) == consumer
        assert not decision.headers
        return
    assert decision.action is Action.BLOCK and decision.status == 401
    (finding,) = decision.findings
    assert finding.kind == kind
    assert finding.evidence is None
    assert KEY_A not in repr(decision) and KEY_B not in repr(decision)
    assert ex.identity is None
    assert challenge is not None and _challenge(decision).startswith(challenge)


async def test_identity_carries_group_and_attributes() -> None:
    check = ApiKeyCheck(Config.model_validate({"keys": _keys()}))
    ex = _exchange([("Authorization", f"Bearer {KEY_A}")])
    await check.check_request(ex)
    assert ex.identity == Identity("alpha", "gold", {"team": "a"})
    with pytest.raises(TypeError):
        ex.identity.attributes["team"] = "b"  # type: ignore[index]  # shared: read-only


async def test_every_one_of_many_keys_is_found() -> None:
    """With 1,000 keys every digest is compared on each request; each key still matches."""
    keys = [f"sk-many-{i:04d}" for i in range(1000)]
    config = Config.model_validate(
        {"keys": [{"consumer": f"c{i}", "sha256": hash_key(k)} for i, k in enumerate(keys)]}
    )
    check = ApiKeyCheck(config)
    for index in (0, 1, 499, 998, 999):
        ex = _exchange([("Authorization", f"Bearer {keys[index]}")])
        assert (await check.check_request(ex)).action is Action.ALLOW
        assert ex.identity is not None and ex.identity.consumer == f"c{index}"
    ex = _exchange([("Authorization", "Bearer sk-many-1000")])
    assert (await check.check_request(ex)).status == 401


def _challenge(decision: object) -> str:
    return dict(decision.headers)["WWW-Authenticate"]  # type: ignore[attr-defined]
