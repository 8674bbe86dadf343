"""The `builtin` engine: libinjection, Wardgate's Hyperscan signatures and semantic checks.

Every part of a request is decoded into the forms an interpreter downstream might see
(`normalize.decode_variants`, plus a SQL view without comments and a path view with `..`
resolved) and each form is matched against the compiled signatures; libinjection's SQL and
HTML tokenisers judge the values a regular expression cannot (`1' or '1'='1` in its many
spellings). SSRF, open redirects, operator keys and protocol abuse are judged by meaning,
not by pattern. Findings add up CRS-style: each distinct rule contributes its severity's
points once, and a request at or over the threshold is blocked.

Natural-language parts (chat messages on AI routes) reach a model, not an interpreter: only
signatures that name `text` (JNDI lookups, dangerous wherever text is logged) apply there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

import libinjection

from wardgate.decision import Finding, Location
from wardgate.detect import normalize
from wardgate.detect.attacks import parts as request_parts, protocol, redirect, ssrf, structural
from wardgate.detect.attacks.model import HttpSample, Part, PartKind, Report, finding
from wardgate.detect.attacks.signatures import (
    PartGate,
    Signature,
    SignatureSet,
    load_signatures,
)

__all__ = ["DEFAULT_BODY_LIMIT", "DEFAULT_THRESHOLD", "MAX_LOOKS", "BuiltinEngine"]

DEFAULT_THRESHOLD = 5
DEFAULT_BODY_LIMIT = 1_048_576
# Distinct values given the full look in one request: ~0.1 ms each at worst, so a request
# costs at most a few hundred milliseconds of one core before it is refused instead.
MAX_LOOKS = 2048

# Values made only of these characters cannot carry SQL or markup: skip the tokenisers.
_INERT = re.compile(r"[\w.@:+,-]*", re.ASCII)
# The tokenisers run on values an interpreter parses; headers other than these are framing
# or opaque tokens, where libinjection's fingerprints only produce noise.
_TOKENISED_KINDS = frozenset(
    {
        PartKind.PATH,
        PartKind.QUERY,
        PartKind.KEY,
        PartKind.COOKIE,
        PartKind.BODY,
        PartKind.FILENAME,
        PartKind.RAW,
    }
)
_TOKENISED_HEADERS = frozenset({"header:user-agent", "header:referer", "header:x-forwarded-for"})
# Standard headers whose values have a fixed grammar and carry no application data.
_FRAMING_HEADERS = frozenset(
    f"header:{name}"
    for name in (
        "accept",
        "accept-encoding",
        "accept-language",
        "accept-charset",
        "connection",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "host",
        "cache-control",
        "pragma",
        "te",
        "upgrade-insecure-requests",
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
        "dnt",
        "keep-alive",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "sec-fetch-user",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "priority",
        "authorization",
        "proxy-authorization",
        "x-request-id",
        "traceparent",
        "tracestate",
    )
)
# What makes a value worth a full look although no signature matches it as it stands:
# something to decode (escapes, entities, non-ASCII, base64), something libinjection's
# tokenisers judge (quotes, comments, operators), or something the semantic
# checks read (URLs, addresses, slash tricks, operator and session names).
_TRIGGERS = [
    r"[%&\\\x00]|[^\x00-\x7f]",
    # Base64 of text mixes cases; a plain lower-case word ("assistant") is not worth decoding.
    r"(?-i)^\s*[A-Za-z0-9+/_-]*([A-Z][A-Za-z0-9+/_-]*[a-z0-9+/]|[a-z0-9+/][A-Za-z0-9+/_-]*[A-Z])"
    r"[A-Za-z0-9+/_-]*={0,2}\s*$",
    r"[A-Za-z0-9+/_-]{16,}",
    r"[\x27\"`;()#*|=<>~^!]|--|/\*",
    # libinjection also reads keyword-only expressions ("1 or not 1") as SQL.
    r"\d.*\b(and|or|xor|not|like|rlike|regexp|div|mod|having|union|select|between)\b|"
    r"\b(and|or|xor|not|like|rlike|regexp|div|mod|having|union|select|between)\b.*\d",
    r"://|^\s*[/\\]{2}|[/\\]{2}|^\s*[a-z][a-z0-9+.-]*:|\d\.\d|localhost|\[[0-9a-f:.]*\]|"
    r"0x[0-9a-f]|\d{8,}|metadata|\.internal\b",
    ssrf.INTERNAL_NAMES,
    r"\$|__|proto|constructor|cookie|sess|sid\b|\bthis\.|return",
    # What `_forms` and the URL checks read besides: `+` as space, control characters
    # (browsers drop them), slashes split by whitespace, dot segments, a scheme mid-value.
    r"\+|[\x00-\x08\x0b-\x1f\x7f]|[/\\][\s\x00-\x1f]+[/\\]|\.\.|\./|[a-z0-9]:",
]
# Read in an XML body's markup, besides every XXE rule: what a server-side include runs.
_MARKUP_RULES = frozenset({"ssi.markup_directive", "ssi.esi"})
# Findings on these depend on the exact slot (the header's name, the key's place).
_SLOT_BOUND = frozenset({PartKind.HEADER, PartKind.KEY, PartKind.COOKIE})
_OVER_BUDGET = finding(
    "attack.protocol",
    "inspection.budget",
    "critical",
    "body",
    reason=f"more than {MAX_LOOKS} distinct suspicious values in one request",
)
# Keys, paths and filenames are few and carry the structural findings: always looked at.
_ALWAYS_SCANNED = frozenset({PartKind.KEY, PartKind.PATH, PartKind.FILENAME})
_XML_TYPE = re.compile(r"[/+]xml\b", re.IGNORECASE)
_SHELL_NOISE = re.compile(
    r"''|\"\"|\\(?=[a-z/])|\$@|\$\{?\d\}?(?=[a-z])|\$\(\)|\$\{\}|(?<=[a-z])\$[a-z_]\w*(?=[\s/;|&]|$)",
    re.IGNORECASE,
)
# `w'h'o'am'i`: quotes inside a word, which shells join into one word.
_QUOTED_LETTERS = re.compile(r"[a-z/]['\"][a-z/]*['\"][a-z/]*['\"]?", re.IGNORECASE)
_PUNCTUATION = ".,!?;:'\"()[]"
_SQL_MARKERS = ("/*", "--", "#", "\t", "\n", "\r", "\x0b", "\x0c", "\xa0")
_PATH_MARKERS = ("..", "\\", "//", "./")


class BuiltinEngine:
    """Scores a request; built once from the policy and shared by every request and thread
    (Hyperscan scratch space is per thread; nothing else changes after construction)."""

    name = "builtin"

    def __init__(
        self,
        *,
        paranoia: int = 1,
        threshold: int = DEFAULT_THRESHOLD,
        body_limit: int = DEFAULT_BODY_LIMIT,
        signatures: Iterable[Signature] | None = None,
    ) -> None:
        if not 1 <= paranoia <= 4:
            raise ValueError("paranoia must be 1 to 4")
        self.paranoia = paranoia
        self.threshold = threshold
        self.body_limit = body_limit
        self._signatures = SignatureSet(
            load_signatures() if signatures is None else signatures, paranoia=paranoia
        )
        self._markup = SignatureSet(
            [
                s
                for s in self._signatures.signatures
                if s.category == "xxe" or s.id in _MARKUP_RULES
            ],
            paranoia=paranoia,
        )
        self._gate = PartGate([s.pattern for s in self._signatures.signatures] + _TRIGGERS)

    def inspect(self, sample: HttpSample, *, text_slots: frozenset[str] = frozenset()) -> Report:
        extraction = request_parts.extract(
            sample, body_limit=self.body_limit, text_slots=text_slots
        )
        findings = [*extraction.findings, *protocol.scan(sample)]
        if sample.body and _XML_TYPE.search(sample.header("content-type") or ""):
            findings.extend(self._scan_markup(sample.body[: self.body_limit]))
        parts = extraction.parts
        candidates = self._gate.candidates([part.value for part in parts])
        if candidates is None:
            looked_at: Iterable[int] = range(len(parts))
        else:
            candidates.update(i for i, part in enumerate(parts) if part.kind in _ALWAYS_SCANNED)
            looked_at = sorted(candidates)
        # A value repeated a thousand times is looked at once; past MAX_LOOKS distinct
        # suspicious values the request is refused rather than inspected for seconds.
        seen: dict[tuple[str, str, str], list[Finding]] = {}
        for index in looked_at:
            part = parts[index]
            family = part.slot if part.kind in _SLOT_BOUND else part.slot.partition(":")[0]
            key = (part.kind, family, part.value)
            known = seen.get(key)
            if known is not None:
                findings.extend(_moved(known, part.slot))
                continue
            if len(seen) >= MAX_LOOKS:
                findings.append(_OVER_BUDGET)
                break
            seen[key] = self.scan_part(part)
            findings.extend(seen[key])
        return self.report(findings, malformed=extraction.malformed)

    def _scan_markup(self, body: bytes) -> list[Finding]:
        """XML's own markup (DOCTYPE, XInclude, XSLT, and the comments and ESI elements a
        server-side include runs): the parts only hold its values."""
        part = Part("body", body.decode("utf-8", "replace"), PartKind.RAW)
        # Rules written for XML in a parameter (a declaration, a SOAP envelope) name the part
        # kinds they apply to; an XML body holds both by design.
        return [
            _finding(s.category, s.id, s.severity, part, part.value)
            for s in self._markup.match(body)
            if PartKind.RAW in s.kinds
        ]

    def report(self, findings: list[Finding], *, malformed: bool = False) -> Report:
        """Fold findings into a score: each distinct rule counts its points once."""
        points: dict[str, int] = {}
        for found in findings:
            points[found.rule] = max(points.get(found.rule, 0), int(found.score))
        score = sum(points.values())
        return Report(tuple(findings), score, score >= self.threshold, malformed)

    def scan_part(self, part: Part) -> list[Finding]:
        """Every finding in one part, each rule at most once."""
        found: dict[str, Finding] = {}
        # Natural-language text reaches a model; a standard header has a fixed grammar. Both
        # get the signatures (JNDI and OGNL hide in any header) but not the tokenisers or
        # the URL checks, whose fingerprints only produce noise there.
        framing = part.slot in _FRAMING_HEADERS
        natural = part.kind is PartKind.TEXT or framing
        # A standard header's grammar (`Accept: */*`) trips the broader rules of higher
        # paranoia levels: there only the level-1 rules, attacks in any value, apply.
        ceiling = 1 if framing else 4
        decoded, forms = _forms(part.value)
        for form in forms:
            for signature in self._signatures.match(form.encode("utf-8", "surrogatepass")):
                if signature.paranoia > ceiling:
                    continue
                if part.kind in signature.kinds and signature.id not in found:
                    found[signature.id] = _finding(
                        signature.category, signature.id, signature.severity, part, form
                    )
            if not natural and _tokenised(part) and not _INERT.fullmatch(form):
                # libinjection reads "50% off -- today only!" as SQL: on prose its verdict
                # needs a second rule to block.
                severity = "error" if _prose_like(form) else "critical"
                for category, rule in _tokeniser_hits(form):
                    found.setdefault(rule, _finding(category, rule, severity, part, form))
        if not natural:
            for hit in structural.scan(part):
                found.setdefault(hit.rule, hit)
            # URLs hide in encodings too (a base64 callback URL): judge every form. A redirect
            # is judged on what a browser gets, not on the path view (`https://` would read
            # as the slash trick `https:/`).
            for form in forms:
                view = part if form is part.value else part._replace(value=form)
                scanners = (ssrf.scan, redirect.scan) if form in decoded else (ssrf.scan,)
                for scanner in scanners:
                    for hit in scanner(view):
                        found.setdefault(hit.rule, hit)
        return list(found.values())


def _forms(value: str) -> tuple[list[str], list[str]]:
    """What a value may mean, decoded; and those forms plus views for the signatures.

    The first list is what a downstream decoder could make of the value (URL, escapes,
    entities, base64); the second adds what an interpreter would read in it: SQL without its
    comments, a path with `..` resolved, a shell word without empty quotes. The views are for
    signatures only: a URL with its `//` collapsed is no longer the URL a client follows.
    """
    decoded = normalize.decode_variants(value)
    if value.startswith("/") and len(value) > 8:
        # A base64 payload as the path: its own slashes split it into false segments.
        decoded += [f for f in normalize.decode_variants(value.lstrip("/"))[1:] if f not in decoded]
    if "+" in value and " " not in value:
        # Form encoding spells spaces as `+`; a value encoded that way and then sent in a JSON
        # field, a header or a path still means spaces to whatever decodes it next.
        decoded += [f.replace("+", " ") for f in decoded if "+" in f]
    views: list[str] = []
    for form in decoded:
        if _SHELL_NOISE.search(form):
            # `c''at /e"\"tc/pa\sswd`, `who$()ami`, `cat$u /etc$u/passwd`: shells drop empty
            # quotes and substitutions, unset variables and lone backslashes.
            views.append(_SHELL_NOISE.sub("", form))
        if _QUOTED_LETTERS.search(form):
            views.append(form.replace("'", "").replace('"', ""))
        if any(marker in form for marker in _SQL_MARKERS):
            views.append(normalize.sql_collapse(form))
        if any(marker in form for marker in _PATH_MARKERS):
            views.append(normalize.path_normalize(form))
    every = list(decoded)
    every += [view for view in dict.fromkeys(views) if view not in every]
    return decoded, every


def _prose_like(value: str) -> bool:
    """Four or more words, most of them plain words: a sentence rather than an expression."""
    words = value.split()
    if len(words) < 4:
        return False
    plain = sum(1 for word in words if word.strip(_PUNCTUATION).isalpha())
    return plain >= 0.6 * len(words)


def _moved(findings: list[Finding], slot: str) -> list[Finding]:
    """The findings of an identical value found elsewhere, placed at `slot`."""
    return [
        f if f.location is None or f.location.slot == slot else replace(f, location=Location(slot))
        for f in findings
    ]


def _tokenised(part: Part) -> bool:
    return part.kind in _TOKENISED_KINDS or part.slot in _TOKENISED_HEADERS


def _tokeniser_hits(value: str) -> list[tuple[str, str]]:
    if not value.isascii():
        # libinjection takes UTF-8; a value may hold lone surrogates (undecodable bytes the
        # server kept, `\ud800` escapes in JSON).
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    hits: list[tuple[str, str]] = []
    if libinjection.is_sql_injection(value)["is_sqli"]:
        hits.append(("sqli", "sqli.libinjection"))
    markup = "<" in value or "=" in value or "`" in value
    if markup and libinjection.is_xss(value)["is_xss"]:
        hits.append(("xss", "xss.libinjection"))
    return hits


def _finding(category: str, rule: str, severity: str, part: Part, matched: str) -> Finding:
    return finding(f"attack.{category}", rule, severity, part.slot, matched=matched)
