"""Attacks told by the shape of a parameter rather than by a signature in its value.

Some attacks carry no suspicious text at all: `user[$ne]=x` is harmless as a string and
only dangerous because a query parser (qs, PHP, Rails) turns the key into a MongoDB
operator; `a[__proto__][admin]=1` pollutes every object once a deep-merge walks it;
`?PHPSESSID=abc` plants a session id the victim's browser will keep. Signature engines look
at values, so these need their own checks, mostly on KEY parts.

`scan` is called on every part of every request, so each branch starts with a substring
test that fails for ordinary names and values before any regular expression runs.

Deliberately not findings: JSON Schema and JSON-LD keys (`$schema`, `$ref`, `$id`,
`$defs`, `$comment`, `$type`), OData query options (`$filter`, `$top`, `$search`,
`$count`), cookie attributes (`$Version`, `$Path`), and generic session names (`sid`,
`session`, `session_id`, `sessionid`): an API uses them for its own ends far more often
than an attacker plants them.
"""

from __future__ import annotations

import re
from itertools import pairwise
from urllib.parse import unquote

from wardgate.decision import Finding
from wardgate.detect.attacks.model import Part, PartKind, finding

__all__ = ["JS_OPERATORS", "NOSQL_OPERATORS", "SESSION_NAMES", "scan"]

# The operators that run server-side JavaScript: a key naming one is code execution.
JS_OPERATORS = frozenset({"$where", "$function", "$accumulator"})
# MongoDB query, update and aggregation operators that change what a query matches, writes
# or reads. Case-sensitive, as MongoDB is. Stages that only shape output are left out.
NOSQL_OPERATORS = JS_OPERATORS | frozenset(
    {
        *("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"),
        *("$and", "$or", "$not", "$nor", "$exists", "$regex", "$options", "$expr"),
        *("$jsonSchema", "$mod", "$elemMatch", "$all", "$size"),
        *("$lookup", "$graphLookup", "$unionWith", "$merge", "$out", "$match"),
        *("$set", "$unset", "$setOnInsert", "$inc", "$mul", "$rename", "$min", "$max"),
        *("$push", "$pull", "$pullAll", "$addToSet", "$pop", "$currentDate"),
    }
)
# Cookie names of well-known session frameworks, lower-cased; ASPSESSIONID is followed by
# eight letters that vary per site, so it is matched as a prefix.
SESSION_NAMES = frozenset(
    {
        *("phpsessid", "jsessionid", "jsessionidsso", "asp.net_sessionid", ".aspxauth"),
        *(".aspnetcore.session", "cfid", "cftoken", "connect.sid", "sails.sid", "koa.sess"),
        *("koa:sess", "express:sess", "laravel_session", "ci_session", "_session_id"),
        *("rack.session", "smsession"),
    }
)
_ASP_SESSION_PREFIX = "aspsessionid"
_SESSION_LENGTHS = frozenset({len(name) for name in SESSION_NAMES} | {20})
# Form and query fields reach PHP's and Java's session lookup; cookies are where a session
# id belongs, and JSON (a body, or a document inside a field: `#json`) is sent by scripts,
# not by the victim's browser. Matrix parameters (`;jsessionid=`) are read from PATH parts.
_FIXATION_SLOTS = ("query", "form", "multipart")

# `$op` as a whole key or as one segment of a bracket/dotted key: `a[0][$regex]`, `a.$ne`.
_OPERATOR_SEGMENT = re.compile(r"(?:^|[\[.])(\$[A-Za-z]+)(?=$|[\].])")
_OPERATOR_NAMES = "|".join(sorted((op[1:] for op in NOSQL_OPERATORS), key=len, reverse=True))
# A JSON-ish object with an operator key inside a value: `{"$ne": null}`, `{$gt: ''}`.
_OPERATOR_OBJECT = re.compile(r"[{,]\s*([\"']?)\$(?:" + _OPERATOR_NAMES + r")\1\s*:")
# Breaking out of a string inside `$where` and making it always true: `'; return true; //`.
_JS_BREAKOUT = re.compile(
    r"[\"']\s*;\s*return\s*(?:true|!0|1|this)\b"
    # `' || 'a'=='a`: the same word on both sides of an equality.
    r"|[\"']\s*\|\|\s*(?:true\b|[\"']?(\w+)[\"']?\s*===?\s*[\"']?\1\b)"
)
# Field access on the matched document, as `$where` sees it: `this.password.match(/^a/)`.
# Bounded repeats keep every search linear: `this.this.this...` must not go quadratic.
_THIS_FIELD = re.compile(
    r"\bthis\.\w{1,64}(?:\.\w{1,64}){0,4}\.(?:match|test|search|startsWith|indexOf)\s*\("
)
# A sleep only counts in a value that already looks like a `$where` expression.
_SLEEP = re.compile(r"\bsleep\s*\(\s*\d+\s*\)")
_WHERE_CONTEXT = re.compile(r"\$where|\bthis\.\w|\bfunction\s*\(|[\"']\s*;")

_SEGMENT_SEPARATORS = re.compile(r"[.\[\]\"'/]+")

_COOKIE_INJECTION = re.compile(
    r"document\s*\.\s*cookie\s*=(?!=)"
    r"|<meta\b[^>]{0,256}?http-equiv\s*=\s*[\"']?\s*set-cookie"
    r"|(?:[\r\n]|%0[ad])[ \t]*set-cookie[ \t]*:",
    re.IGNORECASE,
)
_PATH_SESSION = re.compile(r";\s*([\w.:]+)\s*=")

# Values reach an interpreter in these kinds; TEXT reaches a model and RAW is scanned whole
# by the signature engines, so code quoted there is not planted into a page.
_VALUE_KINDS = frozenset(
    {PartKind.QUERY, PartKind.BODY, PartKind.HEADER, PartKind.COOKIE, PartKind.FILENAME}
)
_NOSQL_VALUE_KINDS = frozenset({PartKind.QUERY, PartKind.BODY})


def scan(part: Part) -> list[Finding]:
    """Structural findings for one part: operator keys, prototype pollution, session fixation.

    Pure and total: any part gives a list (usually empty) and nothing is raised. KEY parts
    are judged by their name and, for prototype pollution, the path in their slot; QUERY and
    BODY values by the NoSQL shapes they carry; PATH parts by their segments.

    >>> scan(Part("query-key:user[$ne]", "user[$ne]", PartKind.KEY))[0].kind
    'attack.nosqli'
    """
    kind = part.kind
    if kind is PartKind.KEY:
        return _scan_key(part)
    if kind is PartKind.PATH:
        return _scan_path(part)
    if kind in _VALUE_KINDS:
        return _scan_value(part)
    return []


def _scan_key(part: Part) -> list[Finding]:
    key = part.value
    findings: list[Finding] = []
    # Extraction decodes keys; one more round catches `user[%24ne]` from a double encoder.
    decoded = "%" in key
    if decoded:
        key = unquote(key)
    # Without brackets or dots the only operator a key can hold is the whole key.
    if "$" in key and (key in NOSQL_OPERATORS or "[" in key or "." in key):
        findings.extend(_operator_keys(part, key, spans=not decoded))
    if "proto" in key and _pollutes(key, _slot_path(part.slot)):
        findings.append(_pollution(part, "key", "a key reaches an object's prototype"))
    if _is_fixation_slot(part.slot) and len(key) in _SESSION_LENGTHS and _is_session_name(key):
        findings.append(
            _finding(
                part,
                "attack.session_fixation",
                "session_fixation.id_parameter",
                "warning",
                "a session cookie name sent as a URL or form parameter",
            )
        )
    return findings


def _operator_keys(part: Part, key: str, *, spans: bool) -> list[Finding]:
    findings = []
    for match in _OPERATOR_SEGMENT.finditer(key):
        operator = match.group(1)
        if operator not in NOSQL_OPERATORS:
            continue
        if operator in JS_OPERATORS:
            rule, severity, reason = "nosqli.js_operator_key", "critical", "runs JavaScript"
        else:
            rule, severity, reason = "nosqli.operator_key", "error", "changes the query"
        findings.append(
            _finding(
                part,
                "attack.nosqli",
                rule,
                severity,
                f"a key is the MongoDB operator {operator}, which {reason}",
                span=match.span(1) if spans else None,
            )
        )
    return findings


def _scan_path(part: Part) -> list[Finding]:
    path = part.value
    findings: list[Finding] = []
    decoded = "%" in path
    if decoded:
        path = unquote(path)
    if "proto" in path and _pollutes(path, ""):
        findings.append(_pollution(part, "path", "a path segment reaches an object's prototype"))
    if ";" in path:
        for match in _PATH_SESSION.finditer(path):
            if _is_session_name(match.group(1)):
                findings.append(
                    _finding(
                        part,
                        "attack.session_fixation",
                        "session_fixation.path_parameter",
                        "warning",
                        "a session id carried as a path parameter (;jsessionid=)",
                        span=None if decoded else match.span(1),
                    )
                )
    return findings


def _scan_value(part: Part) -> list[Finding]:
    value = part.value
    findings: list[Finding] = []
    if part.kind in _NOSQL_VALUE_KINDS and (
        "$" in value or "this." in value or "eturn" in value or "||" in value or "leep" in value
    ):
        findings.extend(_nosql_values(part))
    if "cookie" in value.lower():
        match = _COOKIE_INJECTION.search(value)
        if match:
            findings.append(
                _finding(
                    part,
                    "attack.session_fixation",
                    "session_fixation.cookie_injection",
                    "critical",
                    "a value that sets a cookie in the victim's browser",
                    span=match.span(),
                )
            )
    return findings


def _nosql_values(part: Part) -> list[Finding]:
    value = part.value
    findings = []
    operator = _OPERATOR_OBJECT.search(value)
    if operator:
        findings.append(
            _finding(
                part,
                "attack.nosqli",
                "nosqli.operator_value",
                "error",
                "a value holds an object keyed by a MongoDB operator",
                span=operator.span(),
            )
        )
    javascript = _JS_BREAKOUT.search(value) or _THIS_FIELD.search(value)
    if javascript is None and _WHERE_CONTEXT.search(value):
        javascript = _SLEEP.search(value)
    if javascript:
        findings.append(
            _finding(
                part,
                "attack.nosqli",
                "nosqli.where_javascript",
                "critical",
                "a value shaped as JavaScript for a $where clause",
                span=javascript.span(),
            )
        )
    return findings


def _pollutes(text: str, parent: str) -> bool:
    """True when `__proto__` appears, or `constructor` is directly followed by `prototype`.

    `parent` is the path of enclosing keys: a JSON key `prototype` is only dangerous under
    a key `constructor`, which its slot records.
    """
    if "__proto__" in text:
        return True
    segments = [s for s in _SEGMENT_SEPARATORS.split(f"{parent}.{text}") if s]
    return any(
        first == "constructor" and second == "prototype" for first, second in pairwise(segments)
    )


def _slot_path(slot: str) -> str:
    """The key path in a slot (`json-key:a.constructor` gives `a.constructor`)."""
    _, _, path = slot.partition(":")
    return path


def _is_session_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SESSION_NAMES or (
        len(lowered) == 20 and lowered.startswith(_ASP_SESSION_PREFIX) and lowered.isalpha()
    )


def _is_fixation_slot(slot: str) -> bool:
    return slot.startswith(_FIXATION_SLOTS) and "#json" not in slot


def _pollution(part: Part, where: str, reason: str) -> Finding:
    return _finding(
        part, "attack.prototype_pollution", f"prototype_pollution.{where}", "critical", reason
    )


def _finding(
    part: Part,
    kind: str,
    rule: str,
    severity: str,
    reason: str,
    *,
    span: tuple[int, int] | None = None,
) -> Finding:
    return finding(kind, rule, severity, part.slot, matched=part.value, reason=reason, span=span)
