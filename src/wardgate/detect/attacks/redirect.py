"""Open redirect: a parameter value that sends the user's browser to another site.

An application redirecting to a parameter (`?next=/account`) usually checks the value first:
a relative path, or its own domain. Open-redirect payloads are the values that pass such a
check and still reach another host in the browser, so they read as nothing a legitimate
client sends:
- a protocol-relative target (`//evil.com`), or one smuggled past a "starts with a single
  slash" test with backslashes, extra slashes, tabs or look-alike slashes (`/\\/evil.com`,
  `/%09/evil.com`, `〱evil.com`): browsers read `\\` as `/` and drop tabs and newlines;
- an absolute URL written in a way browsers repair (`https:evil.com`, `https:///evil.com`,
  `http:\\\\evil.com`), or with a path that starts with another URL (`/https://evil.com`);
- a script URI (`javascript:`, `vbscript:`, `data:` with HTML, SVG or script), however it is
  escaped or interleaved with control characters;
- an authority that different parsers split differently: a dotted name or `#`, `?`, `\\`
  before the `@` (`https://trusted.com@evil.com`, `http://evil.com#@trusted.com`), a
  backslash, or characters no host name has (`http://evil.com&trusted.com`);
- a host written to dodge a deny-list: an IPv4 address in hex, octal, as one integer, short
  or overflowing (`http://0xd8.0x3a.0xd6.0xce`), an IPv6 literal wrapping IPv4
  (`[::ffff:216.58.214.206]`), percent-encoded or fullwidth letters, ideographic dots.

A plain absolute URL (`https://example.com/cb`) is not a finding, not even a notice:
callback and webhook URLs travel in parameters all the time, and telling an allowed host
from a foreign one needs the application's allow-list, which a gateway does not have.

Only parameters are judged (query values and names, body fields, cookies): a redirect
target is never a path, a header or a chat message. A value is judged by its start (a
redirect target is the whole value), so a long value costs no more than its first 512
characters; one without a colon, `%` or backslash that does not start with two slashes
(`/api/v1/users`, `José María`) is dismissed at once. Every
finding is critical except a plain protocol-relative `//host` in a body field (an error):
bodies carry HTML and CSS, where `//cdn.example.com/lib.js` is ordinary.
"""

from __future__ import annotations

import html
import ipaddress
import re
from dataclasses import dataclass

from wardgate.decision import Finding
from wardgate.detect.attacks.model import Part, PartKind, finding
from wardgate.detect.attacks.ssrf import (
    embedded_ipv4,
    fold,
    folds_differently,
    ipv4_readings,
    percent_decoded,
)

__all__ = ["KIND", "scan"]

KIND = "attack.open_redirect"

_PARAMETERS = frozenset({PartKind.QUERY, PartKind.KEY, PartKind.BODY, PartKind.COOKIE})
_HEAD = 512

# Characters browsers or URL libraries have turned into "/" (compatibility and look-alike
# forms); NFKC alone would hide that they were there.
_SLASH_LIKES = "\u3031\u3035\u309d\u30fc\uff70\uff0f\uff3c\u2215\u2216\u2044\u29f8\u29f9\ufe68"
_DOT_LIKES = "\u3002\uff0e\uff61"
# Browsers strip C0 controls and spaces around a URL; HTML contexts leave quotes and `<>`.
_JUNK = "".join(map(chr, range(0x21))) + "<>\"'"

_LEADING_JUNK = re.compile(rf"[{re.escape(_JUNK)}]*")
_SHAPE = re.compile(
    rf"[{re.escape(_JUNK)}]*"
    r"(?:(?P<scheme>[a-z][a-z0-9+.\-]{0,31}):)?"
    rf"(?P<run>[/\\\x00-\x1f{_SLASH_LIKES}]*)",
    re.IGNORECASE,
)
_SCHEME_AHEAD = re.compile(r"(?:https?|ftp|wss?):", re.IGNORECASE)
_SCRIPT_URI = re.compile(
    r"[/\\<>\"'`]*(javascript|vbscript|livescript|data):(.{0,40})", re.IGNORECASE | re.DOTALL
)
# What a script URI's code starts with: a call, an assignment, an index, a comment trick or
# an escape. Prose after "javascript:" has none of them.
_SCRIPT_BODY = re.compile(r"script\s*:\s*([\w.$\[\]'\"]*\s*[(`=\[]|//|%|&)", re.IGNORECASE)
_ACTIVE_DATA = re.compile(
    r"(?:text/html|image/svg|application/xhtml|[a-z/+-]*(?:java|ecma)script|"
    r"[a-z]+/xml)",
    re.IGNORECASE,
)
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[0-7]{1,3}|(?-i:[ntr]))", re.IGNORECASE)
_CONTROLS = re.compile(r"[\x00-\x20\x7f\\]+")
_HOST_TOKEN = re.compile(r"[^/\\?#\s]*")
_DOTTED_NAME = re.compile(r"[a-z0-9\-]\.[a-z]{2,}", re.IGNORECASE)
# `http://evil.com#.trusted.com`: a naive parser keeps going to "trusted.com".
_DELIMITER_THEN_DOT = re.compile(r"[?#]\.")
_FORBIDDEN_IN_HOST = re.compile(r"[\x00-\x20\x7f\"'<>^`{|}&%*,;=()!$+~]")
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
# Percent-encoded letters, digits, ".", "@" or "\": nothing a client needs to encode.
_ENCODED_PLAIN = re.compile(r"%(?:3[0-9]|[46][1-9a-f]|[57][0-9a]|2e|40|5c)", re.IGNORECASE)
_HEAD_OF_URL = re.compile(
    rf"[{re.escape(_JUNK)}]*(?:[a-z][a-z0-9+.\-]*:)?[/\\]*[^/]*", re.IGNORECASE
)
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
# `http://trusted.com%2f@evil.com`: a host name, then an encoded delimiter, then `@`. A
# percent-encoded password (`https://user:p%3Fw@host`) is RFC 3986 and has no dotted name.
_ENCODED_DELIMITER_IN_USERINFO = re.compile(
    rf"[{re.escape(_JUNK)}]*(?:https?:)?//[^/?#@:]*[a-z0-9\-]\.[a-z]{{2,}}"
    r"%(?:25)*(?:2f|3f|23|5c)[^/?#]*@",
    re.IGNORECASE,
)
_WEB_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class _Trick:
    rule: str
    reason: str


def scan(part: Part) -> list[Finding]:
    """The open-redirect finding for one parameter value: none, or one naming the trick.

    Never raises for any input.

    >>> [f.rule for f in scan(Part("query:next", "/\\\\/evil.com", PartKind.QUERY))]
    ['open_redirect.slash_confusion']
    """
    if part.kind not in _PARAMETERS:
        return []
    junk = _LEADING_JUNK.match(part.value)
    start = junk.end() if junk else 0
    head = part.value[start : start + _HEAD]
    if _cannot_redirect(head):
        return []
    trick = _trick(head)
    if trick is None:
        return []
    plain_relative = trick.rule == "open_redirect.protocol_relative"
    severity = "error" if plain_relative and part.kind is PartKind.BODY else "critical"
    return [finding(KIND, trick.rule, severity, part.slot, matched=part.value, reason=trick.reason)]


def _cannot_redirect(head: str) -> bool:
    """No scheme, no encoding, no backslash, and no slash run at the start: `/api/v1`, `José`."""
    if not head.isascii():
        if any(char in _SLASH_LIKES for char in head[:2]):
            return False
        head = fold(head)
    if ":" in head or "%" in head or "\\" in head:
        return False
    return not head.startswith("/") or head[1:2].isalnum()


def _trick(head: str) -> _Trick | None:
    text = percent_decoded(head)
    return (
        _script_uri(text)
        or _encoded_userinfo(head)
        or _shape_trick(text)
        or _encoded_head(head, text)
    )


def _encoded_userinfo(raw: str) -> _Trick | None:
    """`http://trusted.com%2f@evil.com`: decoded once, the host looks like `trusted.com`."""
    if _ENCODED_DELIMITER_IN_USERINFO.match(raw) is None:
        return None
    return _Trick("open_redirect.userinfo", "an encoded delimiter before @ (parsers disagree)")


def _script_uri(text: str) -> _Trick | None:
    """`javascript:` and friends, after undoing escapes and dropping what browsers drop."""
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    compact = _CONTROLS.sub("", fold(text))
    match = _SCRIPT_URI.match(compact)
    if match is None:
        return None
    scheme = match[1].lower()
    if scheme == "data" and not _ACTIVE_DATA.match(match[2]):
        return None
    if scheme != "data" and not _SCRIPT_BODY.search(fold(text).replace("\\", "")):
        return None  # "JavaScript: the good parts" is a title, not a URI
    return _Trick("open_redirect.script_uri", f"{scheme}: URI")


def _shape_trick(text: str) -> _Trick | None:
    shape = _SHAPE.match(text)
    if shape is None:
        return None
    scheme, run, rest = shape["scheme"], shape["run"], text[shape.end() :]
    if scheme is not None:
        return _absolute_trick(scheme.lower(), run, rest)
    slashes = sum(char in "/\\" or char in _SLASH_LIKES for char in run)
    if slashes == 1 and run.strip() == "/" and _SCHEME_AHEAD.match(rest):
        return _Trick("open_redirect.nested_url", "a path that starts with another URL")
    lookalike = any(char in _SLASH_LIKES for char in run)
    if (slashes < 2 and not lookalike) or not _names_a_host(rest):
        return None
    if lookalike or run.strip() != "//" or "\\" in run:
        return _Trick("open_redirect.slash_confusion", "slashes a browser repairs into //host")
    return _authority_trick(rest) or _Trick(
        "open_redirect.protocol_relative", "a protocol-relative URL (another host)"
    )


def _absolute_trick(scheme: str, run: str, rest: str) -> _Trick | None:
    if scheme not in _WEB_SCHEMES or not _names_a_host(rest):
        return None
    if not run:
        return _Trick("open_redirect.missing_slashes", f"{scheme}: without slashes")
    if run != "//":
        return _Trick("open_redirect.slash_confusion", f"{scheme}: with slashes a browser repairs")
    return _authority_trick(rest) or _path_trick(rest)


def _path_trick(rest: str) -> _Trick | None:
    """`https://trusted.com//evil.com`: an app that redirects to the path alone goes away."""
    _, slash, path = rest.partition("/")
    if slash and path[:1] in ("/", "\\") and _names_a_host(path.lstrip("/\\")):
        return _Trick("open_redirect.nested_url", "a path that is itself a protocol-relative URL")
    return None


def _names_a_host(rest: str) -> bool:
    token = _HOST_TOKEN.match(rest)
    host = fold(token[0]) if token else ""  # enclosed letters (`ⓔ`) are symbols until folded
    if not any(char.isalnum() for char in host):
        return False
    if _SCHEME_AHEAD.match(rest) or "@" in host or host.startswith("["):
        return True
    if any(dot in host for dot in ("." + _DOT_LIKES)):
        return True
    return bool(ipv4_readings(host.lower()))


def _authority_trick(rest: str) -> _Trick | None:
    """Parser disagreements and disguised hosts in what follows `//`."""
    region = rest.split("/", 1)[0]
    userinfo, at, _ = region.rpartition("@")
    if at and (_DOTTED_NAME.search(userinfo) or any(char in userinfo for char in "\\?#")):
        return _Trick("open_redirect.userinfo", "a host name before @ (the host is after it)")
    if "\\" in region or _DELIMITER_THEN_DOT.search(region):
        return _Trick("open_redirect.malformed_authority", "an authority parsers split differently")
    host = _QUERY_OR_FRAGMENT.split(region, maxsplit=1)[0].rpartition("@")[2]
    host = host if host.startswith("[") else host.partition(":")[0]
    if _FORBIDDEN_IN_HOST.search(host):
        return _Trick("open_redirect.malformed_authority", "characters no host name has")
    if _disguised(host):
        return _Trick("open_redirect.obfuscated_host", "a host written to dodge a deny-list")
    return None


def _disguised(host: str) -> bool:
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:].partition("]")[0].partition("%")[0])
        except ValueError:
            return False
        return embedded_ipv4(address) is not None
    if not host.isascii():
        return folds_differently(host)
    lowered = host.lower().rstrip(".")
    return bool(ipv4_readings(lowered)) and not _CANONICAL_IPV4.fullmatch(lowered)


def _encoded_head(raw: str, decoded: str) -> _Trick | None:
    """Percent-encoded letters in the scheme or host: `http://%67%6f%6f%67%6c%65.com`."""
    encoded = _ENCODED_PLAIN.search(raw)
    if encoded is None or not _HEAD_OF_URL.fullmatch(percent_decoded(raw[: encoded.start()])):
        return None
    shape = _SHAPE.match(decoded)
    if shape is None:
        return None
    web = (shape["scheme"] or "").lower() in _WEB_SCHEMES
    if not web and len(shape["run"]) < 2:
        return None
    return _Trick("open_redirect.obfuscated_host", "percent-encoded letters in the URL's host")


def _unescape(match: re.Match[str]) -> str:
    code = match[1]
    if code in ("n", "t", "r"):
        return " "
    if code[0] in "xXuU":
        return chr(int(code[1:], 16))
    return chr(int(code, 8))
