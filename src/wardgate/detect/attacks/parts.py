"""Split a request into every value its client controls, each named by where it was found.

Signatures are matched per value, and the kind of a value picks the signatures that apply
(a path segment is not a JSON string is not a chat message), so a request is taken apart
the way the application behind the gateway will take it apart: path segments, query and
form pairs, headers, cookies, JSON members, multipart fields, XML text and attributes.

Choices that matter for security:

- Exactly one protocol-level decode (percent escapes, `+` in forms, JSON and XML escapes,
  base64 and quoted-printable multipart bodies, gzip and deflate). The engines run their
  own decoding passes; decoding twice here would hide double encoding from them. A percent
  escape that is invalid, or that decodes to bytes that are not text in the charset, is
  kept as written (`%C0%AF` stays `%C0%AF`), so no evidence is replaced by U+FFFD.
- Nothing passes uninspected: a body that cannot be split (unknown content type, invalid
  JSON, XML or multipart, an undecodable content encoding, a cut at `body_limit`) is still
  emitted whole as a RAW part, and values nested deeper than `max_depth` are emitted under
  the deepest slot allowed. `Content-Length` is the only value left out: its framing is
  checked elsewhere and it carries no data.
- Keys are parts too (`user[$ne]`, `__proto__`); each key shape is emitted once
  (`items[0].id` and `items[7].id` have the shape `items[].id`), so a long array of records
  costs a part per value rather than per value and key, while `constructor.prototype` keeps
  its own place.
- A string that is itself a JSON document (a query value `filter={"$where":...}`, a form
  field, a JSON string holding JSON) is split as well, under its slot plus `#json`; never
  inside TEXT, where quoted JSON is something said to a model.
- Hostile input: `extract` never raises for any input, runs in time linear in the body, and
  keeps memory bounded by `body_limit`, `max_depth`, `max_parts` and a cap on the length of
  names in slots (a longer name is cut and given a digest, so distinct names stay apart).
  XML entities are never expanded and nothing is fetched; gzip and deflate output stops at
  `body_limit`. Charsets are looked up only by names Python already knows, so odd names
  cannot grow the codec caches.

Slots: `path`, `path#raw` (as sent, when an escape changes how the path splits or decodes),
`path[i]` (i-th non-empty segment without its matrix parameters), `matrix:k`, `query:k`,
`header:name`, `cookie:k`, `json:messages[0].content[1].text`, `json:a["odd key"]` (`json:`
alone for a root string), `form:k`, `multipart:k` (`multipart:#i` for a part without a name,
`multipart:outer/inner` for nested multipart), `multipart-filename:k`, `xml:/root/child`,
`xml:/root/child/@attr`, `xml:/root/?target` (processing instruction), `xml:/root/#comment`,
`xml:!doctype`, `graphql:query`, `body` (RAW), `multipart:#preamble` and `#epilogue` (RAW,
when not blank). Each value family `f` has a key family `f-key` for names (`query-key:k`,
`json-key:a.b`, `header-key:name` for header names outside `[a-z0-9-]`). A body value whose
slot is in `text_slots` (where `[*]` stands for any array index) is TEXT rather than BODY.

Findings (each rule at most once per request): `attack.xxe` `xml.doctype` (error),
`xml.entity` and `xml.external_entity` (critical); `attack.malformed` `body.json`,
`body.xml`, `body.multipart` (warning, with `malformed` set); `attack.protocol`
`protocol.charset` (error for UTF-7, UTF-32 and EBCDIC, warning for UTF-16 and unknown
names), `protocol.content_encoding` and `protocol.content_type` (error), `body.depth`
(warning), `body.truncated` and `parts.limit` (notice).
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
import zlib
from collections.abc import Callable
from encodings import aliases as codec_aliases, normalize_encoding
from typing import Literal
from urllib.parse import unquote
from xml.parsers import expat

import orjson

from wardgate.decision import Finding
from wardgate.detect.attacks.model import Extraction, HttpSample, Part, PartKind, finding

__all__ = ["extract"]

_MAX_NAME = 128  # characters of a key or name used in a slot; the part keeps the whole name
_MAX_EMBEDDED = 2  # levels of JSON documents inside strings
_DEPTH_CEILING = 256  # whatever `max_depth` says, the walks recurse no deeper than this
_MAX_CODINGS = 3
_MAX_GZIP_MEMBERS = 64
_INFLATE_CHUNK = 16_384
_BINARY_HEAD = 1_024  # bytes of a binary upload still scanned
_MAX_CHARSET_NAME = 64

_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_PLAIN_HEADER = re.compile(r"[a-z0-9-]{1,64}")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# Escapes whose decoding changes how a path splits or decodes again: `%`, `.`, `/`, `\`,
# `;`, `?`, `#`, controls, DEL and overlong UTF-8 lead bytes.
_PATH_ESCAPE = re.compile(r"%(?:2[5EeFf]|5[Cc]|3[BbFf]|23|[01][0-9A-Fa-f]|7[Ff]|[Cc][01]|[EeFf]0)")
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([^"']{1,64})["']""")
# A quoted string (perhaps unterminated), a run of plain text, or a separator: linear.
_PARAM_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[^";]+|;', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\([\\\"])")
_NON_TEXT = bytes(b for b in range(32) if b not in b"\t\n\r\f\b\x1b")
_DELIMITER_END = frozenset(b"\r\n \t")
_JSON_OPENERS = frozenset("{[")
# Read in the hot loop, where enum attribute lookups add up.
_KEY, _TEXT = PartKind.KEY, PartKind.TEXT

# Charsets that hide ASCII from byte-oriented filters, with how odd they are on a request.
_EVASIVE_CHARSETS = {
    "utf_7": "error",
    "utf_32": "error",
    "utf_32_be": "error",
    "utf_32_le": "error",
    "utf_16": "warning",
    "utf_16_be": "warning",
    "utf_16_le": "warning",
    **dict.fromkeys(("cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"), "error"),
}
_CHARSETS = frozenset(codec_aliases.aliases.values()) | {"utf_8_sig", "cp875"}
_CHARSETS -= {"base64_codec", "bz2_codec", "hex_codec", "quopri_codec", "rot_13", "uu_codec"}
_CHARSETS -= {"zlib_codec", "mbcs"}
_ASCII_PROBE = "%&+;=AZaz09"

_PERCENT_ERRORS = "wardgate.keep-percent"


def _keep_percent_escapes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    undecodable = error.object[error.start : error.end]
    return "".join(f"%{byte:02X}" for byte in undecodable), error.end


codecs.register_error(_PERCENT_ERRORS, _keep_percent_escapes)
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_ESCAPED_BYTES = {0xDC00 + byte: f"%{byte:02X}" for byte in range(0x80, 0x100)}


def extract(
    sample: HttpSample,
    *,
    body_limit: int = 131_072,
    max_depth: int = 32,
    max_parts: int = 4_096,
    text_slots: frozenset[str] = frozenset(),
) -> Extraction:
    """Every client-controlled value of `sample`, plus what splitting it revealed.

    Total: any sample gives an `Extraction`, whatever its bytes. Parts come in request
    order (path, query, headers and cookies, body), at most `max_parts` of them (then a
    `parts.limit` finding). At most `body_limit` bytes of the body are read, and at most
    `body_limit` bytes are inflated from a compressed one.

    >>> [part.slot for part in extract(HttpSample("GET", "/a", "q=1")).parts]
    ['path', 'path[0]', 'query-key:q', 'query:q']
    """
    sink = _Sink(max_parts, min(max_depth, _DEPTH_CEILING), text_slots)
    try:
        _add_path(sink, sample.path)
        _add_pairs(sink, sample.query, "query", PartKind.QUERY, plus=True)
        _add_headers(sink, sample.headers)
        _add_body(sink, sample, body_limit)
    except _PartsFull:
        pass
    return Extraction(parts=sink.parts, findings=sink.findings, malformed=sink.malformed)


class _PartsFull(Exception):
    """Raised once `max_parts` is reached, to stop every walk at once; never leaves here."""


class _Sink:
    """Collects one request's parts and findings; made per call, never shared."""

    __slots__ = (
        "findings",
        "flagged",
        "malformed",
        "max_depth",
        "max_parts",
        "parts",
        "seen_containers",
        "seen_keys",
        "text_shapes",
        "text_slots",
    )

    def __init__(self, max_parts: int, max_depth: int, text_slots: frozenset[str]) -> None:
        self.parts: list[Part] = []
        self.findings: list[Finding] = []
        self.malformed = False
        self.max_parts = max_parts
        self.max_depth = max_depth
        self.text_slots = text_slots
        # `json:messages[*].content` matches the shape `json:messages[].content`.
        self.text_shapes = {slot.replace("[*]", "[]") for slot in text_slots if "[*]" in slot}
        self.seen_keys: set[str] = set()
        self.seen_containers: dict[str, dict[str, set[str]]] = {}
        self.flagged: set[str] = set()

    def add(self, slot: str, value: str, kind: PartKind) -> None:
        if len(self.parts) >= self.max_parts:
            self.flag("protocol", "parts.limit", "notice", slot, value, "too many parts")
            raise _PartsFull
        self.parts.append(Part(slot, value, kind))

    def add_key(self, family: str, path: str, key: str) -> None:
        """Emit `key` at `path`, once per family and path."""
        slot = f"{family}-key:{path}"
        if slot not in self.seen_keys:
            self.seen_keys.add(slot)
            self.add(slot, key, PartKind.KEY)

    def container_keys(self, family: str) -> dict[str, set[str]]:
        """The keys of `family` emitted so far, by container shape (path, indices left out)."""
        return self.seen_containers.setdefault(family, {})

    def body_kind(self, slot: str, shape: str | None = None) -> PartKind:
        """TEXT for a slot (or a slot shape, indices left out) named in `text_slots`."""
        if not self.text_slots:
            return PartKind.BODY
        if slot in self.text_slots or ((shape or slot) in self.text_shapes):
            return PartKind.TEXT
        return PartKind.BODY

    def flag(
        self, category: str, rule: str, severity: str, slot: str, value: str | bytes, reason: str
    ) -> None:
        """Record a structural finding; each rule is reported once per request."""
        if rule in self.flagged:
            return
        self.flagged.add(rule)
        self.findings.append(
            finding(f"attack.{category}", rule, severity, slot, matched=value, reason=reason)
        )

    def reject(self, rule: str, text: str, reason: str) -> None:
        """The body is not what its content type says: flag it, and still scan it whole."""
        self.malformed = True
        self.flag("malformed", rule, "warning", "body", text, reason)
        self.add("body", text, PartKind.RAW)

    def cut_short(self, text: str) -> None:
        """Our `body_limit` cut the body mid-structure: scan what we read as one part."""
        self.flag("protocol", "body.truncated", "notice", "body", text, "body over the limit")
        self.add("body", text, PartKind.RAW)


def _slot_name(name: str) -> str:
    if len(name) <= _MAX_NAME:
        return name
    raw = name.encode("utf_8", "surrogatepass")
    return f"{name[:_MAX_NAME]}…{hashlib.blake2b(raw, digest_size=6).hexdigest()}"


def _percent_decode(text: str, encoding: str = "utf_8", *, plus: bool = False) -> str:
    if plus and "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if encoding != "utf_8":
        return unquote(text, encoding, _PERCENT_ERRORS)
    # The same result, faster when many bytes are not text: UTF-8 fails only on bytes over
    # 0x7F, which `surrogateescape` maps to U+DC80..U+DCFF and the table maps back to `%XX`.
    decoded = unquote(text, encoding, "surrogateescape")
    if _ESCAPED_BYTE.search(decoded):
        decoded = decoded.translate(_ESCAPED_BYTES)
    return decoded


# --- path, query, headers -------------------------------------------------------------


def _add_path(sink: _Sink, raw: str) -> None:
    sink.add("path", _percent_decode(raw), PartKind.PATH)
    if _PATH_ESCAPE.search(raw):
        sink.add("path#raw", raw, PartKind.PATH)
    index = 0
    for segment in raw.split("/"):
        if not segment:
            continue
        # Servlet containers route on the name before `;`: `/..;/admin` is `/../admin`.
        name, _, matrix = segment.partition(";")
        if name:
            sink.add(f"path[{index}]", _percent_decode(name), PartKind.PATH)
        if matrix:
            _add_pairs(sink, matrix, "matrix", PartKind.QUERY, separator=";")
        index += 1


def _add_pairs(
    sink: _Sink,
    raw: str,
    family: str,
    kind: PartKind,
    *,
    plus: bool = False,
    separator: str = "&",
    encoding: str = "utf_8",
) -> None:
    """Split `k=v` pairs: blank values and repeated keys kept, a `k` alone read as `k=`."""
    for piece in raw.split(separator):
        if not piece:
            continue
        raw_key, _, raw_value = piece.partition("=")
        key = _percent_decode(raw_key, encoding, plus=plus)
        name = _slot_name(key)
        sink.add_key(family, name, key)
        value = _percent_decode(raw_value, encoding, plus=plus)
        value_kind = sink.body_kind(f"{family}:{name}") if kind is PartKind.BODY else kind
        _add_value(sink, family, name, value, value_kind, 1, 0)


def _add_headers(sink: _Sink, headers: tuple[tuple[str, str], ...]) -> None:
    content_types: set[str] = set()
    for name, value in headers:
        lowered = name.strip().lower()
        if lowered == "content-length":
            continue
        if lowered == "cookie":
            _add_cookies(sink, value)
            continue
        slot_name = _slot_name(lowered)
        if not _PLAIN_HEADER.fullmatch(lowered):
            sink.add_key("header", slot_name, name)
        sink.add(f"header:{slot_name}", value, PartKind.HEADER)
        if lowered == "content-type":
            content_types.add(value.strip().lower())
    if len(content_types) > 1:
        # Which one wins differs between servers: a filter may read one, the app the other.
        joined = "\n".join(sorted(content_types))
        reason = "conflicting Content-Type headers"
        slot = "header:content-type"
        sink.flag("protocol", "protocol.content_type", "error", slot, joined, reason)


def _add_cookies(sink: _Sink, header: str) -> None:
    for pair in header.split(";"):
        name, equals, value = pair.strip().partition("=")
        if not equals:
            # As browsers read it: a cookie without `=` has an empty name.
            name, value = "", name
        name = name.strip()
        if not (name or value):
            continue
        slot_name = _slot_name(name)
        if name:
            sink.add_key("cookie", slot_name, name)
        sink.add(f"cookie:{slot_name}", value.strip(), PartKind.COOKIE)


# --- values and JSON ------------------------------------------------------------------


def _add_value(
    sink: _Sink, family: str, path: str, value: str, kind: PartKind, depth: int, embedded: int
) -> None:
    """Emit one value, and split it too when it is a JSON document (never in TEXT)."""
    sink.add(f"{family}:{path}", value, kind)
    if value[:1] in _JSON_OPENERS and kind is not PartKind.TEXT and embedded < _MAX_EMBEDDED:
        _add_embedded_json(sink, family, path, value, kind, depth, embedded)


def _add_embedded_json(
    sink: _Sink, family: str, path: str, value: str, kind: PartKind, depth: int, embedded: int
) -> None:
    if value[-1] not in "}]":
        return
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return
    walker = _JsonWalker(sink, family, kind, embedded + 1)
    path = f"{path}#json"
    walker.walk(document, path, path, depth + 1)


def _shape(path: str, shape: str, child_path: str, member: str) -> str:
    """A member's shape: its path with indices left out (its path, when there are none)."""
    return child_path if shape is path else shape + member


def _json_member(key: str) -> str:
    key = _slot_name(key)
    # An ASCII identifier is plain; the test is much cheaper than the expression.
    if (key.isascii() and key.isidentifier()) or _PLAIN_KEY.fullmatch(key):
        return "." + key
    return "[" + orjson.dumps(key).decode() + "]"


class _JsonWalker:
    """Walks a parsed JSON document: strings and keys become parts, other scalars do not.

    The hot loop of a JSON request, hence written flat: names are computed once per
    distinct key, keys are remembered per container shape (`items[]` for every item of
    `items`), and a path without arrays is its own shape (the same string object).
    """

    __slots__ = ("embedded", "family", "keys", "kind", "members", "prefix", "sink", "texts")

    def __init__(self, sink: _Sink, family: str, kind: PartKind, embedded: int) -> None:
        self.sink = sink
        self.family = family
        self.kind = kind
        self.prefix = f"{family}:"
        self.embedded = embedded
        self.members: dict[str, str] = {}
        self.keys = sink.container_keys(family)
        self.texts = bool(sink.text_slots) and kind is PartKind.BODY

    def walk(self, node: object, path: str, shape: str, depth: int) -> None:
        """Walk `node`, a container at `depth` (the root is 1); `path` names its place."""
        sink = self.sink
        if depth > sink.max_depth:
            self.flatten(node, path)
            return
        if type(node) is dict:
            members, parts, texts = self.members, sink.parts, self.texts
            family, prefix, embedded = self.family, self.prefix, self.embedded
            embedding = embedded < _MAX_EMBEDDED
            key_prefix = f"{family}-key:"
            known = self.keys.get(shape)
            if known is None:
                known = self.keys[shape] = set()
            for key, child in node.items():
                member = members.get(key)
                if member is None:
                    member = members[key] = _json_member(key)
                child_path = path + member if path else member.removeprefix(".")
                if key not in known:
                    known.add(key)
                    if len(parts) >= sink.max_parts:
                        sink.add(key_prefix + child_path, key, _KEY)  # raises: the limit
                    parts.append(Part(key_prefix + child_path, key, _KEY))
                if type(child) is str:
                    # `value`, inlined: this branch runs once per string of the document.
                    slot = prefix + child_path
                    kind = (
                        sink.body_kind(slot, prefix + _shape(path, shape, child_path, member))
                        if texts
                        else self.kind
                    )
                    if len(parts) >= sink.max_parts:
                        sink.add(slot, child, kind)  # raises: the limit
                    parts.append(Part(slot, child, kind))
                    if child[:1] in _JSON_OPENERS and kind is not _TEXT and embedding:
                        _add_embedded_json(sink, family, child_path, child, kind, depth, embedded)
                elif type(child) is dict or type(child) is list:
                    child_shape = _shape(path, shape, child_path, member)
                    self.walk(child, child_path, child_shape, depth + 1)
        elif type(node) is list:
            item_shape = shape + "[]"
            for index, child in enumerate(node):
                if type(child) is str:
                    self.value(child, f"{path}[{index}]", item_shape, depth)
                elif type(child) is dict or type(child) is list:
                    self.walk(child, f"{path}[{index}]", item_shape, depth + 1)

    def value(self, text: str, path: str, shape: str, depth: int) -> None:
        """Emit `text`, a string in a container at `depth`."""
        sink = self.sink
        slot = self.prefix + path
        kind = sink.body_kind(slot, self.prefix + shape) if self.texts else self.kind
        if len(sink.parts) >= sink.max_parts:
            sink.add(slot, text, kind)  # raises: the limit
        sink.parts.append(Part(slot, text, kind))
        if text[:1] in _JSON_OPENERS and kind is not _TEXT and self.embedded < _MAX_EMBEDDED:
            _add_embedded_json(sink, self.family, path, text, kind, depth, self.embedded)

    def flatten(self, node: object, path: str) -> None:
        """Past `max_depth`: every string and key below, at the slot where the cut was."""
        sink = self.sink
        slot = self.prefix + path
        sink.flag("protocol", "body.depth", "warning", slot, path, "nested too deeply")
        pending = [node]
        while pending:
            item = pending.pop()
            if type(item) is str:
                sink.add(slot, item, self.kind)
            elif type(item) is dict:
                for key, child in item.items():
                    sink.add(f"{self.family}-key:{path}", key, PartKind.KEY)
                    pending.append(child)
            elif type(item) is list:
                pending.extend(reversed(item))


# --- body -----------------------------------------------------------------------------

_BodyHandler = Callable[[_Sink, bytes, dict[str, str], bool], None]
_Inflated = Literal["complete", "output_full", "input_ended"]


def _add_body(sink: _Sink, sample: HttpSample, body_limit: int) -> None:
    body = sample.body
    if not body:
        return
    truncated = len(body) > body_limit
    if truncated:
        body = body[:body_limit]
    codings = [
        coding
        for header in sample.header_values("content-encoding")
        for coding in (c.strip().lower() for c in header.split(","))
        if coding not in ("", "identity")
    ]
    if codings:
        decoded = _decode_content(sink, body, codings, body_limit, truncated)
        if decoded is None:
            sink.add("body", body.decode("utf_8", "replace"), PartKind.RAW)
            return
        body, truncated = decoded
    media, params = _media_type(sample.header("content-type") or "")
    _handler(media)(sink, body, params, truncated)


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    media, _, rest = value.partition(";")
    return media.strip().lower(), _parameters(rest)


def _parameters(text: str) -> dict[str, str]:
    """`a=1; b="x;y"` as a dict (names lower-cased, the first one wins), in linear time."""
    params: dict[str, str] = {}
    segment: list[str] = []
    for token in [*_PARAM_TOKEN.findall(text), ";"]:
        if token != ";":
            segment.append(token)
            continue
        name, equals, value = "".join(segment).partition("=")
        segment.clear()
        value = value.strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        if equals:
            params.setdefault(name.strip().lower(), value)
    return params


def _handler(media: str) -> _BodyHandler:
    if media in _HANDLERS:
        return _HANDLERS[media]
    if media.endswith("+json"):
        return _add_json
    if media.endswith("+xml"):
        return _add_xml
    if media.startswith("multipart/"):
        return _add_multipart
    return _add_raw


def _decode_content(
    sink: _Sink, body: bytes, codings: list[str], limit: int, truncated: bool
) -> tuple[bytes, bool] | None:
    """Undo Content-Encoding, the last coding applied first; None when it cannot be undone."""
    header = ", ".join(codings)
    if len(codings) > _MAX_CODINGS or any(coding not in _WBITS for coding in codings):
        reason = "unsupported content encoding"
        sink.flag("protocol", "protocol.content_encoding", "error", "body", header, reason)
        return None
    for coding in reversed(codings):
        output = bytearray()
        try:
            status: _Inflated | None = _inflate_coding(coding, body, limit, output)
        except zlib.error:
            status = None
        if status is None or (status == "input_ended" and not truncated):
            reason = "body does not decode as its content encoding"
            sink.flag("protocol", "protocol.content_encoding", "error", "body", header, reason)
            salvaged = output or _salvage(coding, body, limit)
            if salvaged:
                sink.add("body", salvaged.decode("utf_8", "replace"), PartKind.RAW)
            return None
        truncated = truncated or status != "complete"
        body = bytes(output)
    return body, truncated


def _salvage(coding: str, data: bytes, limit: int) -> bytes:
    """What a stream whose trailer check fails holds: inflated again, trailer left out."""
    inflater = zlib.decompressobj(_WBITS[coding])
    try:
        return inflater.decompress(data[:-8], limit) if limit > 0 else b""
    except zlib.error:
        return b""


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _inflate_coding(coding: str, data: bytes, limit: int, output: bytearray) -> _Inflated:
    try:
        return _inflate(data, _WBITS[coding], limit, output)
    except zlib.error:
        if coding != "deflate" or output:
            raise
    # RFC 9110 says deflate is zlib-wrapped; some clients send it bare.
    return _inflate(data, -zlib.MAX_WBITS, limit, output)


def _inflate(data: bytes, wbits: int, limit: int, output: bytearray) -> _Inflated:
    """Inflate into `output` (kept if this raises), at most `limit` bytes of it.

    Input is fed in chunks so that a stream which breaks late keeps what came before.
    Concatenated gzip members are all read, as gzip readers do; anything else after the
    end of the stream raises `zlib.error`.
    """
    view = memoryview(data)
    offset = 0
    for _ in range(_MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof:
            if len(output) >= limit:
                return "output_full"
            if inflater.unconsumed_tail:
                chunk: bytes | memoryview = inflater.unconsumed_tail
            elif offset < len(view):
                chunk = view[offset : offset + _INFLATE_CHUNK]
                offset += len(chunk)
            else:
                return "input_ended"
            output += inflater.decompress(chunk, limit - len(output))
        rest = inflater.unused_data + view[offset:]
        if not rest:
            return "complete"
        if wbits != _WBITS["gzip"]:
            raise zlib.error("data after the end of the stream")
        view, offset = memoryview(rest), 0
    raise zlib.error("too many gzip members")


def _charset(sink: _Sink, declared: str | None, body: bytes, *, sniff: bool) -> str:
    """The codec for a body: as declared, else as a BOM (or JSON's NULs) says, else UTF-8."""
    name = declared or (_sniffed_charset(body[:4]) if sniff else None)
    if not name:
        return "utf_8"
    codec = _known_codec(name)
    if codec is None:
        sink.flag("protocol", "protocol.charset", "warning", "body", name, "unknown charset")
        return "utf_8"
    if codec in _EVASIVE_CHARSETS:
        reason = f"charset {codec} hides text from byte-oriented filters"
        sink.flag("protocol", "protocol.charset", _EVASIVE_CHARSETS[codec], "body", name, reason)
    return codec


def _known_codec(name: str) -> str | None:
    normalized = normalize_encoding(name[:_MAX_CHARSET_NAME].strip().lower())
    codec = codec_aliases.aliases.get(normalized, normalized)
    return codec if codec in _CHARSETS else None


def _sniffed_charset(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf_8_sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf_32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf_16"
    if len(head) < 4 or 0 not in head:
        return None
    # RFC 4627: which of the first four bytes of JSON text are NUL gives the encoding away.
    first, second, third, fourth = (byte == 0 for byte in head[:4])
    return _NUL_PATTERNS.get((first, second, third, fourth))


_NUL_PATTERNS = {
    (True, True, True, False): "utf_32_be",
    (False, True, True, True): "utf_32_le",
    (True, False, True, False): "utf_16_be",
    (False, True, False, True): "utf_16_le",
}


def _ascii_compatible(codec: str) -> bool:
    return _ASCII_PROBE.encode("ascii").decode(codec, "replace") == _ASCII_PROBE


def _add_raw(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    codec = _charset(sink, params.get("charset"), body, sniff=False)
    sink.add("body", body.decode(codec, "replace"), PartKind.RAW)


def _add_graphql(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    codec = _charset(sink, params.get("charset"), body, sniff=False)
    sink.add("graphql:query", body.decode(codec, "replace"), sink.body_kind("graphql:query"))


def _add_form(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    codec = _charset(sink, params.get("charset"), body, sniff=False)
    escapes = codec if _ascii_compatible(codec) else "utf_8"
    text = body.decode(codec, "replace")
    _add_pairs(sink, text, "form", PartKind.BODY, plus=True, encoding=escapes)


def _add_json(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    codec = _charset(sink, params.get("charset"), body, sniff=True)
    if codec == "utf_8" and body.startswith(codecs.BOM_UTF8):
        codec = "utf_8_sig"
    data: bytes | str = body if codec == "utf_8" else body.decode(codec, "replace")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        text = data if isinstance(data, str) else data.decode("utf_8", "replace")
        if truncated:
            sink.cut_short(text)
        elif "depth limit" in str(error):
            # Valid JSON, but deeper than the parser goes: scanned whole.
            sink.flag("protocol", "body.depth", "warning", "body", text, "nested too deeply")
            sink.add("body", text, PartKind.RAW)
        else:
            sink.reject("body.json", text, "body is not valid JSON")
        return
    walker = _JsonWalker(sink, "json", PartKind.BODY, 0)
    if type(document) is str:
        walker.value(document, "", "", 0)
    else:
        walker.walk(document, "", "", 1)


# --- multipart ------------------------------------------------------------------------


def _add_multipart(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    error = _split_multipart(sink, body, params.get("boundary", ""), "", 1)
    if error is None:
        return
    text = body.decode("utf_8", "replace")
    if truncated:
        sink.cut_short(text)
    else:
        sink.reject("body.multipart", text, error)


def _split_multipart(
    sink: _Sink, body: bytes, boundary: str, prefix: str, depth: int
) -> str | None:
    """Emit the fields of one multipart body; the reason it is invalid, or None."""
    if not _BOUNDARY.fullmatch(boundary):
        return "missing or invalid multipart boundary"
    delimiter = b"--" + boundary.encode("ascii")
    start = _next_delimiter(body, delimiter, 0)
    if start < 0:
        return "multipart boundary not found"
    # Parsers disagree on where the first delimiter may start: what we take for preamble
    # and epilogue, another parser may read as fields, so they are scanned too.
    _add_outside(sink, body[:start], f"{prefix}#preamble")
    index = 0
    while start >= 0:
        after = start + len(delimiter)
        if body.startswith(b"--", after):
            _add_outside(sink, body[after + 2 :], f"{prefix}#epilogue")
            return None
        line_end = body.find(b"\n", after)
        if line_end < 0:
            break
        end = _next_delimiter(body, delimiter, line_end + 1)
        content_end = len(body) if end < 0 else end - 1
        if body[content_end - 1 : content_end] == b"\r":
            content_end -= 1
        field = body[line_end + 1 : content_end]
        error = _add_multipart_field(sink, field, f"{prefix}#{index}", prefix, depth)
        if error is not None:
            return error
        index += 1
        start = end
    return "multipart body has no closing boundary"


def _add_outside(sink: _Sink, text: bytes, name: str) -> None:
    if text.strip():
        sink.add(f"multipart:{name}", text.decode("utf_8", "replace"), PartKind.RAW)


def _next_delimiter(body: bytes, delimiter: bytes, start: int) -> int:
    """Where the next line that is `delimiter` (not one that only starts with it) begins."""
    if start == 0 and body.startswith(delimiter) and _ends_delimiter(body, len(delimiter)):
        return 0
    marker = b"\n" + delimiter
    at = body.find(marker, start)
    while at >= 0 and not _ends_delimiter(body, at + len(marker)):
        at = body.find(marker, at + 1)
    return at + 1 if at >= 0 else -1


def _ends_delimiter(body: bytes, after: int) -> bool:
    return after >= len(body) or body[after] in _DELIMITER_END or body.startswith(b"--", after)


def _add_multipart_field(
    sink: _Sink, field: bytes, unnamed: str, prefix: str, depth: int
) -> str | None:
    """Emit one field; the reason it is invalid, or None."""
    head, content = _split_head(field)
    headers = _field_headers(head)
    if headers is None:
        # Lines we would skip as headers could be content to another parser.
        return "multipart part with invalid headers"
    disposition = _parameters(headers.get("content-disposition", "").partition(";")[2])
    media, params = _media_type(headers.get("content-type", "text/plain"))
    name = disposition.get("name")
    path = unnamed if name is None else prefix + _slot_name(name)
    if name is not None:
        sink.add_key("multipart", path, name)
    for filename in (disposition.get("filename"), _extended(disposition.get("filename*"))):
        if filename is not None:
            sink.add(f"multipart-filename:{path}", filename, PartKind.FILENAME)
    content = _transfer_decoded(headers.get("content-transfer-encoding", ""), content)
    boundary = params.get("boundary", "")
    nested = media.startswith("multipart/") and depth < sink.max_depth
    if nested and _split_multipart(sink, content, boundary, path + "/", depth + 1) is None:
        return None
    codec = _charset(sink, params.get("charset"), content, sniff=False)
    if not _is_text(content[:_BINARY_HEAD]):
        # An upload: its head is where a polyglot keeps its script.
        content = content[:_BINARY_HEAD]
    value = content.decode(codec, "replace")
    _add_value(sink, "multipart", path, value, sink.body_kind(f"multipart:{path}"), depth, 0)
    return None


def _split_head(field: bytes) -> tuple[bytes, bytes]:
    """A part's header block and content; a part may have either alone (RFC 2046)."""
    if field.startswith(b"\r\n"):
        return b"", field[2:]
    if field.startswith(b"\n"):
        return b"", field[1:]
    crlf, lf = field.find(b"\r\n\r\n"), field.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return field[:crlf], field[crlf + 4 :]
    if lf >= 0:
        return field[:lf], field[lf + 2 :]
    return field, b""


def _field_headers(head: bytes) -> dict[str, str] | None:
    """A part's headers, or None when a line is not a header (nor folded onto one)."""
    headers: dict[str, str] = {}
    for line in head.decode("utf_8", "replace").split("\n"):
        name, colon, value = line.rstrip("\r").partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
        elif name.strip() and not name.startswith((" ", "\t")):
            return None
    return headers


def _extended(value: str | None) -> str | None:
    """An RFC 8187 value (`UTF-8''na%C3%AFve.txt`) decoded, or None."""
    if value is None:
        return None
    charset, _, rest = value.partition("'")
    _, _, encoded = rest.partition("'")
    codec = _known_codec(charset) or "utf_8"
    return _percent_decode(encoded, codec if _ascii_compatible(codec) else "utf_8")


def _transfer_decoded(encoding: str, content: bytes) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return binascii.a2b_base64(content)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(content)
    except (binascii.Error, ValueError):
        pass
    return content


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    controls = len(head) - len(head.translate(None, _NON_TEXT))
    return controls * 10 <= len(head)


# --- XML ------------------------------------------------------------------------------


class _DeclaresEntities(Exception):
    """Stops the parse after a DOCTYPE that declares entities, so none is ever expanded."""


class _XmlSplitter:
    """Expat callbacks turning elements into parts; entities are neither expanded nor fetched.

    Past `max_depth` elements keep their parent's slot, so their text is still emitted.
    """

    def __init__(self, sink: _Sink, data: bytes) -> None:
        self.sink = sink
        self.data = data
        self.paths = [""]
        self.text: list[str] = []
        self.doctype_at = 0
        self.entities = False
        # An explicit encoding overrides the document's own declaration: we decoded already.
        parser = expat.ParserCreate("utf-8")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text.append
        parser.ProcessingInstructionHandler = self.instruction
        parser.CommentHandler = self.comment
        parser.StartDoctypeDeclHandler = self.doctype
        parser.EndDoctypeDeclHandler = self.end_doctype
        parser.EntityDeclHandler = self.entity
        parser.ExternalEntityRefHandler = self.refuse_external
        self.parser = parser

    def split(self) -> None:
        self.parser.Parse(self.data, True)

    def add(self, path: str, value: str) -> None:
        slot = f"xml:{path}"
        _add_value(self.sink, "xml", path, value, self.sink.body_kind(slot), 1, 0)

    def flush(self) -> None:
        if self.text:
            value = "".join(self.text)
            self.text.clear()
            if not value.isspace():
                self.add(self.paths[-1], value)

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.flush()
        parent = self.paths[-1]
        if len(self.paths) > self.sink.max_depth:
            self.sink.flag("protocol", "body.depth", "warning", f"xml:{parent}", name, "too deep")
            path = parent
        else:
            path = f"{parent}/{_slot_name(name)}"
        self.paths.append(path)
        for attribute, value in attributes.items():
            self.add(f"{path}/@{_slot_name(attribute)}", value)

    def end(self, name: str) -> None:
        self.flush()
        self.paths.pop()

    def instruction(self, target: str, data: str) -> None:
        self.flush()
        self.add(f"{self.paths[-1]}/?{_slot_name(target)}", data)

    def comment(self, data: str) -> None:
        self.flush()
        self.add(f"{self.paths[-1]}/#comment", data)

    def doctype(
        self, name: str, system_id: str | None, public_id: str | None, has_subset: int
    ) -> None:
        self.doctype_at = max(0, self.data.rfind(b"<!DOCTYPE", 0, self.parser.CurrentByteIndex + 1))
        self.sink.flag("xxe", "xml.doctype", "error", "xml:!doctype", name, "a DOCTYPE")
        if system_id or public_id:
            self.external(system_id or public_id or "")

    def end_doctype(self) -> None:
        end = self.data.find(b">", self.parser.CurrentByteIndex)
        declaration = self.data[self.doctype_at : len(self.data) if end < 0 else end + 1]
        self.sink.add("xml:!doctype", declaration.decode("utf_8", "replace"), PartKind.BODY)
        if self.entities:
            raise _DeclaresEntities

    def entity(
        self,
        name: str,
        is_parameter: int,
        value: str | None,
        base: str | None,
        system_id: str | None,
        public_id: str | None,
        notation: str | None,
    ) -> None:
        self.entities = True
        if system_id or public_id:
            self.external(system_id or public_id or "")
        else:
            reason = "an entity declaration"
            self.sink.flag("xxe", "xml.entity", "critical", "xml:!doctype", name, reason)

    def external(self, reference: str) -> None:
        reason = "a reference to an external entity"
        self.sink.flag("xxe", "xml.external_entity", "critical", "xml:!doctype", reference, reason)

    def refuse_external(
        self, context: str, base: str | None, system_id: str | None, public_id: str | None
    ) -> int:
        return 1


def _add_xml(sink: _Sink, body: bytes, params: dict[str, str], truncated: bool) -> None:
    declared = params.get("charset")
    if declared is None and _sniffed_charset(body[:4]) is None:
        found = _XML_ENCODING.match(body)
        declared = found[1].decode("ascii", "replace") if found else None
    codec = _charset(sink, declared, body, sniff=True)
    text = body.decode(codec, "replace") if codec != "utf_8" else None
    # UTF-7 can carry lone surrogates: passed on, expat rejects them as not well-formed.
    data = body if text is None else text.encode("utf_8", "surrogatepass")
    try:
        _XmlSplitter(sink, data).split()
    except _DeclaresEntities:
        # Declared entities are never expanded, so the content is scanned whole instead.
        sink.add("body", text or body.decode("utf_8", "replace"), PartKind.RAW)
    except expat.ExpatError as error:
        whole = text or body.decode("utf_8", "replace")
        if truncated:
            sink.cut_short(whole)
        else:
            sink.reject("body.xml", whole, f"body is not well-formed XML ({error.code})")


_HANDLERS: dict[str, _BodyHandler] = {
    "application/json": _add_json,
    "text/json": _add_json,
    "application/graphql": _add_graphql,
    "application/x-www-form-urlencoded": _add_form,
    "application/xml": _add_xml,
    "text/xml": _add_xml,
}
