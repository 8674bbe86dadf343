"""Postman import: variables to declared parameters, hosts, bodies, auth, and real collections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wardgate.discovery.observation import MAX_BODY, Observation
from wardgate.discovery.postman import PostmanStats, read_postman

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "api_discovery"


def _collection(*items: object, **fields: object) -> str:
    return json.dumps({"info": {"name": "t"}, "item": list(items), **fields})


def _item(url: object, **request: object) -> dict[str, Any]:
    return {"name": "r", "request": {"method": "GET", "url": url, **request}}


def _one(item: object, **fields: object) -> Observation:
    (observation,) = read_postman(_collection(item, **fields))
    return observation


@pytest.mark.parametrize(
    ("url", "variables", "expected"),
    [
        # Postman path variable
        ("{{baseUrl}}/users/v1/:username", [], ("https", "baseUrl", "/users/v1/{username}")),
        # a whole-segment {{variable}} is a parameter too
        (
            "{{url}}/vehicle/{{vehicle_id}}/location",
            [],
            ("https", "url", "/vehicle/{vehicle_id}/location"),
        ),
        # the host variable resolves through the collection, path prefix included
        (
            "{{baseUrl}}/users",
            [{"key": "baseUrl", "value": "http://Localhost:5000/api/v1/"}],
            ("http", "localhost:5000", "/api/v1/users"),
        ),
        # an empty value does not resolve
        ("{{url}}/a", [{"key": "url", "value": ""}], ("https", "url", "/a")),
        # a literal URL
        ("http://api.example.com/a%20b/c%2Fd", [], ("http", "api.example.com", "/a b/c%2Fd")),
        # a variable inside a segment resolves, or stays as written
        ("{{h}}/v{{ver}}/x", [{"key": "ver", "value": "2"}], ("https", "h", "/v2/x")),
        # root
        ("{{h}}/", [], ("https", "h", "/")),
    ],
)
def test_string_urls(url: str, variables: list[object], expected: tuple[str, str, str]) -> None:
    observation = _one(_item(url), variable=variables)
    assert (observation.scheme, observation.host, observation.path) == expected


def test_structured_url() -> None:
    url = {
        "raw": "{{url}}/orders/:id?limit=10&q={{email}}&off=1",
        "protocol": "http",
        "host": ["api", "example", "com"],
        "port": "8080",
        "path": ["orders", ":id"],
        "query": [
            {"key": "limit", "value": "10"},
            {"key": "q", "value": "{{email}}"},
            {"key": "off", "value": "1", "disabled": True},
            {"key": "a%20b", "value": "c%2Bd"},
        ],
        "variable": [{"key": "id", "value": "7"}],
    }
    observation = _one(_item(url))
    assert (observation.scheme, observation.host, observation.path) == (
        "http",
        "api.example.com:8080",
        "/orders/{id}",
    )
    assert observation.query == (("limit", "10"), ("q", ""), ("a b", "c+d"))


def test_string_url_query_keeps_variable_keys() -> None:
    observation = _one(_item("{{u}}/s?kind=to&query={{email}}&flag"))
    assert observation.query == (("kind", "to"), ("query", ""), ("flag", ""))


def test_raw_only_url_object() -> None:
    assert _one(_item({"raw": "https://h.example/x/:y"})).path == "/x/{y}"


@pytest.mark.parametrize(
    ("body", "request_type", "request_body"),
    [
        # raw JSON, language declared
        (
            {"mode": "raw", "raw": '{"a": 1}', "options": {"raw": {"language": "json"}}},
            "application/json",
            b'{"a": 1}',
        ),
        # raw without a language: JSON is recognised
        ({"mode": "raw", "raw": "[1]"}, "application/json", b"[1]"),
        # raw text
        ({"mode": "raw", "raw": "hello"}, "text/plain", b"hello"),
        # urlencoded, disabled fields left out
        (
            {
                "mode": "urlencoded",
                "urlencoded": [
                    {"key": "a", "value": "1 2"},
                    {"key": "b", "value": "x", "disabled": True},
                ],
            },
            "application/x-www-form-urlencoded",
            b"a=1+2",
        ),
        # GraphQL becomes the JSON a client would send
        (
            {"mode": "graphql", "graphql": {"query": "{ me { id } }", "variables": '{"x": 1}'}},
            "application/json",
            b'{"query": "{ me { id } }", "variables": {"x": 1}}',
        ),
        # a huge raw body is cut
        ({"mode": "raw", "raw": "x" * (MAX_BODY + 5)}, "text/plain", b"x" * MAX_BODY),
        # an empty raw body is no body
        ({"mode": "raw", "raw": ""}, "", b""),
        # an unknown mode is no body
        ({"mode": "telepathy"}, "", b""),
    ],
)
def test_bodies(body: dict[str, Any], request_type: str, request_body: bytes) -> None:
    observation = _one(_item("{{u}}/x", method="POST", body=body))
    assert (observation.request_type, observation.request_body) == (request_type, request_body)


def test_formdata_body() -> None:
    body = {
        "mode": "formdata",
        "formdata": [
            {"key": "title", "value": "t", "type": "text"},
            {"key": "file", "type": "file", "src": "/tmp/video.mp4"},
        ],
    }
    observation = _one(_item("{{u}}/x", method="POST", body=body))
    assert observation.request_type.startswith("multipart/form-data; boundary=")
    assert b'name="title"\r\n\r\nt\r\n' in observation.request_body
    assert b'name="file"; filename="video.mp4"' in observation.request_body


def test_content_type_header_wins_and_headers_are_lower_case() -> None:
    observation = _one(
        _item(
            "{{u}}/x",
            method="POST",
            header=[
                {"key": "Content-Type", "value": "application/vnd.api+json"},
                {"key": "X-Off", "value": "1", "disabled": True},
                {"key": "Cookie", "value": "a=1; b=2"},
                {"key": "", "value": ""},
            ],
            body={"mode": "raw", "raw": "{}"},
        )
    )
    assert observation.headers == (
        ("content-type", "application/vnd.api+json"),
        ("cookie", "a=1; b=2"),
    )
    assert observation.request_type == "application/vnd.api+json"
    assert observation.cookies == (("a", "1"), ("b", "2"))


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        # bearer token, v2.1 list form
        (
            {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]},
            ("authorization", "Bearer {{token}}"),
        ),
        # bearer token, v2.0 object form
        ({"type": "bearer", "bearer": {"token": "abc"}}, ("authorization", "Bearer abc")),
        # API key in a header
        (
            {
                "type": "apikey",
                "apikey": [{"key": "key", "value": "X-Api-Key"}, {"key": "value", "value": "k"}],
            },
            ("x-api-key", "k"),
        ),
        # basic
        (
            {
                "type": "basic",
                "basic": [{"key": "username", "value": "u"}, {"key": "password", "value": "p"}],
            },
            ("authorization", "Basic dTpw"),
        ),
        # a scheme known only by name
        ({"type": "digest", "digest": []}, ("authorization", "Digest")),
    ],
)
def test_auth_becomes_header(auth: dict[str, Any], header: tuple[str, str]) -> None:
    assert header in _one(_item("{{u}}/x", auth=auth)).headers


def test_apikey_in_query() -> None:
    auth = {
        "type": "apikey",
        "apikey": [
            {"key": "key", "value": "api_key"},
            {"key": "value", "value": "k"},
            {"key": "in", "value": "query"},
        ],
    }
    assert _one(_item("{{u}}/x", auth=auth)).query == (("api_key", "k"),)


def test_auth_is_inherited_from_folders_unless_noauth() -> None:
    bearer = {"type": "bearer", "bearer": [{"key": "token", "value": "t"}]}
    folder = {
        "name": "f",
        "auth": bearer,
        "item": [_item("{{u}}/a"), _item("{{u}}/b", auth={"type": "noauth"})],
    }
    observations = list(read_postman(_collection(folder)))
    assert [dict(o.headers).get("authorization") for o in observations] == ["Bearer t", None]


def test_explicit_authorization_header_is_kept() -> None:
    item = _item(
        "{{u}}/x",
        header=[{"key": "Authorization", "value": "Bearer literal"}],
        auth={"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]},
    )
    assert _one(item).headers == (("authorization", "Bearer literal"),)


def test_nested_folders_in_order_and_skipped_items() -> None:
    tree = [
        {"name": "f", "item": [_item("{{u}}/1"), {"name": "g", "item": [_item("{{u}}/2")]}]},
        {"name": "empty folder", "item": []},
        {"name": "no request"},
        _item(42),  # a URL that is neither text nor an object
        _item(""),  # an empty URL
        _item({"variable": []}),  # a URL object with neither host, path nor raw
        _item({"raw": ""}),  # an empty raw URL
        _item("{{u}}/3"),
    ]
    stats = PostmanStats()
    paths = [o.path for o in read_postman(_collection(*tree), stats)]
    assert paths == ["/1", "/2", "/3"]
    assert stats == PostmanStats(requests=3, examples=0, skipped=5)


def test_collection_wrapper_and_string_request() -> None:
    document = json.dumps(
        {"collection": {"info": {}, "item": [{"name": "r", "request": "http://h/x"}]}}
    )
    assert [(o.method, o.host, o.path) for o in read_postman(document.encode())] == [
        ("GET", "h", "/x")
    ]


def test_examples_add_observations_with_status_and_body() -> None:
    item = _item("{{u}}/users/:id", auth={"type": "bearer", "bearer": {"token": "t"}})
    item["response"] = [
        {
            "name": "ok",
            "originalRequest": {"method": "GET", "url": "{{u}}/users/:id"},
            "code": 200,
            "header": [{"key": "Content-Type", "value": "application/json"}],
            "body": '{"id": 1}',
        },
        {"name": "bare", "status": "Not Found", "code": 404, "_postman_previewlanguage": "json"},
    ]
    stats = PostmanStats()
    observations = list(read_postman(_collection(item), stats, examples=True))
    assert [(o.path, o.status, o.response_type, o.response_body) for o in observations] == [
        ("/users/{id}", 0, "", b""),
        ("/users/{id}", 200, "application/json", b'{"id": 1}'),
        ("/users/{id}", 404, "application/json", b""),
    ]
    assert dict(observations[1].headers)["authorization"] == "Bearer t"
    assert stats == PostmanStats(requests=1, examples=2, skipped=0)
    assert len(list(read_postman(_collection(item)))) == 1


@pytest.mark.parametrize(
    "source",
    [
        b"\x00\xff not json",  # binary
        "[]",  # JSON, not an object
        '{"info": {}}',  # no items
        '{"collection": {"info": {}}}',  # wrapper without items
    ],
)
def test_not_a_collection_raises(source: bytes | str) -> None:
    with pytest.raises(ValueError, match="not a Postman collection"):
        list(read_postman(source))


def test_invalid_utf8_in_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(
        _collection(_item("http://h/x", body={"mode": "raw", "raw": "Z"}))
        .encode()
        .replace(b"Z", b"\xff")
    )
    assert [o.request_body for o in read_postman(path)] == ["\ufffd".encode()]


@pytest.fixture
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"no data at {DATA}")
    return DATA


@pytest.mark.parametrize(
    ("name", "count", "method", "path"),
    [
        # the Postman API's wrapped export, {{url}} host and {{vehicle_id}} segment
        (
            "crapi/crAPI.postman_collection.json",
            49,
            "GET",
            "/identity/api/v2/vehicle/{vehicle_id}/location",
        ),
        # a {{baseUrl}} with a value, :username segments
        ("vampi/VAmPI.postman_collection.json", 14, "GET", "/users/v1/{username}"),
    ],
)
def test_real_collections(data: Path, name: str, count: int, method: str, path: str) -> None:
    stats = PostmanStats()
    observations = list(read_postman(data / name, stats))
    assert len(observations) == stats.requests == count
    assert stats.skipped == 0
    assert (method, path) in {(o.method, o.path) for o in observations}


def test_real_collection_hosts(data: Path) -> None:
    crapi = list(read_postman(data / "crapi/crAPI.postman_collection.json"))
    assert {o.host for o in crapi} == {"url", "url_mail"}
    assert ("query", "") in next(o for o in crapi if o.host == "url_mail").query
    vampi = list(read_postman(data / "vampi/VAmPI.postman_collection.json"))
    assert {(o.scheme, o.host) for o in vampi} == {("http", "localhost:5000")}
    assert ("DELETE", "/users/v1/{username}") in {(o.method, o.path) for o in vampi}
    assert dict(next(o for o in vampi if o.path == "/me").headers)["authorization"].startswith(
        "Bearer "
    )
