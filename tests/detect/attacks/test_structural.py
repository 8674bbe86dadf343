"""`structural.scan`: operator keys, prototype pollution and session fixation by shape."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wardgate.decision import Evidence
from wardgate.detect.attacks import structural
from wardgate.detect.attacks.model import Part, PartKind
from wardgate.detect.attacks.structural import scan


def _key(slot: str, value: str | None = None) -> Part:
    return Part(slot, slot.partition(":")[2] if value is None else value, PartKind.KEY)


def _rules(part: Part) -> list[tuple[str, str, str]]:
    return [(f.kind, f.rule, f.severity) for f in scan(part)]


OPERATOR = ("attack.nosqli", "nosqli.operator_key", "error")
JS_OPERATOR = ("attack.nosqli", "nosqli.js_operator_key", "critical")
OPERATOR_VALUE = ("attack.nosqli", "nosqli.operator_value", "error")
WHERE_JS = ("attack.nosqli", "nosqli.where_javascript", "critical")
POLLUTION_KEY = ("attack.prototype_pollution", "prototype_pollution.key", "critical")
POLLUTION_PATH = ("attack.prototype_pollution", "prototype_pollution.path", "critical")
FIXATION = ("attack.session_fixation", "session_fixation.id_parameter", "warning")
FIXATION_PATH = ("attack.session_fixation", "session_fixation.path_parameter", "warning")
COOKIE = ("attack.session_fixation", "session_fixation.cookie_injection", "critical")


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        # qs / PHP / Rails bracket syntax turns the key into {user: {$ne: ...}}
        (_key("query-key:user[$ne]"), [OPERATOR]),
        # nested and indexed brackets
        (_key("query-key:a[0][$regex]"), [OPERATOR]),
        (_key("form-key:password[$gt]"), [OPERATOR]),
        # dotted form (qs allowDots)
        (_key("query-key:user.$in"), [OPERATOR]),
        # a JSON key that is an operator
        (_key("json-key:filter.$or", "$or"), [OPERATOR]),
        (_key("json-key:$elemMatch"), [OPERATOR]),
        (_key("json-key:$lookup"), [OPERATOR]),
        (_key("json-key:$set"), [OPERATOR]),
        # server-side JavaScript
        (_key("json-key:$where"), [JS_OPERATOR]),
        (_key("query-key:q[$where]"), [JS_OPERATOR]),
        (_key("json-key:$function"), [JS_OPERATOR]),
        (_key("json-key:$accumulator"), [JS_OPERATOR]),
        # percent-encoded once more than the extractor decoded
        (_key("query-key:user[%24ne]"), [OPERATOR]),
        # two operators in one key
        (_key("query-key:a[$or][0][$where]"), [OPERATOR, JS_OPERATOR]),
    ],
)
def test_operator_keys_are_found(part: Part, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(part) == expected


@pytest.mark.parametrize(
    "part",
    [
        _key("json-key:price"),
        _key("query-key:model"),
        # JSON Schema keywords
        _key("json-key:$schema"),
        _key("json-key:$ref"),
        _key("json-key:$id"),
        _key("json-key:definitions.$defs", "$defs"),
        _key("json-key:$comment"),
        # .NET / JSON-LD type discriminators
        _key("json-key:$type"),
        # OData query options
        _key("query-key:$filter"),
        _key("query-key:$top"),
        _key("query-key:$search"),
        _key("query-key:$count"),
        # cookie attributes (RFC 2109)
        _key("cookie-key:$Version"),
        # MongoDB is case-sensitive: $NE is no operator
        _key("query-key:user[$NE]"),
        # a dollar inside a name, not a segment
        _key("query-key:price$ne"),
        _key("json-key:total_$"),
        _key("form-key:amount[$]"),
    ],
)
def test_ordinary_keys_are_clean(part: Part) -> None:
    assert scan(part) == []


def test_operator_key_span_points_at_the_operator() -> None:
    (finding,) = scan(_key("query-key:user[$ne]"))
    assert finding.location is not None
    assert (finding.location.slot, finding.location.start, finding.location.end) == (
        "query-key:user[$ne]",
        5,
        8,
    )
    assert finding.evidence == Evidence.of("user[$ne]")


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        # the JSON-in-a-parameter form of user[$ne]
        (Part("query:user", '{"$ne": null}', PartKind.QUERY), [OPERATOR_VALUE]),
        (Part("form:password", "{$gt: ''}", PartKind.BODY), [OPERATOR_VALUE]),
        (Part("json:filter", '{"a": 1, "$where": "1"}', PartKind.BODY), [OPERATOR_VALUE]),
        # breaking out of a string in $where
        (Part("query:name", "'; return true; var x='", PartKind.QUERY), [WHERE_JS]),
        (Part("query:name", "a' || 'a'=='a", PartKind.QUERY), [WHERE_JS]),
        (Part("query:name", "x' || 1==1 //", PartKind.QUERY), [WHERE_JS]),
        # reading fields of the matched document
        (Part("json:q", "this.password.match(/^a.*/)", PartKind.BODY), [WHERE_JS]),
        # a timing probe in a $where-looking value
        (Part("query:q", "1'; sleep(5000); var x='1", PartKind.QUERY), [WHERE_JS]),
        (Part("query:q", "function() { sleep(5000); return 1 }", PartKind.QUERY), [WHERE_JS]),
    ],
)
def test_nosql_values_are_found(part: Part, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(part) == expected


@pytest.mark.parametrize(
    "part",
    [
        Part("query:q", "price in $", PartKind.QUERY),
        Part("json:note", "costs $5, return policy applies", PartKind.BODY),
        Part(
            "json:schema",
            '{"$schema": "https://json-schema.org/draft/2020-12/schema"}',
            PartKind.BODY,
        ),
        Part("json:q", "return to sender", PartKind.BODY),
        # code that returns without breaking out of a string
        Part("json:code", "function f(a) { return a + 1; }", PartKind.BODY),
        Part("json:code", "if (a || b) { x = 1 }", PartKind.BODY),
        # sleep outside a $where-looking value: the signature engines' business
        Part("query:q", "how long should I sleep(8) hours", PartKind.QUERY),
        # chat text reaches a model, not MongoDB
        Part("json:messages[0].content", '{"$ne": null} explain this', PartKind.TEXT),
        # a header is no query value
        Part("header:x-filter", '{"$ne": 1}', PartKind.HEADER),
    ],
)
def test_ordinary_values_are_clean(part: Part) -> None:
    assert scan(part) == []


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (_key("json-key:__proto__"), [POLLUTION_KEY]),
        (_key("json-key:a.__proto__", "__proto__"), [POLLUTION_KEY]),
        # qs brackets
        (_key("query-key:a[__proto__][admin]"), [POLLUTION_KEY]),
        (_key("query-key:__proto__[isAdmin]"), [POLLUTION_KEY]),
        # dotted keys (lodash.set, dot-prop)
        (_key("form-key:constructor.prototype.isAdmin"), [POLLUTION_KEY]),
        (_key("query-key:a[constructor][prototype][x]"), [POLLUTION_KEY]),
        # a JSON key `prototype` under a key `constructor`: the slot holds the path
        (_key("json-key:constructor.prototype", "prototype"), [POLLUTION_KEY]),
        (_key("json-key:x.constructor.prototype", "prototype"), [POLLUTION_KEY]),
        # encoded once more
        (_key("query-key:a[%5F%5Fproto%5F%5F]"), [POLLUTION_KEY]),
        # path segments
        (Part("path[2]", "__proto__", PartKind.PATH), [POLLUTION_PATH]),
        (Part("path", "/api/settings/constructor/prototype/x", PartKind.PATH), [POLLUTION_PATH]),
        (Part("path", "/api/%5f%5fproto%5f%5f/x", PartKind.PATH), [POLLUTION_PATH]),
    ],
)
def test_prototype_pollution_is_found(part: Part, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(part) == expected


@pytest.mark.parametrize(
    "part",
    [
        _key("json-key:prototype"),
        _key("json-key:constructor"),
        _key("json-key:protocol"),
        _key("query-key:proto"),
        _key("json-key:prototype.constructor", "constructor"),
        _key("json-key:constructor.name", "name"),
        _key("json-key:__typename"),
        _key("form-key:constructor_prototype"),
        Part("path", "/api/prototypes/constructor", PartKind.PATH),
        Part("path", "/docs/protocol", PartKind.PATH),
        # values: `__proto__` as data is not a key (the signature engines see values)
        Part("json:text", "__proto__", PartKind.BODY),
    ],
)
def test_prototype_lookalikes_are_clean(part: Part) -> None:
    assert scan(part) == []


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (_key("query-key:PHPSESSID"), [FIXATION]),
        (_key("query-key:jsessionid"), [FIXATION]),
        (_key("form-key:ASP.NET_SessionId"), [FIXATION]),
        (_key("query-key:ASPSESSIONIDQACTBRDA"), [FIXATION]),
        (_key("query-key:CFID"), [FIXATION]),
        (_key("query-key:CFTOKEN"), [FIXATION]),
        (_key("form-key:connect.sid"), [FIXATION]),
        (_key("multipart-key:laravel_session"), [FIXATION]),
        # Java URL rewriting
        (Part("path", "/app/login;jsessionid=0A1B2C3D", PartKind.PATH), [FIXATION_PATH]),
        (Part("path[1]", "cart;JSESSIONID=abc", PartKind.PATH), [FIXATION_PATH]),
    ],
)
def test_session_ids_in_parameters_are_found(
    part: Part, expected: list[tuple[str, str, str]]
) -> None:
    assert _rules(part) == expected


@pytest.mark.parametrize(
    "part",
    [
        # a session cookie is where a session id belongs
        _key("cookie-key:PHPSESSID"),
        Part("cookie:PHPSESSID", "abc123", PartKind.COOKIE),
        # JSON bodies come from scripts, not from the victim's browser
        _key("json-key:PHPSESSID"),
        # generic names: too common in APIs to mean a planted session
        _key("query-key:sid"),
        _key("query-key:session"),
        _key("query-key:session_id"),
        _key("form-key:sessionid"),
        # not eight letters after ASPSESSIONID
        _key("query-key:ASPSESSIONID1234ABCD"),
        Part("path", "/app;v=2/items", PartKind.PATH),
    ],
)
def test_session_lookalikes_are_clean(part: Part) -> None:
    assert scan(part) == []


@pytest.mark.parametrize(
    "part",
    [
        Part("query:next", "<script>document.cookie='sid=x'</script>", PartKind.QUERY),
        Part("json:bio", "<img onerror=\"document . cookie = 'PHPSESSID=1'\">", PartKind.BODY),
        Part("query:x", '<meta http-equiv="Set-Cookie" content="sid=1">', PartKind.QUERY),
        Part("query:x", "<META HTTP-EQUIV=set-cookie CONTENT=sid=1>", PartKind.QUERY),
        Part("header:referer", "http://x/%0d%0aSet-Cookie:%20sid=1", PartKind.HEADER),
        Part("cookie:lang", "en\r\nSet-Cookie: sid=1", PartKind.COOKIE),
        Part("form:lang", "en\nSET-COOKIE : sid=1", PartKind.BODY),
        Part("multipart-filename:f", "a\r\nset-cookie: x=1.txt", PartKind.FILENAME),
    ],
)
def test_cookie_injection_is_found(part: Part) -> None:
    assert _rules(part) == [COOKIE]


@pytest.mark.parametrize(
    "part",
    [
        Part("query:q", "how do I read document.cookie in js", PartKind.QUERY),
        Part("json:code", "if (document.cookie == '') { init() }", PartKind.BODY),
        Part("query:q", "Set-Cookie: header explained", PartKind.QUERY),
        Part("header:cookie", "sid=abc; theme=dark", PartKind.HEADER),
        # chat text is never planted into a page
        Part("json:messages[0].content", "document.cookie = 'a=b'", PartKind.TEXT),
        Part("body", "document.cookie = 'a=b'", PartKind.RAW),
    ],
)
def test_cookie_talk_is_clean(part: Part) -> None:
    assert scan(part) == []


def test_operator_lists_stay_precise() -> None:
    assert structural.JS_OPERATORS <= structural.NOSQL_OPERATORS
    assert not {"$schema", "$ref", "$id", "$type", "$filter", "$search", "$comment"} & (
        structural.NOSQL_OPERATORS
    )
    assert all(name == name.lower() for name in structural.SESSION_NAMES)


@given(st.text(), st.text(), st.sampled_from(list(PartKind)))
def test_never_raises(slot: str, value: str, kind: PartKind) -> None:
    for finding in scan(Part(slot, value, kind)):
        assert finding.kind.startswith("attack.")
        assert finding.evidence == Evidence.of(value)


@given(
    st.text(alphabet="$[]._%0123456789abcdefnprotwhsiclu", max_size=40),
    st.sampled_from([PartKind.KEY, PartKind.PATH, PartKind.QUERY]),
)
def test_never_raises_on_key_syntax(value: str, kind: PartKind) -> None:
    scan(Part(f"query-key:{value}", value, kind))


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "value",
    [
        "this." * 20_000,  # quadratic with an unbounded `this(.field)*.match(`
        "<meta " * 20_000,  # quadratic with an unbounded `<meta[^>]*?http-equiv`
        "' || " + "a" * 100_000,
        '{"$' * 30_000,
        "constructor." * 8_000,
        "[$a" * 30_000,
        "%" * 100_000,
    ],
)
def test_hostile_input_stays_linear(value: str) -> None:
    for kind in (PartKind.KEY, PartKind.PATH, PartKind.QUERY, PartKind.BODY):
        scan(Part("query-key:x", value, kind))
