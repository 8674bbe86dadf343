"""OpenAPI export: valid 3.1, byte-for-byte deterministic, full paths, JSON or YAML."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from wardgate.discovery.inventory import Endpoint, Inventory
from wardgate.discovery.observation import Observation
from wardgate.discovery.openapi import dump_document, load_document, to_openapi


def _traffic() -> list[Observation]:
    json_type = "application/json"
    return [
        Observation(
            "GET",
            f"/api/v2/users/{n}",
            scheme="https",
            host="api.example.com",
            query=(("expand", "teams"),),
            headers=(("authorization", "Bearer t"), ("x-tenant", "acme")),
            status=200,
            response_type=json_type,
            response_body=orjson.dumps({"id": n, "email": f"u{n}@example.com", "tags": ["a"]}),
            consumer="web",
            time=1_700_000_000.0 + n,
        )
        for n in (1, 2, 3)
    ] + [
        Observation(
            "POST",
            "/api/v2/orders",
            scheme="http",
            host="orders.internal:8080",
            headers=(("x-api-key", "k"),),
            request_type=json_type,
            request_body=b'{"item": "a", "qty": 2, "note": null}',
            status=201,
            response_type=json_type,
            response_body=b'{"id": "7f1c2b1e-8f7a-4c3e-9d2a-1b2c3d4e5f60"}',
        ),
        Observation(
            "POST",
            "/v1/chat/completions",
            host="api.example.com",
            request_type=json_type,
            request_body=b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            status=429,
            response_type=json_type,
            response_body=b'{"error": {"message": "slow down"}}',
        ),
    ]


def _endpoints() -> list[Endpoint]:
    inventory = Inventory()
    traffic = _traffic()
    inventory.learn_paths(traffic)
    for obs in traffic:
        inventory.add(obs)
    return inventory.endpoints()


def test_export_is_valid_openapi_3_1() -> None:
    document = to_openapi(_endpoints())
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_empty_inventory_is_valid_too() -> None:
    validate(to_openapi([]), cls=OpenAPIV31SpecValidator)


def test_paths_are_full_and_servers_hold_scheme_and_host() -> None:
    document = to_openapi(_endpoints())
    assert document["servers"] == [
        {"url": "http://orders.internal:8080"},
        {"url": "https://api.example.com"},
    ]
    assert list(document["paths"]) == [
        "/api/v2/orders",
        "/api/v2/users/{userId}",
        "/v1/chat/completions",
    ]
    # with several servers, each path names the one it was seen on
    assert document["paths"]["/api/v2/orders"]["servers"] == [
        {"url": "http://orders.internal:8080"}
    ]
    users = document["paths"]["/api/v2/users/{userId}"]["get"]
    assert [(p["name"], p["in"]) for p in users["parameters"]] == [
        ("userId", "path"),
        ("expand", "query"),
        ("x-tenant", "header"),
    ]
    assert users["x-wardgate"]["calls"] == 3
    assert users["x-wardgate"]["sensitive"] == {"response $.email": ["EMAIL_ADDRESS"]}


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_export_is_deterministic(tmp_path: Path, suffix: str) -> None:
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    dump_document(to_openapi(_endpoints()), first)
    dump_document(to_openapi(_endpoints()), second)
    assert first.read_bytes() == second.read_bytes()
    assert load_document(first) == to_openapi(_endpoints())


@pytest.mark.parametrize(
    ("suffix", "parse"),
    [
        # JSON by extension
        (".json", orjson.loads),
        # YAML by either extension, case-insensitive
        (".yaml", yaml.safe_load),
        (".YML", yaml.safe_load),
    ],
)
def test_extension_decides_format(tmp_path: Path, suffix: str, parse: object) -> None:
    out = tmp_path / f"api{suffix}"
    dump_document(to_openapi(_endpoints()), out)
    assert callable(parse)
    assert parse(out.read_bytes())["openapi"] == "3.1.0"
    if suffix != ".json":
        assert not out.read_text().lstrip().startswith("{")


def test_bad_extension_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"api\.txt: the output must end in \.json, \.yaml or \.yml"
    ):
        dump_document(to_openapi([]), tmp_path / "api.txt")
    assert not (tmp_path / "api.txt").exists()


def test_load_document_refuses_non_mappings(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match=r"spec\.yaml: not an OpenAPI document"):
        load_document(path)
