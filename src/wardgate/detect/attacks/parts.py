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
  checked elsewhere and it carries no data. JSON cut at `body_limit` is closed where the
  cut fell and walked instead, so its chat messages stay TEXT.
- Applications parse what they like: a RAW body that looks like JSON, a form or XML is
  split as such too; conflicting `Content-Type` headers split the body as each type (and
  make it malformed); every value of a repeated JSON key is emitted (the hidden ones at
  `key#dup`); JSON as Python writes it (`NaN`, `Infinity`, lone surrogates) is JSON.
- A multipart field reaches its application whole, whatever its bytes; a binary upload
  (a part with a filename) is emitted as its first KiB plus the text in the rest of it
  (runs of 4 or more printable ASCII characters), so a script anywhere in it is seen.
- Keys are parts too (`user[$ne]`, `__proto__`); each key shape is emitted once
  (`items[0].id` and `items[7].id` have the shape `items[].id`), so a long array of records
  costs a part per value rather than per value and key, while `constructor.prototype` keeps
  its own place.
- A string that is itself a JSON document (a query value `filter={"$where":...}`, a form
  field, a JSON string holding JSON) is split as well, under its slot plus `#json`; never
  inside TEXT, where quoted JSON is something said to a model.
- Hostile input: `extract` never raises for any input, runs in time linear in the body, and
  keeps memory bounded by `body_limit`, `max_depth` and `max_parts`. XML entities are
  never expanded and nothing is fetched; gzip and deflate output stops at `body_limit`.
  Charsets are looked up only by names Python already knows, so odd names cannot grow the
  codec caches.
- Slots go into audit events, so client text stays out of them: a name (key, field,
  cookie, header, element) other than 1 to 64 of `A-Za-z0-9_.$:-` shows in slots as a
  digest (`#k` and 8 hex digits); its part keeps the whole name.

Slots: `path`, `path#raw` (as sent, when an escape changes how the path splits or decodes),
`path[i]` (i-th non-empty segment without its matrix parameters), `matrix:k`, `query:k`,
`header:name`, `cookie:k`, `json:messages[0].content[1].text`, `json:a["a.b"]`,
`json:a["#k3f9a2c10"]` (a name that is not plain), `json:q#dup` (a value hidden by a
repeated key), `json:` (a root string), `form:k`, `multipart:k` (`multipart:#i` for a part
without a name, `multipart:outer/inner` for nested multipart; a binary upload's head and
then its text), `multipart-filename:k`, `xml:/root/child`, `xml:/root/child/@attr`,
`xml:/root/?target` (processing instruction), `xml:/root/#comment`, `xml:!doctype`,
`graphql:query`, `body` (RAW), `multipart:#preamble` and `#epilogue` (RAW, when not
blank). Each value family `f` has a key family `f-key` for names (`query-key:k`,
`json-key:a.b`, `header-key:name` for header names outside `[a-z0-9-]`). A body value whose
slot is in `text_slots` (where `[*]` stands for any array index, and a trailing `.**` for
every value below a slot) is TEXT rather than BODY.

Findings (each rule at most once per request): `attack.xxe` `xml.doctype` (error),
`xml.entity` and `xml.external_entity` (critical); `attack.malformed` `body.json`,
`body.xml`, `body.multipart` (warning, with `malformed` set); `attack.protocol`
`protocol.charset` (error for UTF-7, UTF-32 and EBCDIC, warning for UTF-16 and unknown
names), `protocol.content_encoding` and `protocol.content_type` (error; the latter sets
`malformed`), `body.depth` and `body.duplicate_key` (warning), `body.truncated` and
`parts.limit` (notice). A body sniffed as XML is not flagged for a DOCTYPE alone.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import hashlib
import json
import re
import zlib
from collections.abc import Callable
from encodings import aliases as codec_aliases, normalize_encoding
from typing import Literal, NamedTuple
from urllib.parse import unquote
from xml.parsers import expat

import orjson

from wardgate.decision import Finding
from wardgate.detect.attacks.model import Extraction, HttpSample, Part, PartKind, finding

__all__ = ["extract"]

_MAX_EMBEDDED = 2  # levels of JSON documents inside strings
_DEPTH_CEILING = 256  # whatever `max_depth` says, the walks recurse no deeper than this
_MAX_CODINGS = 3
_MAX_GZIP_MEMBERS = 64
_INFLATE_CHUNK = 16_384
_BINARY_HEAD = 1_024  # bytes of a binary upload scanned as they are; past it, its strings
_MAX_CONTENT_TYPES = 4  # conflicting Content-Type headers whose types are all tried
_JSON_DEPTH = 1_024  # orjson's own nesting limit
_MAX_CHARSET_NAME = 64

# Names that may appear in a slot as written; any other is replaced by a digest there.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.$:-]{1,64}")
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
_PRINTABLE = bytes([9, 10, 13, *range(32, 127)])
_PRINTABLE_RUN = re.compile(rb"[\t\n\r\x20-\x7e]{4,}")
# Closing JSON cut short: a string (its closing quote captured, absent where the cut fell);
# in reverse, what lies after the last quote that no backslash escapes, and that quote;
# what may be the start of a literal or a number.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(")?', re.DOTALL)
_OPEN_STRING_REVERSED = re.compile(r'(?:[^"]++|"(?:\\\\)*+\\(?!\\))*+"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]++")
_SCALAR_CHARACTERS = "0123456789+-.eEtrufalsnNIiy"
_PARTIAL_SCALAR = re.compile(
    r"-?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?"
    r"|n(?:u(?:ll?)?)?|N(?:aN?)?|-?I(?:n(?:f(?:i(?:n(?:i(?:ty?)?)?)?)?)?)?"
)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_FIRST_CHARACTER = re.compile(r"\s*(\S)")
# A body that a form parser would read: `k=v` pairs of characters a URL carries unescaped.
_FORM_LIKE = re.compile(
    r"\s*[A-Za-z0-9_.~*+%$!'(),/:;@?\[\]-]+=[A-Za-z0-9_.~*+%$!'(),/:;@?\[\]=&-]*\s*"
)
_DELIMITER_END = frozenset(b"\r\n \t")
_JSON_OPENERS = frozenset("{[")
# Read in the hot loop, where enum attribute lookups add up; `tuple.__new__` builds a Part
# without the named tuple's Python-level constructor (a third of the cost of a part).
_KEY, _TEXT = PartKind.KEY, PartKind.TEXT
_new_part = tuple.__new__

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


def _below(shape: str, roots: tuple[str, ...]) -> bool:
    return any(
        shape.startswith(root) and shape[len(root) : len(root) + 1] in (".", "[") for root in roots
    )


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
        "text_subtrees",
        "wholes",
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
        # `a.b.**`: every value below `a.b`, at any depth (a tool call's whole input).
        self.text_subtrees = tuple(
            slot.removesuffix(".**").replace("[*]", "[]")
            for slot in text_slots
            if slot.endswith(".**")
        )
        self.seen_keys: set[tuple[str, str]] = set()
        self.seen_containers: dict[str, dict[str, set[str]]] = {}
        self.flagged: set[str] = set()
        self.wholes: list[str] = []

    def add(self, slot: str, value: str, kind: PartKind) -> None:
        if len(self.parts) >= self.max_parts:
            self.flag("protocol", "parts.limit", "notice", slot, value, "too many parts")
            raise _PartsFull
        self.parts.append(Part(slot, value, kind))

    def add_key(self, family: str, path: str, key: str) -> None:
        """Emit `key` at `path`, once per family, path and key.

        The key counts, not only its slot: names that share a digest in their slot (which
        a client can arrange) are still each emitted.
        """
        slot = f"{family}-key:{path}"
        if (slot, key) not in self.seen_keys:
            self.seen_keys.add((slot, key))
            self.add(slot, key, PartKind.KEY)

    def add_whole(self, text: str) -> None:
        """Emit the body (or what was read of it) as one RAW part, unless it was already."""
        if text not in self.wholes:
            self.wholes.append(text)
            self.add("body", text, PartKind.RAW)

    def container_keys(self, family: str) -> dict[str, set[str]]:
        """The keys of `family` emitted so far, by container shape (path, indices left out)."""
        return self.seen_containers.setdefault(family, {})

    def body_kind(self, slot: str, shape: str | None = None) -> PartKind:
        """TEXT for a slot (or a slot shape, indices left out) named in `text_slots`."""
        if not self.text_slots:
            return PartKind.BODY
        if slot in self.text_slots or ((shape or slot) in self.text_shapes):
            return PartKind.TEXT
        if self.text_subtrees and _below(shape or slot, self.text_subtrees):
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
        self.add_whole(text)

    def truncated(self, text: str) -> None:
        """Our `body_limit` cut the body mid-structure."""
        self.flag("protocol", "body.truncated", "notice", "body", text, "body over the limit")

    def cut_short(self, text: str) -> None:
        """Our `body_limit` cut the body mid-structure: scan what we read as one part."""
        self.truncated(text)
        self.add_whole(text)


def _slot_name(name: str) -> str:
    """`name` as a slot shows it: as written when plain, else a digest (slots are logged)."""
    if not name or _PLAIN_NAME.fullmatch(name):
        return name
    return _digest(name)


def _digest(name: str) -> str:
    raw = name.encode("utf_8", "surrogatepass")
    return "#k" + hashlib.blake2b(raw, digest_size=4).hexdigest()


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
        sink.malformed = True
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


def _json_member(key: str, *, root: bool = False) -> str:
    """`.key`, `["a.b"]` for a plain name that is no identifier, else `["#k…"]`, a digest;
    at the `root`, `key` has no leading `.`."""
    dot = "" if root else "."
    # An ASCII identifier is plain; the test is much cheaper than the expressions.
    if len(key) <= 64 and key.isascii() and key.isidentifier():
        return dot + key
    if not _PLAIN_NAME.fullmatch(key):
        return f'["{_digest(key)}"]' if key else '[""]'
    if _PLAIN_KEY.fullmatch(key):
        return dot + key
    return f'["{key}"]'


def _child_path(path: str, key: str) -> str:
    return path + _json_member(key, root=not path)


class _JsonWalker:
    """Walks a parsed JSON document: strings and keys become parts, other scalars do not.

    The hot loop of a JSON request, hence written flat: names are computed once per
    distinct key, keys are remembered per container shape (`items[]` for every item of
    `items`), and a path without arrays is its own shape (the same string object).
    `strings` counts the keys and string values walked, to be checked against `_quotes`.
    """

    __slots__ = (
        "embedded",
        "embedding",
        "family",
        "keys",
        "kind",
        "members",
        "prefix",
        "root_members",
        "sink",
        "strings",
        "texts",
    )

    def __init__(self, sink: _Sink, family: str, kind: PartKind, embedded: int) -> None:
        self.sink = sink
        self.family = family
        self.kind = kind
        self.prefix = f"{family}:"
        self.embedded = embedded
        self.embedding = embedded < _MAX_EMBEDDED
        self.members: dict[str, str] = {}
        self.root_members: dict[str, str] = {}
        self.keys = sink.container_keys(family)
        self.texts = bool(sink.text_slots) and kind is PartKind.BODY
        self.strings = 0

    def root(self, document: object) -> None:
        """Walk a whole document."""
        if type(document) is str:
            self.value(document, "", "", 0)
        else:
            self.walk(document, "", "", 1)

    def walk(self, node: object, path: str, shape: str, depth: int) -> None:
        """Walk `node`, a container at `depth` (the root is 1); `path` names its place."""
        sink = self.sink
        if depth > sink.max_depth:
            self.flatten(node, path)
            return
        parts, texts, prefix = sink.parts, self.texts, self.prefix
        append, max_parts, kind, embedding = parts.append, sink.max_parts, self.kind, self.embedding
        # A slot is `head` and a member or an index: one concatenation per string.
        head = prefix + path
        if type(node) is dict:
            # The root's members go without their leading `.`, so `path + member` is the
            # child's path wherever the member is.
            members = self.members if path else self.root_members
            known = self.keys.get(shape)
            if known is None:
                known = self.keys[shape] = set()
            strings = len(node)
            for key, child in node.items():
                member = members.get(key)
                if member is None:
                    member = members[key] = _json_member(key, root=not path)
                if key not in known:
                    known.add(key)
                    if len(parts) >= max_parts:
                        sink.add(f"{self.family}-key:{path}{member}", key, _KEY)  # raises
                    append(_new_part(Part, (f"{self.family}-key:{path}{member}", key, _KEY)))
                child_type = type(child)
                if child_type is str:
                    # `value`, inlined: this branch runs once per string of the document.
                    strings += 1
                    slot = head + member
                    if texts:
                        kind = sink.body_kind(
                            slot, prefix + _shape(path, shape, path + member, member)
                        )
                    if len(parts) >= max_parts:
                        sink.add(slot, child, kind)  # raises: the limit
                    append(_new_part(Part, (slot, child, kind)))
                    if embedding and child[:1] in _JSON_OPENERS and kind is not _TEXT:
                        _add_embedded_json(sink, self.family, path + member, child, kind, depth,
                                           self.embedded)  # fmt: skip
                elif child_type is dict or child_type is list:
                    child_path = path + member
                    child_shape = child_path if shape is path else shape + member
                    self.walk(child, child_path, child_shape, depth + 1)
            self.strings += strings
        elif type(node) is list:
            item_shape = shape + "[]"
            strings = 0
            for index, child in enumerate(node):
                child_type = type(child)
                if child_type is str:
                    # `value`, inlined, as above.
                    strings += 1
                    slot = f"{head}[{index}]"
                    if texts:
                        kind = sink.body_kind(slot, prefix + item_shape)
                    if len(parts) >= max_parts:
                        sink.add(slot, child, kind)  # raises: the limit
                    append(_new_part(Part, (slot, child, kind)))
                    if embedding and child[:1] in _JSON_OPENERS and kind is not _TEXT:
                        _add_embedded_json(sink, self.family, f"{path}[{index}]", child, kind,
                                           depth, self.embedded)  # fmt: skip
                elif child_type is dict or child_type is list:
                    self.walk(child, f"{path}[{index}]", item_shape, depth + 1)
            self.strings += strings

    def value(self, text: str, path: str, shape: str, depth: int) -> None:
        """Emit `text`, a string in a container at `depth`."""
        sink = self.sink
        self.strings += 1
        slot = self.prefix + path
        kind = sink.body_kind(slot, self.prefix + shape) if self.texts else self.kind
        if len(sink.parts) >= sink.max_parts:
            sink.add(slot, text, kind)  # raises: the limit
        sink.parts.append(Part(slot, text, kind))
        if self.embedding and text[:1] in _JSON_OPENERS and kind is not _TEXT:
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
                self.strings += 1
                sink.add(slot, item, self.kind)
            elif type(item) is dict:
                self.strings += len(item)
                for key, child in item.items():
                    sink.add(f"{self.family}-key:{path}", key, PartKind.KEY)
                    pending.append(child)
            elif type(item) is list:
                pending.extend(reversed(item))


class _Parsed(NamedTuple):
    """A parsed JSON document, and the members its repeated keys hid, by `id` of their object.

    `duplicates` is None where the parser (orjson) keeps only the last value of a key and
    does not say whether it dropped any.
    """

    document: object
    duplicates: dict[int, list[tuple[str, object]]] | None


def _split_json(sink: _Sink, data: bytes | str, truncated: bool, *, declared: bool) -> None:
    """Walk a JSON body; scan it whole when it was `declared` JSON and is none.

    A body cut at `body_limit` is closed where the cut fell and walked as far as it goes,
    so its values keep their slots and `text_slots`; it needs no RAW copy then.
    """
    parsed = _load_json(data)
    source = data
    if parsed == "invalid" and truncated:
        closed = _close_json(_as_text(data))
        if closed is not None:
            parsed, data = _load_json(closed), closed
    if not isinstance(parsed, _Parsed):
        if declared:
            text = _as_text(source)
            if truncated:
                sink.cut_short(text)
            elif parsed == "deep":
                # Valid JSON, but deeper than the parser goes: scanned whole.
                sink.flag("protocol", "body.depth", "warning", "body", text, "nested too deeply")
                sink.add_whole(text)
            else:
                sink.reject("body.json", text, "body is not valid JSON")
        return
    if declared and truncated:
        sink.truncated(_as_text(source))
    walker = _JsonWalker(sink, "json", PartKind.BODY, 0)
    walker.root(parsed.document)
    if parsed.duplicates is None and _quotes(data) != 2 * walker.strings:
        # Perhaps a key was repeated and orjson kept its last value only: parse again.
        again = _load_json_pairs(data)
        if again is None:
            # Which members were hidden cannot be told: the body is scanned whole instead.
            sink.add_whole(_as_text(data))
            return
        parsed = again
    if parsed.duplicates:
        _add_duplicates(sink, walker, parsed.document, parsed.duplicates)


def _as_text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf_8", "replace")


def _load_json(data: bytes | str) -> _Parsed | Literal["deep", "invalid"]:
    try:
        return _Parsed(orjson.loads(data), None)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            return "deep"
    # orjson refuses NaN, Infinity and lone surrogates (`"\ud800"`); Python's json writes
    # and reads them, so a Python application takes such a body.
    return _load_json_pairs(data) or "invalid"


def _load_json_pairs(data: bytes | str) -> _Parsed | None:
    """`data` parsed by Python's json, noting the members that repeated keys hide."""
    duplicates: dict[int, list[tuple[str, object]]] = {}

    def pairs(members: list[tuple[str, object]]) -> dict[str, object]:
        node = dict(members)
        if len(node) < len(members):
            last = {key: index for index, (key, _) in enumerate(members)}
            hidden = [member for index, member in enumerate(members) if last[member[0]] != index]
            duplicates[id(node)] = hidden
        return node

    try:
        text = data if isinstance(data, str) else data.decode("utf_8")
        return _Parsed(json.loads(text, object_pairs_hook=pairs), duplicates)
    except (ValueError, RecursionError):
        return None


def _quotes(data: bytes | str) -> int:
    """At least twice the number of strings (keys included) in `data`, valid JSON text.

    Each string has two quotes that no backslash escapes; any other quote is escaped.
    Counting quotes, less those after a backslash, plus those after two backslashes
    (a closing quote after an escaped backslash), counts every string twice, and an
    escaped quote only after an escaped backslash. Linear, in C: a cheap check that no
    key was dropped, against the keys and strings the walk saw.
    """
    if isinstance(data, bytes):
        count = data.count(b'"')
        if b"\\" in data:
            count += data.count(b'\\\\"') - data.count(b'\\"')
        return count
    count = data.count('"')
    if "\\" in data:
        count += data.count('\\\\"') - data.count('\\"')
    return count


def _add_duplicates(
    sink: _Sink,
    walker: _JsonWalker,
    document: object,
    duplicates: dict[int, list[tuple[str, object]]],
) -> None:
    """Emit the values hidden by a later member of the same name, at `key#dup`.

    Applications disagree on which of two members wins: the first, the last, or both.
    Objects are visited in document order, each before what it holds.
    """
    pending: list[tuple[object, str, int]] = [(document, "", 1)]
    while pending:
        node, path, depth = pending.pop()
        children: list[tuple[object, str, int]] = []
        if type(node) is list:
            for index, child in enumerate(node):
                if type(child) is dict or type(child) is list:
                    children.append((child, f"{path}[{index}]", depth + 1))
        elif type(node) is dict:
            for key, child in node.items():
                if type(child) is dict or type(child) is list:
                    children.append((child, _child_path(path, key), depth + 1))
            for key, value in duplicates.get(id(node), ()):
                hidden = _child_path(path, key) + "#dup"
                reason = "a key repeated in one JSON object"
                sink.flag(
                    "protocol", "body.duplicate_key", "warning", f"json:{hidden}", key, reason
                )
                if type(value) is str:
                    walker.value(value, hidden, hidden, depth)
                elif type(value) is dict or type(value) is list:
                    walker.walk(value, hidden, hidden, depth + 1)
                    children.append((value, hidden, depth + 1))
        pending.extend(reversed(children))


def _close_json(text: str) -> str | None:
    """JSON text cut short, closed where the cut fell; None if what came before is not JSON.

    An open string is ended (less half an escape), a key left without a value is given
    `null`, a trailing comma or half a literal or number is dropped, and open containers
    are closed; nothing else is left out. Only the brackets are visited one by one: the
    strings are collapsed first, by an expression (linear, in C).
    """
    # Each string's closing quote, or "" for a string the cut fell in (the last one).
    strings = _JSON_STRING.findall(text)
    skeleton = _JSON_STRING.sub('""', text)
    start = -1
    if strings and not strings[-1]:
        opening = _OPEN_STRING_REVERSED.match(text[::-1])
        if opening is None:
            return None
        start = len(text) - opening.end()
        skeleton = skeleton[: skeleton.rfind('"') - 1]
    closers = _closers(skeleton)
    if closers is None:
        return None
    closing = "".join(reversed(closers))
    inside = closers[-1] if closers else ""
    end = skeleton.rstrip()
    last = end[-1:]
    if start >= 0:
        if inside == "}" and last in ("{", ","):
            tail = ":null"
        elif last in ("", "[", ",", ":"):
            tail = ""
        else:
            return None
        return text[:start] + _end_string(text[start + 1 :]) + tail + closing
    if not closers:
        return None
    # Past the last string, the skeleton and the text end alike.
    kept, tail = len(text), ""
    if last == ",":
        kept = len(text) - (len(skeleton) - len(end)) - 1
    elif last == ":":
        tail = "null"
    elif last == '"':
        if inside == "}" and end[:-2].rstrip()[-1:] in ("{", ","):
            tail = ":null"
    elif last not in ("[", "{", "]", "}"):
        scalar = end.rstrip(_SCALAR_CHARACTERS)
        if len(scalar) == len(end) or not _PARTIAL_SCALAR.fullmatch(end, len(scalar)):
            return None
        kept, tail = len(text) - (len(skeleton) - len(scalar)), "null"
    return text[:kept] + tail + closing


def _closers(skeleton: str) -> list[str] | None:
    """What closes the containers left open, innermost last; None if they do not nest."""
    closers: list[str] = []
    for bracket in _NOT_BRACKETS.sub("", skeleton):
        if bracket == "[" or bracket == "{":
            closers.append("]" if bracket == "[" else "}")
            if len(closers) > _JSON_DEPTH:
                return None
        elif not closers or closers.pop() != bracket:
            return None
    return closers


def _end_string(content: str) -> str:
    """A string cut after `content` (its opening quote left out), closed."""
    if (len(content) - len(content.rstrip("\\"))) % 2:
        content = content[:-1]
    escape = content.rfind("\\u", max(0, len(content) - 5))
    if escape >= 0 and all(digit in _HEX_DIGITS for digit in content[escape + 2 :]):
        # `\u12` cut short; but in `\\u12` an escaped backslash comes before `u12`.
        backslashes = escape - len(content[:escape].rstrip("\\"))
        if backslashes % 2 == 0:
            content = content[:escape]
    return f'"{content}"'


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
            sink.add_whole(body.decode("utf_8", "replace"))
            return
        body, truncated = decoded
    values = sample.header_values("content-type")
    media, params = _media_type(values[0] if values else "")
    if len({value.strip().lower() for value in values}) < 2:
        _handler(media)(sink, body, params, truncated)
        return
    # Conflicting types: applications differ on which one wins, so the body is split as
    # each of them, and scanned whole.
    handled: list[_BodyHandler] = []
    for value in values[:_MAX_CONTENT_TYPES]:
        media, params = _media_type(value)
        handler = _handler(media)
        if handler is not _add_raw and handler not in handled:
            handled.append(handler)
            handler(sink, body, params, truncated)
    text = body.decode("utf_8", "replace")
    sink.add_whole(text)
    split = frozenset(_FAMILIES[handler] for handler in handled if handler in _FAMILIES)
    _sniff(sink, text, "utf_8", truncated, split)


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
                sink.add_whole(salvaged.decode("utf_8", "replace"))
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
    text = body.decode(codec, "replace")
    sink.add_whole(text)
    _sniff(sink, text, codec, truncated, frozenset())


def _sniff(sink: _Sink, text: str, codec: str, truncated: bool, split: frozenset[str]) -> None:
    """Split a body of no (or the wrong) declared type as what it looks like, too.

    Many applications parse a body by its first character, or by the route, whatever the
    content type says. `split` names the types it was split as already.
    """
    first = _FIRST_CHARACTER.match(text)
    if first is None:
        return
    if first[1] in _JSON_OPENERS:
        if "json" not in split:
            _split_json(sink, text, truncated, declared=False)
    elif first[1] == "<":
        if "xml" not in split:
            _sniff_xml(sink, text)
    elif "form" not in split and _looks_like_form(text):
        escapes = codec if _ascii_compatible(codec) else "utf_8"
        _add_pairs(sink, text, "form", PartKind.BODY, plus=True, encoding=escapes)


def _looks_like_form(text: str) -> bool:
    # Base64 fits the characters, but no form is one key with `=` padding for a value.
    return bool(_FORM_LIKE.fullmatch(text)) and ("&" in text or not text.rstrip().endswith("="))


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
    _split_json(sink, data, truncated, declared=True)


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
    kind = sink.body_kind(f"multipart:{path}")
    upload = "filename" in disposition or "filename*" in disposition
    if upload and len(content) > _BINARY_HEAD and not _is_text(content[:_BINARY_HEAD]):
        # A binary upload: its head as it is (where a polyglot keeps its magic and often
        # its script), then the text in the rest of it, as `strings` would print it.
        magic = content[:_BINARY_HEAD].decode(codec, "replace")
        _add_value(sink, "multipart", path, magic, kind, depth, 0)
        # A run that reaches into the head is taken whole.
        start = len(content[:_BINARY_HEAD].rstrip(_PRINTABLE))
        runs = _PRINTABLE_RUN.findall(content, start)
        if runs:
            sink.add(f"multipart:{path}", b"\n".join(runs).decode("ascii"), kind)
        return None
    # Any other field reaches the application whole, whatever bytes it holds.
    value = content.decode(codec, "replace")
    _add_value(sink, "multipart", path, value, kind, depth, 0)
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
    A `sniffed` document (one not declared XML) is not flagged for a DOCTYPE alone: an
    HTML page has one.
    """

    def __init__(self, sink: _Sink, data: bytes, *, sniffed: bool = False) -> None:
        self.sink = sink
        self.data = data
        self.sniffed = sniffed
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
        if not self.sniffed:
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
        sink.add_whole(text or body.decode("utf_8", "replace"))
    except expat.ExpatError as error:
        whole = text or body.decode("utf_8", "replace")
        if truncated:
            sink.cut_short(whole)
        else:
            sink.reject("body.xml", whole, f"body is not well-formed XML ({error.code})")


def _sniff_xml(sink: _Sink, text: str) -> None:
    """Split a body that starts like XML as far as it parses; it was scanned whole already."""
    with contextlib.suppress(_DeclaresEntities, expat.ExpatError):
        _XmlSplitter(sink, text.encode("utf_8", "surrogatepass"), sniffed=True).split()


# The body types `_sniff` recognises, by the handler that splits them.
_FAMILIES: dict[_BodyHandler, str] = {_add_json: "json", _add_form: "form", _add_xml: "xml"}
_HANDLERS: dict[str, _BodyHandler] = {
    "application/json": _add_json,
    "text/json": _add_json,
    "application/graphql": _add_graphql,
    "application/x-www-form-urlencoded": _add_form,
    "application/xml": _add_xml,
    "text/xml": _add_xml,
}
