"""The inventory: observations folded into endpoints, states, bounds and hostile bodies."""

from __future__ import annotations

import random
import string
from typing import Any

import orjson
import pytest

from wardgate.discovery.inventory import NOISE_TEMPLATE, Endpoint, Inventory, merge_states
from wardgate.discovery.observation import Observation

HOST = "api.example.com"


def _obs(method: str = "GET", path: str = "/users/1", **fields: Any) -> Observation:
    values: dict[str, Any] = {"host": HOST, "status": 200, "time": 1_700_000_000.0}
    values.update(fields)
    return Observation(method, path, **values)


def _json(value: object) -> dict[str, Any]:
    return {"response_type": "application/json", "response_body": orjson.dumps(value)}


def _keys(inventory: Inventory) -> list[tuple[str, str]]:
    return [(e.method, e.template) for e in inventory.endpoints()]


def test_add_folds_calls_into_one_templated_endpoint() -> None:
    inventory = Inventory()
    for user in (1, 2, 3):
        inventory.add(_obs(path=f"/users/{user}", query=(("verbose", "true"),)))
    (endpoint,) = inventory.endpoints()
    assert (endpoint.host, endpoint.method, endpoint.template) == (HOST, "GET", "/users/{userId}")
    assert endpoint.count == 3
    assert endpoint.statuses == {200: 3}
    assert endpoint.query["verbose"].to_json_schema()["type"] == "boolean"
    assert endpoint.path_params[1].to_json_schema()["type"] == "integer"


def test_compact_merges_endpoints_whose_template_sharpened() -> None:
    inventory = Inventory()
    # Word ids stay literal until enough siblings share one continuation.
    for name in ("alice", "bob", "carol", "dave", "erin"):
        inventory.add(_obs(path=f"/users/v1/{name}"))
    assert _keys(inventory) == [("GET", "/users/v1/{userId}")]
    assert len(inventory) == 1
    assert inventory.endpoints()[0].count == 5


def test_merge_endpoint_adds_counts() -> None:
    first, second = Inventory(), Inventory()
    first.add(_obs(path="/health"))
    second.add(_obs(path="/health", status=503))
    first.merge_endpoint(second.endpoints()[0])
    (endpoint,) = first.endpoints()
    assert endpoint.count == 2
    assert endpoint.statuses == {200: 1, 503: 1}
    assert endpoint.errors == 1


def test_state_round_trip_keeps_everything() -> None:
    inventory = Inventory()
    inventory.add(
        _obs(
            "POST",
            "/orders",
            headers=(("x-api-key", "k"), ("x-tenant", "7")),
            cookies=(("session", "s"),),
            request_type="application/json",
            request_body=b'{"item": "a", "qty": 2}',
            consumer="team-a",
            **_json({"id": 9, "contact": "ann@example.com"}),
        )
    )
    ((host, method, template), state) = next(inventory.states())
    back = Endpoint.from_state(host, method, template, state)
    assert back.to_state() == state
    assert orjson.loads(orjson.dumps(state)) == state  # plain JSON
    assert back.consumers == {"team-a": 1}
    assert "x-tenant" in back.headers
    assert back.auth == {"apiKey:header:x-api-key": 1, "cookie:session": 1}


def test_from_state_refuses_unknown_version() -> None:
    with pytest.raises(ValueError, match="unknown inventory state version 99"):
        Endpoint.from_state(HOST, "GET", "/", {"v": 99})


def test_merge_states_equals_one_endpoint_that_saw_both() -> None:
    one, two, both = Inventory(), Inventory(), Inventory()
    first = _obs(path="/items", time=100.0, **_json({"id": 1}))
    second = _obs(path="/items", time=200.0, status=500, **_json({"id": 2, "tag": "x"}))
    one.add(first)
    two.add(second)
    both.add(first)
    both.add(second)
    (_, mine), (_, theirs), (_, expected) = (next(i.states()) for i in (one, two, both))
    assert merge_states(mine, theirs) == expected


def test_noise_flood_stays_bounded() -> None:
    rng = random.Random(7)
    inventory = Inventory()  # the default bound: 5000 templates per host
    for _ in range(100_000):
        depth = rng.randint(1, 6)
        path = "/" + "/".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(depth)
        )
        inventory.add(Observation(rng.choice(["GET", "POST", "PUT"]), path, host=HOST, status=200))
    everything = inventory.endpoints(noise=True)
    assert len(inventory) == len(everything) <= 3 * 5000 + 1
    assert inventory.observations == 100_000
    assert sum(e.count for e in everything) == 100_000  # the noise bucket counted the rest


def test_noise_bucket_is_hidden_unless_asked() -> None:
    inventory = Inventory(max_templates_per_host=1)
    inventory.add(_obs(path="/a"))
    inventory.add(_obs(path="/b/c/d"))
    assert _keys(inventory) == [("GET", "/a")]
    noise = [e for e in inventory.endpoints(noise=True) if e.template == NOISE_TEMPLATE]
    assert [(e.method, e.count) for e in noise] == [("*", 1)]


def test_probes_are_excluded() -> None:
    inventory = Inventory()
    inventory.add(_obs(path="/users/1"))
    inventory.add(_obs(path="/wp-admin.php", status=404))
    inventory.add(_obs(path="/.env", status=404))
    assert _keys(inventory) == [("GET", "/users/{userId}")]
    probes = {e.template for e in inventory.endpoints(probes=True)} - {"/users/{userId}"}
    assert probes == {"/wp-admin.php", "/.env"}


def test_a_404_does_not_make_a_parameter() -> None:
    inventory = Inventory()
    inventory.add(_obs(path="/colors"))
    for typo in ("colrs", "colours", "clors", "colorz", "coloors"):
        inventory.add(_obs(path=f"/{typo}", status=404))
    assert _keys(inventory) == [("GET", "/colors")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # bearer token
        ({"headers": (("authorization", "Bearer abc"),)}, {"bearer"}),
        # basic
        ({"headers": (("authorization", "Basic YTpi"),)}, {"basic"}),
        # an unknown Authorization scheme is still auth
        ({"headers": (("authorization", "Token abc"),)}, {"authorization"}),
        # API key header
        ({"headers": (("x-api-key", "k"),)}, {"apiKey:header:x-api-key"}),
        # API key in the query
        ({"query": (("api_key", "k"),)}, {"apiKey:query:api_key"}),
        # session cookie
        ({"cookies": (("sessionid", "s"),)}, {"cookie:sessionid"}),
        # none
        ({}, set()),
    ],
)
def test_auth_schemes(fields: dict[str, Any], expected: set[str]) -> None:
    inventory = Inventory()
    inventory.add(_obs(**fields))
    assert set(inventory.endpoints()[0].auth) == expected


def test_sensitive_fields_are_labelled() -> None:
    inventory = Inventory()
    inventory.add(_obs(path="/me", **_json({"name": "Ann", "email": "ann.lee@example.com"})))
    (endpoint,) = inventory.endpoints()
    assert endpoint.sensitive == {"response $.email": ["EMAIL_ADDRESS"]}


def test_chat_call_is_classified() -> None:
    inventory = Inventory()
    inventory.add(
        _obs(
            "POST",
            "/v1/chat/completions",
            request_type="application/json",
            request_body=orjson.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            ),
            **_json(
                {
                    "object": "chat.completion",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hey"}}],
                }
            ),
        )
    )
    (endpoint,) = inventory.endpoints()
    assert endpoint.ai_kind == "chat"
    assert set(endpoint.models) == {"gpt-4o-mini"}


_HUGE = b'{"a": [' + b",".join(b'{"k%d": %d}' % (i, i) for i in range(50_000)) + b"]}"


@pytest.mark.parametrize(
    ("media", "body"),
    [
        # binary bytes declared JSON
        ("application/json", bytes(range(256)) * 4),
        # invalid UTF-8 inside a JSON string
        ("application/json", b'{"name": "\xff\xfe\xfa"}'),
        # truncated JSON
        ("application/json", b'{"user": {"id": 1, "tags": ["a", "b'),
        # huge JSON: many keys, bounded by the sketch
        ("application/json", _HUGE),
        # deeply nested JSON
        ("application/json", b"[" * 5000 + b"]" * 5000),
        # an image
        ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(1000)),
        # no content type, body that looks like JSON but is not
        ("", b"{not json"),
    ],
)
def test_bad_bodies_never_raise(media: str, body: bytes) -> None:
    inventory = Inventory()
    inventory.add(
        _obs(
            "POST",
            "/upload",
            request_type=media,
            request_body=body,
            response_type=media,
            response_body=body,
        )
    )
    (endpoint,) = inventory.endpoints()
    assert endpoint.count == 1
    state = endpoint.to_state()
    assert Endpoint.from_state(HOST, "POST", "/upload", state).to_state() == state
    for sketch in [*endpoint.request_body.values(), *endpoint.responses.values()]:
        assert sketch.node_count <= sketch.limits.max_nodes
