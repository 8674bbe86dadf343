"""`wardgate discover` and `wardgate inventory export|diff`, through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from wardgate.cli import main
from wardgate.discovery.openapi import load_document

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "api_discovery"
CRAPI_SPEC = DATA / "crapi" / "crapi-openapi-spec.json"
CRAPI_POSTMAN = DATA / "crapi" / "crAPI.postman_collection.json"
VAMPI_SPEC = DATA / "vampi" / "openapi3.yml"
VAMPI_POSTMAN = DATA / "vampi" / "VAmPI.postman_collection.json"
# The shared data sets sit beside the checkout; a clone elsewhere skips what needs them.
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no data at {DATA}")

# Every (method, path) the crAPI collection calls, read from its requests by hand, path
# parameters blanked. 49 requests, 37 distinct; `GET /api/v2/search` is on `{{url_mail}}`
# (the MailHog mail API), all others on `{{url}}`.
CRAPI_CALLED = {
    ("POST", "/identity/api/auth/signup"),
    ("POST", "/identity/api/auth/login"),
    ("POST", "/identity/api/auth/verify"),
    ("POST", "/identity/api/auth/forget-password"),
    ("GET", "/api/v2/search"),
    ("POST", "/identity/api/auth/v3/check-otp"),
    ("POST", "/identity/api/v2/vehicle/resend_email"),
    ("POST", "/identity/api/v2/vehicle/add_vehicle"),
    ("GET", "/identity/api/v2/user/dashboard"),
    ("GET", "/identity/api/v2/vehicle/vehicles"),
    ("GET", "/identity/api/v2/vehicle/{}/location"),
    ("POST", "/community/api/v2/coupon/validate-coupon"),
    ("POST", "/workshop/api/shop/apply_coupon"),
    ("POST", "/community/api/v2/community/posts"),
    ("GET", "/community/api/v2/community/posts/{}"),
    ("GET", "/community/api/v2/community/posts/recent"),
    ("POST", "/community/api/v2/community/posts/{}/comment"),
    ("GET", "/workshop/api/mechanic"),
    ("POST", "/workshop/api/merchant/contact_mechanic"),
    ("GET", "/workshop/api/mechanic/service_requests"),
    ("GET", "/workshop/api/mechanic/mechanic_report"),
    ("GET", "/workshop/api/shop/products"),
    ("POST", "/workshop/api/shop/orders"),
    ("GET", "/workshop/api/shop/orders/all"),
    ("GET", "/workshop/api/shop/orders/{}"),
    ("POST", "/workshop/api/shop/orders/return_order"),
    ("POST", "/identity/api/v2/user/videos"),
    ("GET", "/identity/api/v2/user/videos/{}"),
    ("PUT", "/identity/api/v2/user/videos/{}"),
    ("GET", "/identity/api/v2/user/videos/convert_video"),
    ("DELETE", "/identity/api/v2/user/videos/{}"),
    ("POST", "/workshop/api/shop/products"),
    ("DELETE", "/identity/api/v2/admin/videos/{}"),
    ("GET", "/workshop/api/management/users/all"),
    ("POST", "/identity/api/v2/user/change-email"),
    ("POST", "/identity/api/v2/user/verify-email-token"),
    ("GET", "/.well-known/jwks.json"),
}
# Called by the collection, absent from crapi-openapi-spec.json (44 operations, 40 paths).
CRAPI_SHADOW = [
    # the JWT key set crAPI serves for token verification; the spec documents no /.well-known
    "GET /.well-known/jwks.json",
    # MailHog's search API on {{url_mail}}, where the collection reads the OTP and change-
    # email mails: another service, so not in crAPI's spec, but traffic did call it
    "GET /api/v2/search",
    # token verification; the spec's auth section has signup, login, forget-password and the
    # check-otp and login-with-token versions only
    "POST /identity/api/auth/verify",
]
# Declared in the spec, called by no request of the collection.
CRAPI_UNSEEN = [
    "POST /community/api/v2/coupon/new-coupon",
    "POST /identity/api/auth/v2.7/user/login-with-token",
    "POST /identity/api/auth/v2/check-otp",
    "POST /identity/api/auth/v4.0/user/login-with-token",
    "POST /identity/api/v2/user/pictures",
    "POST /identity/api/v2/user/reset-password",
    "GET /workshop/api/mechanic/receive_report",
    "POST /workshop/api/mechanic/signup",
    "PUT /workshop/api/shop/orders/{order_id}",
    "GET /workshop/api/shop/return_qr_code",
]
# VAmPI's collection calls each of the spec's 14 operations once, and nothing else.
VAMPI_CALLED = {
    ("GET", "/createdb"),
    ("GET", "/"),
    ("GET", "/users/v1/{}"),
    ("GET", "/users/v1"),
    ("GET", "/users/v1/_debug"),
    ("GET", "/books/v1"),
    ("POST", "/users/v1/register"),
    ("POST", "/users/v1/login"),
    ("GET", "/me"),
    ("POST", "/books/v1"),
    ("GET", "/books/v1/{}"),
    ("PUT", "/users/v1/{}/email"),
    ("PUT", "/users/v1/{}/password"),
    ("DELETE", "/users/v1/{}"),
}

_HAR = {
    "log": {
        "version": "1.2",
        "creator": {"name": "t"},
        "entries": [
            {
                "startedDateTime": "2024-01-02T03:04:05Z",
                "request": {
                    "method": "GET",
                    "url": f"https://api.example.com/orders/{n}?expand=items",
                    "headers": [],
                },
                "response": {
                    "status": 200,
                    "headers": [],
                    "content": {"mimeType": "application/json", "text": f'{{"id": {n}}}'},
                },
            }
            for n in (11, 12, 13)
        ],
    }
}
_POSTMAN = {
    "info": {"name": "t", "schema": "v2.1"},
    "variable": [{"key": "base", "value": "https://api.example.com"}],
    "item": [
        {"name": "get", "request": {"method": "GET", "url": "{{base}}/customers/:customerId"}},
        {
            "name": "add",
            "request": {
                "method": "POST",
                "url": "{{base}}/customers",
                "body": {"mode": "raw", "raw": '{"name": "a"}'},
            },
        },
    ],
}
_LOG = (
    '10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "GET /health HTTP/1.1" 200 2 "-" "curl/8"\n'
    '10.0.0.1 - - [02/Jan/2024:03:04:06 +0000] "DELETE /orders/14 HTTP/1.1" 204 0 "-" "curl/8"\n'
)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "har": tmp_path / "traffic.har",
        "postman": tmp_path / "api.postman_collection.json",
        "log": tmp_path / "access.log",
    }
    files["har"].write_text(json.dumps(_HAR))
    files["postman"].write_text(json.dumps(_POSTMAN))
    files["log"].write_text(_LOG)
    return files


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method != "servers"
    }


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        # one HAR file: three ids make one template
        (["har"], {("GET", "/orders/{}")}),
        # a Postman collection: the `:customerId` variable is a declared parameter
        (["postman"], {("GET", "/customers/{}"), ("POST", "/customers")}),
        # an access log
        (["log"], {("GET", "/health"), ("DELETE", "/orders/{}")}),
        # all three at once
        (
            ["har", "postman", "log"],
            {
                ("GET", "/orders/{}"),
                ("GET", "/customers/{}"),
                ("POST", "/customers"),
                ("GET", "/health"),
                ("DELETE", "/orders/{}"),
            },
        ),
    ],
)
def test_discover_from_files(
    tmp_path: Path, inputs: dict[str, Path], kinds: list[str], expected: set[tuple[str, str]]
) -> None:
    out = tmp_path / "api.yaml"
    args: list[str | Path] = ["discover", "--out", out]
    for kind in kinds:
        args += [f"--{kind}", inputs[kind]]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert f"{len(expected)} endpoints from" in result.stderr
    assert _operations(load_document(out)) == expected


def test_discover_takes_several_files_of_one_kind(tmp_path: Path, inputs: dict[str, Path]) -> None:
    second = tmp_path / "more.log"
    second.write_text('10.0.0.2 - - [02/Jan/2024:03:04:07 +0000] "GET /ready HTTP/1.1" 200 2\n')
    out = tmp_path / "api.json"
    result = _run("discover", "--out", out, "--log", inputs["log"], "--log", second)
    assert result.exit_code == 0, result.output
    assert ("GET", "/ready") in _operations(load_document(out))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        # no input at all
        (["--out", "api.json"], 2, "give at least one --har, --postman or --log file"),
        # an output extension that is neither JSON nor YAML
        (["--out", "api.txt", "--log", "LOG"], 1, "api.txt: the output must end in"),
    ],
)
def test_discover_errors(
    tmp_path: Path, inputs: dict[str, Path], args: list[str], code: int, message: str
) -> None:
    args = [str(tmp_path / a) if a.startswith("api") else a for a in args]
    result = _run("discover", *[str(inputs["log"]) if a == "LOG" else a for a in args])
    assert result.exit_code == code
    assert message in result.output


def test_store_round_trip(tmp_path: Path, inputs: dict[str, Path]) -> None:
    store = tmp_path / "inventory.db"
    first, exported = tmp_path / "first.json", tmp_path / "exported.json"
    result = _run("discover", "--out", first, "--har", inputs["har"], "--store", store)
    assert result.exit_code == 0, result.output
    result = _run(
        "discover", "--out", tmp_path / "x.json", "--log", inputs["log"], "--store", store
    )
    assert result.exit_code == 0, result.output
    result = _run("inventory", "export", "--store", f"sqlite:///{store}", "--out", exported)
    assert result.exit_code == 0, result.output
    document = load_document(exported)
    assert _operations(document) == {
        ("GET", "/orders/{}"),
        ("GET", "/health"),
        ("DELETE", "/orders/{}"),
    }
    orders = document["paths"]["/orders/{orderId}"]["get"]
    assert orders == load_document(first)["paths"]["/orders/{orderId}"]["get"]


@needs_data
@pytest.mark.parametrize(
    ("collection", "called"),
    [
        # crAPI: 49 requests over two hosts
        (CRAPI_POSTMAN, CRAPI_CALLED),
        # VAmPI: 14 requests
        (VAMPI_POSTMAN, VAMPI_CALLED),
    ],
)
def test_discover_recovers_every_collection_endpoint(
    tmp_path: Path, collection: Path, called: set[tuple[str, str]]
) -> None:
    out = tmp_path / "api.json"
    result = _run("discover", "--out", out, "--postman", collection)
    assert result.exit_code == 0, result.output
    assert _operations(load_document(out)) == called


def _diff(*args: str | Path) -> tuple[Result, dict[str, Any]]:
    result = _run("inventory", "diff", "--format", "json", *args)
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


@needs_data
def test_diff_crapi_against_its_spec() -> None:
    result, report = _diff("--spec", CRAPI_SPEC, "--postman", CRAPI_POSTMAN)
    assert result.exit_code == 0, result.output
    assert [f"{f['method']} {f['path']}" for f in report["shadow"]] == CRAPI_SHADOW
    assert [f"{f['method']} {f['path']}" for f in report["unseen"]] == CRAPI_UNSEEN
    assert report["zombie"] == []  # the spec marks nothing deprecated
    assert {f["hosts"][0] for f in report["shadow"]} == {"url", "url_mail"}
    # Drift, checked against the files: GET products is sent `limit`/`offset`, which the spec
    # does not declare, and POST products sends `"price": 100` where NewProduct has a string.
    assert [f["message"] for f in report["drift"]] == [
        "GET /workshop/api/shop/products: undeclared query parameter limit",
        "GET /workshop/api/shop/products: undeclared query parameter offset",
        "POST /workshop/api/shop/products: request application/json $.price is integer in "
        "traffic, declared string",
    ]


@needs_data
def test_diff_vampi_against_its_spec() -> None:
    result, report = _diff(
        "--spec", VAMPI_SPEC, "--postman", VAMPI_POSTMAN, "--fail-on", "shadow,unseen"
    )
    assert result.exit_code == 0, result.output
    assert report["summary"]["shadow"] == report["summary"]["unseen"] == 0


@needs_data
@pytest.mark.parametrize(
    ("fail_on", "code"),
    [
        # shadow endpoints exist
        ("shadow", 1),
        # so does drift, and any one listed category fails
        ("zombie,drift", 1),
        # nothing deprecated is called
        ("zombie", 0),
        # no --fail-on: findings never fail
        ("", 0),
    ],
)
def test_fail_on(fail_on: str, code: int) -> None:
    result = _run(
        "inventory", "diff", "--spec", CRAPI_SPEC, "--postman", CRAPI_POSTMAN, "--fail-on", fail_on
    )
    assert result.exit_code == code, result.output


@needs_data
def test_diff_text_summary() -> None:
    result = _run("inventory", "diff", "--spec", CRAPI_SPEC, "--postman", CRAPI_POSTMAN)
    lines = result.stdout.splitlines()
    assert lines[0] == "3 shadow, 0 zombie, 10 unseen, 3 drift"
    assert lines[1] == "shadow  GET /.well-known/jwks.json is called (1 calls) but not declared"
    assert len(lines) == 1 + 3 + 10 + 3


@needs_data
def test_diff_sarif(tmp_path: Path) -> None:
    out = tmp_path / "diff.sarif"
    spec = str(CRAPI_SPEC)
    result = _run(
        "inventory",
        "diff",
        "--spec",
        spec,
        "--postman",
        CRAPI_POSTMAN,
        "--format",
        "sarif",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert set(sarif) >= {"$schema", "version", "runs"}
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "wardgate"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == [f"wardgate.discovery.{c}" for c in ("shadow", "zombie", "unseen", "drift")]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    levels = {"shadow": "error", "zombie": "error", "drift": "warning", "unseen": "note"}
    assert len(run["results"]) == 16
    for result_ in run["results"]:
        assert set(result_) >= {"ruleId", "level", "message", "locations"}
        category = result_["ruleId"].rpartition(".")[2]
        assert result_["level"] == levels[category]
        assert rule_ids[result_["ruleIndex"]] == result_["ruleId"]
        assert result_["message"]["text"]
        (location,) = result_["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == spec
        (logical,) = location["logicalLocations"]
        assert re.fullmatch(r"(GET|POST|PUT|DELETE) /\S*", logical["name"])
    shadows = [
        r["locations"][0]["logicalLocations"][0]["name"]
        for r in run["results"]
        if r["ruleId"].endswith("shadow")
    ]
    assert shadows == CRAPI_SHADOW


@needs_data
def test_diff_from_store(tmp_path: Path) -> None:
    store = tmp_path / "inventory.db"
    result = _run(
        "discover", "--out", tmp_path / "api.json", "--postman", CRAPI_POSTMAN, "--store", store
    )
    assert result.exit_code == 0, result.output
    result, report = _diff("--spec", CRAPI_SPEC, "--store", store)
    assert result.exit_code == 0, result.output
    assert [f"{f['method']} {f['path']}" for f in report["shadow"]] == CRAPI_SHADOW
    assert [f"{f['method']} {f['path']}" for f in report["unseen"]] == CRAPI_UNSEEN


@needs_data
@pytest.mark.parametrize(
    ("args", "message"),
    [
        # neither a store nor files
        ([], "give either --store or --har/--postman/--log files"),
        # both
        (["--store", "x.db", "--postman", str(VAMPI_POSTMAN)], "not both"),
        # an unknown category
        (["--postman", str(VAMPI_POSTMAN), "--fail-on", "shadow,ghost"], "unknown ghost"),
        # a format we do not write
        (["--postman", str(VAMPI_POSTMAN), "--format", "xml"], "'xml' is not one of"),
        # a spec that is not OpenAPI
        (["--postman", str(VAMPI_POSTMAN), "--spec", str(VAMPI_POSTMAN)], "not an OpenAPI 3"),
    ],
)
def test_diff_usage_errors(args: list[str], message: str) -> None:
    if "--spec" not in args:
        args = ["--spec", str(VAMPI_SPEC), *args]
    result = _run("inventory", "diff", *args)
    assert result.exit_code == 2
    assert message in result.output
