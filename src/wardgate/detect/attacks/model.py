"""The vocabulary of attack detection: a request as plain values, its parts, and a report.

Engines know nothing of the proxy. A check (or the `scan request` command, or the
evaluation) turns what it has into an `HttpSample`; `parts.extract` splits the sample into
`Part`s (every place a client controls: path segments, query values and keys, headers,
cookies, body fields); an engine scores the parts and answers with a `Report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

from wardgate.decision import Evidence, Finding, Location

__all__ = [
    "CATEGORIES",
    "Engine",
    "Extraction",
    "HttpSample",
    "Part",
    "PartKind",
    "Report",
    "Severity",
    "finding",
]


# Finding kinds are `attack.<category>`; every engine reports in these terms.
CATEGORIES: dict[str, str] = {
    "sqli": "SQL injection",
    "nosqli": "NoSQL injection (operators as keys, JavaScript in queries)",
    "xss": "cross-site scripting",
    "cmdi": "OS command injection",
    "code": "code injection (PHP, Java expression languages, Python, Node)",
    "traversal": "path traversal and local file inclusion",
    "rfi": "remote file inclusion",
    "ssrf": "server-side request forgery",
    "open_redirect": "open redirect",
    "xxe": "XML external entities and entity expansion",
    "ssti": "server-side template injection",
    "ssi": "server-side includes and edge-side includes",
    "ldapi": "LDAP injection",
    "xpathi": "XPath injection",
    "crlf": "CRLF and header injection, response splitting",
    "mail": "mail (SMTP/IMAP) header and command injection",
    "jndi": "JNDI lookups (Log4Shell)",
    "deserialization": "serialized objects (Java, PHP, .NET, Python pickle)",
    "prototype_pollution": "prototype pollution",
    "session_fixation": "session fixation",
    "protocol": "HTTP protocol abuse (invalid or conflicting framing, methods, encodings)",
    "scanner": "known attack tools",
    "graphql": "GraphQL abuse (introspection in production)",
    "malformed": "a body that is not what its content type declares",
}


@dataclass(frozen=True, slots=True)
class HttpSample:
    """One HTTP request as plain values.

    `path` and `query` are raw, as sent (still percent-encoded; `query` without the `?`);
    `headers` keeps order, repeated names and the client's spelling of names.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


class PartKind(StrEnum):
    """What a part is, which decides the signatures that apply to it."""

    PATH = "path"  # the path, or one of its segments
    QUERY = "query"  # a query-string value
    KEY = "key"  # a parameter or field name (query key, JSON key, form field name)
    HEADER = "header"  # a header value (cookies are split out as COOKIE)
    COOKIE = "cookie"  # a cookie value
    BODY = "body"  # a structured body value: JSON scalar, form value, XML text or attribute
    FILENAME = "filename"  # a multipart filename
    TEXT = "text"  # natural-language text (a chat message): reaches a model, not an interpreter
    RAW = "raw"  # a body that could not be split (unknown content type), scanned whole


class Part(NamedTuple):
    """One client-controlled value and where it was found.

    A named tuple rather than a frozen dataclass: a large body yields thousands of parts,
    and a tuple is several times cheaper to build.

    `slot` names the place: `path`, `path[2]`, `query:id`, `query-key:id`,
    `header:user-agent`, `cookie:sid`, `json:messages[0].content`, `json-key:a.b`,
    `form:name`, `multipart:file`, `multipart-filename:file`, `xml:/root/item/@id`,
    `graphql:query`, `body`.
    """

    slot: str
    value: str
    kind: PartKind


@dataclass(frozen=True, slots=True)
class Extraction:
    """The parts of a request, plus what the split itself revealed.

    `findings` are structural (an XML DOCTYPE or entity declaration, a body that does not
    parse as its declared type, depth or size cut-offs); `malformed` is True when a body
    declared a type it does not have, so a route that declares JSON can refuse it (400)
    rather than let an uninspected body through.
    """

    parts: list[Part] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    malformed: bool = False


class Severity:
    """Anomaly points per finding severity (the CRS scale): a request's score is the sum."""

    CRITICAL = 5
    ERROR = 4
    WARNING = 3
    NOTICE = 2

    @staticmethod
    def points(severity: str) -> int:
        return _POINTS.get(severity, Severity.WARNING)


_POINTS = {
    "critical": Severity.CRITICAL,
    "high": Severity.CRITICAL,
    "error": Severity.ERROR,
    "medium": Severity.WARNING,
    "warning": Severity.WARNING,
    "notice": Severity.NOTICE,
    "low": Severity.NOTICE,
}


@dataclass(frozen=True, slots=True)
class Report:
    """An engine's answer: `blocked` is `score >= threshold` for the engine's settings."""

    findings: tuple[Finding, ...]
    score: int
    blocked: bool
    malformed: bool = False

    @property
    def refused(self) -> bool:
        """What the `attacks` check does in enforce mode with its defaults: a blocked request
        is refused (403), and so is a body that is not what it declares (400)."""
        return self.blocked or self.malformed


class Engine(Protocol):
    """An attack-detection engine. `inspect` is synchronous and never raises for input."""

    name: str

    def inspect(self, sample: HttpSample, *, text_slots: frozenset[str] = ...) -> Report:
        """Score `sample`. Body values whose slot is in `text_slots` are natural language."""
        ...


def finding(
    kind: str,
    rule: str,
    severity: str,
    slot: str,
    *,
    matched: str | bytes | None = None,
    reason: str = "",
    span: tuple[int, int] | None = None,
) -> Finding:
    """An attack finding scored by its severity; evidence is the match's length and hash."""
    start, end = span if span else (None, None)
    return Finding(
        kind=kind,
        rule=rule,
        severity=severity,
        score=float(Severity.points(severity)),
        location=Location(slot, start, end),
        evidence=Evidence.of(matched) if matched is not None else None,
        reason=reason,
    )
