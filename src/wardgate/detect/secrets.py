"""Secrets: credentials pasted into prompts or returned by models and APIs.

`find_secrets` runs one compiled regular expression (a single alternation with one named
branch per credential shape) over the text, then checks each candidate with a validator:
a checksum where the format has one (GitHub's classic tokens), a decode where the format
is structured (a JWT header must be JSON with ``alg``), and for values only known by the
key they are assigned to (``api_key = "..."``), Shannon entropy, length, character mix and
the key's name. Precision comes first: documentation placeholders (``your_api_key``,
``xxxx``, ``changeme``, ``${VAR}``, AWS's documented ``...EXAMPLE`` keys) are rejected,
and bare hashes, commit ids, UUIDs and base64 blobs are never reported, since nothing but
an assignment to a secret-looking name makes them secrets.

Spans cover the secret value only, not the name it is assigned to, as Python string
indices (code points) into the text, end exclusive.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from wardgate.detect.anchors import Anchor, AnchorScanner

__all__ = ["SecretMatch", "find_secrets"]


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """A credential found in a text.

    ``type`` is ``SECRET.<kind>`` (``SECRET.aws``, ``SECRET.github``, ``SECRET.generic``,
    ...); ``start``/``end`` are code-point indices into the text, end exclusive, around the
    value itself; ``score`` is the confidence in 0..1 (1.0 for a verified checksum, about
    0.9 for an unambiguous provider prefix, less for context-only findings).
    """

    type: str
    start: int
    end: int
    score: float


_B64 = r"A-Za-z0-9+/"
_URLSAFE = r"A-Za-z0-9_\-"
_END = r"(?![A-Za-z0-9_\-])"
_WORDISH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# Secret-looking names for context-only values. `key`/`pass` alone are too common in code.
_KEYNAME = (
    r"(?i:api[_\-.]?key|apikey|secret|token|passw(?:or)?d|pwd|credentials?"
    r"|private[_\-.]?key|auth[_\-.]?key|access[_\-.]?key|client[_\-.]?key)"
)

# Kind -> pattern of the value. Every branch starts with a literal so that the regex engine
# skips most positions cheaply; left word boundaries are checked in code (`_BOUNDED`) for the
# same reason, and context-only values are found from their assignment operator, the name
# being read back from the text before it.
# Kind -> pattern of the value. A branch whose value follows a context prefix puts the value
# in the group `<kind>_v`, so its span excludes the prefix.
_BRANCHES: dict[str, str] = {
    "pem": (
        r"-----BEGIN (?P<pem_t>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)"
        r"-----[\s\S]{16,16384}?-----END (?P=pem_t)-----"
    ),
    "aws_id": r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}" + _END,
    "gcp_api": r"AIza[" + _URLSAFE + r"]{35}" + _END,
    "azure_key": (r"(?:AccountKey|SharedAccessKey)=(?P<azure_key_v>[" + _B64 + r"]{40,100}={0,2})"),
    "azure_sas": r"[?&]sig=(?P<azure_sas_v>[A-Za-z0-9%+/]{40,100}(?:%3[Dd]|=){0,2})",
    "github": r"gh[pousr]_[A-Za-z0-9]{36}" + _END,
    "github_pat": r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _END,
    "gitlab": r"gl(?:pat|dt|ptt|rt)-[" + _URLSAFE + r"]{20,64}" + _END,
    "slack": r"xox[abposr]-[0-9]{6,}-[A-Za-z0-9\-]{8,}" + _END,
    "slack_hook": (
        r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,12}/"
        r"[A-Z0-9]{6,12}/[A-Za-z0-9]{20,30}"
    ),
    "stripe": r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,100}" + _END,
    "anthropic": r"sk-ant-[a-z]{3,8}[0-9]{2}-[" + _URLSAFE + r"]{40,120}" + _END,
    "openai": (
        r"sk-(?:(?:proj|svcacct|admin)-[" + _URLSAFE + r"]{40,200}"
        r"|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})" + _END
    ),
    "huggingface": r"hf_[A-Za-z0-9]{34}" + _END,
    "twilio": r"\bSK[0-9a-f]{32}\b",
    "sendgrid": r"SG\.[" + _URLSAFE + r"]{22}\.[" + _URLSAFE + r"]{43}" + _END,
    "npm": r"npm_[A-Za-z0-9]{36}" + _END,
    "pypi": r"pypi-AgEIcHlwaS5vcmc[" + _URLSAFE + r"]{50,300}" + _END,
    "jwt": (r"eyJ[" + _URLSAFE + r"]{8,}\.[" + _URLSAFE + r"]{4,}\.[" + _URLSAFE + r"]*" + _END),
    "url_password": (
        r"://[^\s:/@'\"<>]{1,64}:"
        r"(?P<url_password_v>[^\s/@'\"<>]{1,128})@[A-Za-z0-9\[]"
    ),
    "generic": (
        r"(?::=|=>|=|:)\s{0,4}"
        r"(?P<generic_q>[\"'`]?)(?P<generic_v>[^\s\"'`,;\-][^\s\"'`,;]{5,199})"
    ),
}

# Non-capturing branches: CPython's engine runs a plain alternation about five times faster
# than one of named groups; the branch that matched is found again on the (few) candidates.
_PATTERN = re.compile("|".join(f"(?:{body})" for body in _BRANCHES.values()))
_COMPILED = {kind: re.compile(body) for kind, body in _BRANCHES.items()}
_CONTEXTUAL = frozenset({"generic", "azure_key", "azure_sas"})
_SPECIFIC = re.compile(
    "|".join(f"(?:{body})" for kind, body in _BRANCHES.items() if kind not in _CONTEXTUAL)
)

# Each branch begins with one of these (or, for assignments, `=` or `:` a little after its
# start: `SharedAccessKey=`). Tokens have no spaces, so a window reaching the next
# whitespace holds them whole; a PEM block needs its full length.
_ANCHORS = AnchorScanner(
    [
        Anchor("-----BEGIN", 0, 16_500),
        *(
            Anchor(prefix, 0, 8)
            for prefix in (
                "AKIA", "ASIA", "ABIA", "ACCA", "AIza", "gh[pousr]_", "github_pat_", "glpat-",
                "gldt-", "glptt-", "glrt-", "xox", "sk-", "hf_", "SK", "SG.", "npm_", "pypi-",
                "eyJ",
            )
        ),
        Anchor("_live_", 2, 8),
        Anchor("_test_", 2, 8),
        Anchor("hooks.slack.com", 8, 8),
        Anchor("[=:]", 16, 8),
    ]
)  # fmt: skip

_TYPE = {
    "pem": "SECRET.private_key",
    "aws_id": "SECRET.aws",
    "gcp_api": "SECRET.gcp",
    "azure_key": "SECRET.azure",
    "azure_sas": "SECRET.azure",
    "github": "SECRET.github",
    "github_pat": "SECRET.github",
    "gitlab": "SECRET.gitlab",
    "slack": "SECRET.slack",
    "slack_hook": "SECRET.slack",
    "stripe": "SECRET.stripe",
    "anthropic": "SECRET.anthropic",
    "openai": "SECRET.openai",
    "huggingface": "SECRET.huggingface",
    "twilio": "SECRET.twilio",
    "sendgrid": "SECRET.sendgrid",
    "npm": "SECRET.npm",
    "pypi": "SECRET.pypi",
    "jwt": "SECRET.jwt",
    "url_password": "SECRET.url_password",
    "generic": "SECRET.generic",
}

_BOUNDED = frozenset(_BRANCHES) - {
    "pem",
    "azure_key",
    "azure_sas",
    "slack_hook",
    "url_password",
    "generic",
}
_KEY_BEFORE = re.compile(_KEYNAME + r"[A-Za-z0-9_\-.]{0,24}[\"'`]?\s{0,4}\Z")
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")

_PLACEHOLDER = re.compile(
    r"(?i)x{4,}|\*{3,}|\.{3}|example|sample|dummy|placeholder|changeme|change_me|your|redacted"
    r"|insert|replace|fake|test_?key|\$\{|\{\{|<[^>]*>|%\(|^\$[A-Za-z_]|^(?:null|none|true|false"
    r"|undefined|secret|password|passwd|token|pass|string|str|bytes|env)$"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.\[(][A-Za-z0-9_.\[\]()'\"]*)?")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def find_secrets(text: str) -> list[SecretMatch]:
    """Find credentials in ``text``, in order of position, without overlaps.

    Pure and total: any string, the empty one and lone surrogates included, gives a list.
    One regular-expression pass with bounded repetitions, then per-candidate validators.

    >>> find_secrets("key: AKIAZ7QW3RTYUIOP2ASD")[0].type
    'SECRET.aws'
    """
    found: list[SecretMatch] = []
    for candidate in (
        match
        for low, high in _ANCHORS.windows(text)
        for match in _PATTERN.finditer(text, low, high)
    ):
        found_kind = _which(text, candidate.start())
        if found_kind is None:
            continue
        kind, match = found_kind
        start, end = match.span(kind + "_v" if kind + "_v" in match.re.groupindex else 0)
        if kind in _BOUNDED and start and text[start - 1] in _WORDISH:
            continue
        result = _VALIDATORS[kind](match, text[start:end], start)
        if result is not None:
            found.append(result)
    return found


def _which(
    text: str, pos: int, skip: frozenset[str] = frozenset()
) -> tuple[str, re.Match[str]] | None:
    """The branch the alternation took at ``pos``: the first one, in order, that matches."""
    for kind, pattern in _COMPILED.items():
        if kind not in skip:
            match = pattern.match(text, pos)
            if match is not None:
                return kind, match
    return None


def _specific(value: str, offset: int) -> SecretMatch | None:
    """A provider-shaped token inside a context-only value keeps its provider type."""
    candidate = _SPECIFIC.search(value)
    found_kind = None if candidate is None else _which(value, candidate.start(), _CONTEXTUAL)
    if found_kind is None:
        return None
    kind, inner = found_kind
    if kind in _BOUNDED and inner.start() and value[inner.start() - 1] in _WORDISH:
        return None
    begin, end = inner.span(kind + "_v" if kind + "_v" in inner.re.groupindex else 0)
    return _VALIDATORS[kind](inner, value[begin:end], offset + begin)


def _fixed(score: float) -> Callable[[re.Match[str], str, int], SecretMatch | None]:
    def validate(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
        kind = next(k for k, p in _COMPILED.items() if p is match.re)
        if _PLACEHOLDER.search(value):
            return None
        return SecretMatch(_TYPE[kind], start, start + len(value), score)

    return validate


def _pem(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    body = value.split("-----")[2] if value.count("-----") >= 4 else ""
    if sum(c.isalnum() for c in body) < 16 or _PLACEHOLDER.search(body):
        return None
    return SecretMatch("SECRET.private_key", start, start + len(value), 1.0)


def _aws_id(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    # AWS's documentation keys (AKIAIOSFODNN7EXAMPLE) are public: not a leak.
    if value.endswith("EXAMPLE"):
        return None
    return SecretMatch("SECRET.aws", start, start + len(value), 0.95)


def _github_checksum_ok(token: str) -> bool:
    """True when a classic GitHub token's last six characters are the base62 CRC32 of the
    thirty characters between the prefix and them."""
    body, check = token[4:34], token[34:]
    crc = zlib.crc32(body.encode("ascii"))
    digits = ""
    while crc:
        crc, rest = divmod(crc, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(6, "0") == check


def _github(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[4:]):
        return None
    # The prefix alone is specific; a valid checksum makes the token certain.
    score = 1.0 if _github_checksum_ok(value) else 0.8
    return SecretMatch("SECRET.github", start, start + len(value), score)


def _openai(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[3:]):
        return None
    if "T3BlbkFJ" in value:
        score = 1.0
    elif value.startswith(("sk-proj-", "sk-svcacct-", "sk-admin-")):
        score = 0.9
    elif _entropy(value[3:]) >= 4.0 and _classes(value[3:]) >= 3:
        score = 0.75
    else:
        return None
    return SecretMatch("SECRET.openai", start, start + len(value), score)


def _stripe(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or _repetitive(value[8:]):
        return None
    score = 0.5 if value.startswith("pk_") else 0.95 if "_live_" in value else 0.8
    return SecretMatch("SECRET.stripe", start, start + len(value), score)


def _jwt(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    header = value.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    except (binascii.Error, ValueError):
        return None
    if b'"alg"' not in decoded or not decoded.lstrip().startswith(b"{"):
        return None
    return SecretMatch("SECRET.jwt", start, start + len(value), 0.95)


def _url_password(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    if _PLACEHOLDER.search(value) or len(set(value)) < 2 or value.startswith("$"):
        return None
    return SecretMatch("SECRET.url_password", start, start + len(value), 0.85)


def _generic(match: re.Match[str], value: str, start: int) -> SecretMatch | None:
    specific = _specific(value, start)
    if specific is not None:
        return specific
    text = match.string
    named = _KEY_BEFORE.search(text, max(0, match.start() - 48), match.start())
    if named is None or _PLACEHOLDER.search(value) or _repetitive(value):
        return None
    key = named.group().lower()
    before = text[max(0, match.start() - 48) : match.start()].lower()
    if "secret" in key and _AWS_SECRET.fullmatch(value) and "aws" in before:
        if "EXAMPLEKEY" in value or _entropy(value) < 3.5:
            return None
        return SecretMatch("SECRET.aws", start, start + len(value), 0.9)
    quoted = bool(match.group("generic_q"))
    if not quoted and _IDENTIFIER.fullmatch(value) and not any(c.isdigit() for c in value):
        return None
    is_password = "pass" in key or "pwd" in key
    entropy, classes, length = _entropy(value), _classes(value), len(value)
    if value.isdigit() or (_HEXISH.fullmatch(value) and length in (32, 40, 64) and not quoted):
        return None
    if is_password:
        if classes < 2 and length < 10:
            return None
        score = min(1.0, 0.55 + 0.05 * classes + 0.02 * min(length, 10))
    else:
        if length < 12 or entropy < 3.0 or classes < 2:
            return None
        score = min(1.0, 0.4 + 0.08 * entropy + 0.04 * classes + 0.005 * min(length, 32))
    return SecretMatch("SECRET.generic", start, start + length, round(min(score, 0.9), 3))


_HEXISH = re.compile(r"[0-9a-fA-F]+")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _classes(value: str) -> int:
    """How many of lower, upper, digit and other characters ``value`` mixes."""
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


def _repetitive(value: str) -> bool:
    return len(value) >= 8 and len(set(value)) <= max(2, len(value) // 8)


_VALIDATORS: dict[str, Callable[[re.Match[str], str, int], SecretMatch | None]] = {
    "pem": _pem,
    "aws_id": _aws_id,
    "gcp_api": _fixed(0.9),
    "azure_key": _fixed(0.9),
    "azure_sas": _fixed(0.85),
    "github": _github,
    "github_pat": _fixed(0.95),
    "gitlab": _fixed(0.9),
    "slack": _fixed(0.9),
    "slack_hook": _fixed(0.9),
    "stripe": _stripe,
    "anthropic": _fixed(0.95),
    "openai": _openai,
    "huggingface": _fixed(0.85),
    "twilio": _fixed(0.8),
    "sendgrid": _fixed(0.95),
    "npm": _fixed(0.9),
    "pypi": _fixed(0.95),
    "jwt": _jwt,
    "url_password": _url_password,
    "generic": _generic,
}
