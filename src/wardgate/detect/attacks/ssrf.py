"""Server-side request forgery: a value that makes the server fetch from its own network.

SSRF is a question of where a URL leads, not of what it looks like, so this module parses
instead of matching patterns: it finds the URLs (and bare `host:port` targets) in a value,
reads each host as real clients do, and asks whether the address is internal. The reading
is lexical, never DNS: a lookup per request would be slow, would leak the request to the
network, and could answer differently at fetch time anyway (DNS rebinding).

Clients disagree about what a URL's host is, and SSRF payloads live in those disagreements,
so every plausible reading counts:
- an IPv4 host is read as `inet_aton` and the WHATWG URL standard read it (`2130706433`,
  `0x7f.1`, `0177.0.0.1`, `127.1`), as parsers that take zero-padded parts for decimal read
  it (`0127.0.0.1`), and as parsers that wrap overflowing parts read it (`383.0.0.1`);
- an IPv6 host that embeds an IPv4 address (mapped, compatible, NAT64) is that address;
- the authority ends where WHATWG ends it (at `/ \\ ? #`, userinfo up to the last `@`), and
  also after every `@`, for parsers that end it elsewhere or split at the first `@`: both
  `http://trusted#@127.0.0.1` and `http://127.0.0.1\\@trusted` reach an internal host, and
  an internal userinfo (`http://169.254.169.254@trusted`) counts as a host too;
- percent-encoding in the host is undone, NFKC folds fullwidth and enclosed forms
  (`①②⑦.0.0.1`), ideographic full stops count as dots, and a NUL ends the host, as it does
  for C string handling.

A name is internal when it is a loopback alias (`localhost`, `*.localhost`, `lvh.me`,
`*.localtest.me`), a cloud metadata name (or the Kubernetes API server), a wildcard-DNS name
that embeds an address (`10.0.0.1.nip.io`, `127-0-0-1.sslip.io`, and on any domain a dotted
internal address followed by more labels: `127.0.0.1.attacker.example`), any name under a
DNS-rebinding service (`1u.ms`, `rbndr.us`), or a name under a suffix kept for private use
(`.internal`, `.local`, `.home.arpa`, `.svc`): the last only at severity "error", since a
name alone says less than an address.

Some schemes are flagged whatever the host (rule `ssrf.scheme`): `gopher`, `dict` and `tftp`
appear in SSRF payloads to write raw bytes to internal services (Redis, memcached, SMTP);
`file` and Java's `netdoc` read local files (and image fetchers of model servers have
followed `file://` URLs); `jar:` makes Java fetch and open a remote archive; `sftp` and
`ldap` reach any host and port through libcurl and carry raw lines (the JNDI signatures
judge `${jndi:ldap:...}` lookups on their own). `php://` and `expect://` are left to the
PHP signatures; `ftp` and every other scheme are judged by host. DNS-rebinding services
(`1u.ms`, `rbndr.us`) count as names that embed an address.

Where it applies:
- every part but natural-language text: a chat message saying "my app runs on
  localhost:3000" is not an attack;
- in headers, only metadata addresses and dangerous schemes: `X-Forwarded-For` and its kin
  carry private addresses by design (they are skipped), and a `Referer` or `Origin` of
  `http://localhost:3000` is ordinary development traffic;
- a URL with an internal host is critical; a bare internal `host:port` (no scheme) is an
  error (`ssrf.bare_target`), since configuration-like values (`10.0.0.5:5432`) do travel in
  parameters; a bare metadata address stays critical, and so does a local-host target on the
  port of a service that takes raw lines or answers unauthenticated (`ssrf.local_service`:
  `localhost:6379`, `127.0.0.1:11211`). A bare host without a port (a
  dotted-quad version string, an IP-address field) is not flagged, nor a bare internal
  name, nor a protocol-relative `//host` in a path, with two exceptions for a whole value:
  in a parameter named for what the server fetches (`url`, `image_url`, `callbackUrl`,
  `targetHost`, `webhook`...) a bare host is read as the URL it will become (servers
  prepend the scheme), and there a name spelled to dodge a deny-list (`attacker。com`, a
  NUL) is `ssrf.obfuscated_host`; anywhere, an address written as nobody writes one by
  accident (hex or zero-padded parts, other scripts' digits and dots, a longhand or
  IPv4-wrapping IPv6 literal) is judged like a URL's host.

Cost (one loaded 2-core VM): a value with no colon and no pair of slashes (once NFKC has
run and percent-encoded delimiters are undone) cannot hold a target and is dismissed in about
1 µs (0.7 µs before fetch-named parameters were read; `python -m timeit` on `scan` of
`query:q=hello`), 12 µs in a fetch-named parameter, where every value is read as a host; a
value whose colons open nothing (a timestamp) costs about 2 µs, a URL 10 to 20 µs, a 64 KB
base64 image 3 to 80 µs. Every candidate costs a few microseconds, so a value stops being
read after 4,096 of them, and the rest is reported as `ssrf.unscanned` (a notice),
not skipped in silence.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from wardgate.decision import Finding
from wardgate.detect.attacks.model import Part, PartKind, finding

__all__ = [
    "INTERNAL_NAMES",
    "KIND",
    "embedded_ipv4",
    "fold",
    "folds_differently",
    "internal_target",
    "ipv4_readings",
    "percent_decoded",
    "scan",
]

KIND = "attack.ssrf"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_METADATA_V4 = frozenset(
    int(ipaddress.IPv4Address(address))
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean and most others
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
_METADATA_V6 = frozenset(ipaddress.IPv6Address(a) for a in ("fd00:ec2::254", "fd00:ec2::23"))

# 0.0.0.0/8 as a whole: connecting to 0.x reaches the local host on Linux.
_V4_RANGES: tuple[tuple[str, ipaddress.IPv4Network], ...] = (
    ("unspecified", _V4("0.0.0.0/8")),
    ("loopback", _V4("127.0.0.0/8")),
    ("link-local", _V4("169.254.0.0/16")),
    ("private", _V4("10.0.0.0/8")),
    ("private", _V4("172.16.0.0/12")),
    ("private", _V4("192.168.0.0/16")),
    ("private", _V4("100.64.0.0/10")),
)
_V6_RANGES: tuple[tuple[str, ipaddress.IPv6Network], ...] = (
    ("link-local", _V6("fe80::/10")),
    ("private", _V6("fc00::/7")),
    ("private", _V6("fec0::/10")),  # site-local: deprecated, still routed inside some networks
)
_NAT64_PREFIX = int(ipaddress.IPv6Address("64:ff9b::")) >> 32

# When readings of one host disagree, the strongest claim is reported.
_PRECEDENCE = (
    "metadata",
    "loopback",
    "unspecified",
    "localhost-alias",
    "rebinding",
    "link-local",
    "private",
)

_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",  # Tencent Cloud
        "metadata.packet.net",  # Equinix Metal
        "metadata.platformequinix.com",
        "rancher-metadata",
        # The Kubernetes API server, which every pod reaches with its service account.
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
)
_LOOPBACK_NAMES = frozenset({"localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# These and every name under them resolve to 127.0.0.1.
_LOOPBACK_DOMAINS = (
    "localhost",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "localh.st",
    "spoofed.burpcollaborator.net",
)
_LOOPBACK_SUFFIXES = tuple("." + domain for domain in _LOOPBACK_DOMAINS)
# Wildcard DNS: `<address>.nip.io` resolves to the address written in the name.
# DNS-rebinding services (`make-127-0-0-1-rr.1u.ms`, `7f000001.c0a80001.rbndr.us`) answer
# with an address written in the name too, first a public one, then the internal one.
_ADDRESS_DOMAINS = ("nip.io", "sslip.io", "xip.io", "traefik.me", "1u.ms", "rbndr.us")
# Rebinding services exist to hand out an internal address after a public one: every name
# under them is a rebinding attempt, whatever address it spells (or hides).
_REBINDING_DOMAINS = ("1u.ms", "rbndr.us", "rebind.network", "rebind.it")
# A dotted address followed by more labels (`127.0.0.1.attacker.example`): wildcard DNS of
# the attacker's own domain answers with the address the name spells.
_EMBEDDED_ADDRESS = re.compile(r"(?=(?<![\w])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.)")
_PRIVATE_DOMAINS = ("internal", "local", "localdomain", "home.arpa", "svc", "lan", "intranet")
_PRIVATE_SUFFIXES = tuple("." + domain for domain in _PRIVATE_DOMAINS)

# A pattern for the names above (a gate in front of `scan`: a bare `url=localtest.me` holds
# no digit, colon or slash, which the other triggers look for).
INTERNAL_NAMES = "|".join(
    re.escape(name)
    for name in sorted(
        {
            *_METADATA_NAMES,
            *_LOOPBACK_NAMES,
            *_LOOPBACK_DOMAINS,
            *_ADDRESS_DOMAINS,
            *_REBINDING_DOMAINS,
            *_PRIVATE_SUFFIXES,
        }
    )
)

_DANGEROUS_SCHEMES = {
    "gopher": "gopher: URL (writes raw bytes to internal services)",
    "dict": "dict: URL (talks to internal text protocols)",
    "tftp": "tftp: URL (fetches over UDP from internal hosts)",
    "file": "file: URL (reads local files)",
    "netdoc": "netdoc: URL (Java's local file reader)",
    "jar": "jar: URL (Java fetches and opens a remote archive)",
    "sftp": "sftp: URL (libcurl speaks it to any host and port)",
    "ldap": "ldap: URL (talks LDAP, and carries raw lines to other services)",
    "ldaps": "ldaps: URL (talks LDAP to any host)",
}
# WHATWG "special" schemes take their host after any number of slashes, even none.
_SLASHLESS_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})

_REASON_RULES = {
    "loopback": "ssrf.loopback",
    "private": "ssrf.private",
    "link-local": "ssrf.link_local",
    "metadata": "ssrf.metadata",
    "unspecified": "ssrf.unspecified",
    "localhost-alias": "ssrf.localhost",
    "rebinding": "ssrf.rebinding",
    "internal-name": "ssrf.internal_name",
}
_REASON_TEXT = {
    "loopback": "a loopback address",
    "private": "a private address",
    "link-local": "a link-local address",
    "metadata": "a cloud metadata endpoint",
    "unspecified": "the unspecified address (the local host)",
    "localhost-alias": "a name that resolves to the local host",
    "rebinding": "a DNS-rebinding service name",
    "internal-name": "a name under a private-use suffix",
}
_HEADER_RULES = frozenset({"ssrf.metadata", "ssrf.scheme"})
# Headers whose values are client or proxy addresses by design.
_ADDRESS_HEADERS = frozenset(
    {
        "header:x-forwarded-for",
        "header:x-real-ip",
        "header:forwarded",
        "header:host",
        "header:x-forwarded-host",
        "header:x-client-ip",
        "header:true-client-ip",
        "header:cf-connecting-ip",
        "header:via",
    }
)

_BROWSER_HEADERS = frozenset(
    {
        "header:referer",
        "header:origin",
        "header:user-agent",
        "header:accept",
        "header:cookie",
        "header:authorization",
        "header:x-forwarded-proto",
        "header:x-forwarded-port",
        "header:x-original-url",
        "header:x-rewrite-url",
    }
)

_SCHEME_CHARS = string.ascii_letters + string.digits + "+.-"
_HOST_CHARS = string.ascii_letters + string.digits + ".-"
_BRACKETED_CHARS = frozenset(string.ascii_letters + string.digits + ":.%")  # with a zone id
_NOT_BEFORE_BARE_HOST = frozenset("_.:/@[]%\\-")
_RELATIVE_OPENERS = frozenset("\"'=(,[{")
_SLASHES = re.compile(r"[/\\]*")
# The last letters of http(s), ws(s), ftp, jar and netdoc, which need no slashes.
_SLASHLESS_SCHEME_ENDS = frozenset("psrcPSRC")
# What `_opens_target` checks, for text with many colons.
_COLON_ANCHOR = re.compile(r"[psrc]:|:[/\\]|:\d{1,5}(?![\w.:])", re.IGNORECASE)
_JAR_INNER = re.compile(r"[a-z][a-z0-9+.\-]{0,31}:", re.IGNORECASE)
_PORT = re.compile(r"\d{1,5}(?![\w.:])")
_URL_END = re.compile(r"[ \x0b\x0c\"'<>`]")
# A value that is one URL runs to its end: `http://1.1.1.1 &@127.0.0.1# @3.3.3.3/` is one
# URL, read three ways by three Python URL libraries.
_WHOLE_URL_END = re.compile(r"[\"'<>`]")
_AUTHORITY_REGION_END = re.compile(r"[/,;(){}|^ \x0b\x0c\"'<>`]")
_WHOLE_AUTHORITY_END = re.compile(r"[/,;(){}|^\"'<>`]")
_NON_SPACE = re.compile(r"\S")
_AUTHORITY_END = re.compile(r"[\\?#]")
# Percent-encoded delimiters hide a URL from a scan of the value as it is.
_ENCODED_DELIMITER = re.compile(r"%(?:25)*(?:3a|2f|5c|40|23|3f)", re.IGNORECASE)
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PLAIN_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_DOTTED_ADDRESS = re.compile(r"(?:^|[.\-])(\d{1,3})[.\-](\d{1,3})[.\-](\d{1,3})[.\-](\d{1,3})$")
_HEX_ADDRESS = re.compile(r"(?:^|[.\-])(?:0x)?([0-9a-f]{8})$")
_HEX_DIGITS = frozenset("0123456789abcdef")
_OCTAL_DIGITS = frozenset("01234567")
# Services that read raw lines from whoever connects (Redis, memcached, SMTP) or answer
# unauthenticated on the local host (Docker, etcd, kubelet, Consul, Elasticsearch, CouchDB).
_LOCAL_SERVICE_PORTS = frozenset(
    {25, 2375, 2376, 2379, 5984, 6379, 8500, 9200, 10250, 10255, 11211}
)
_LOCAL_REASONS = frozenset({"loopback", "unspecified", "localhost-alias"})
_DECODE_ROUNDS = 3
# The last word of a parameter's name when the server fetches its value. Names of where
# something runs (`host`, `server`, `endpoint`, `target`, `image`) are not among them:
# configuration APIs carry local addresses there by design.
_FETCH_WORDS = frozenset(
    {"url", "urls", "uri", "uris", "href", "link", "src", "callback", "webhook", "redirect",
     "proxy", "feed", "fetch"}
)  # fmt: skip
# A header's name is read by its ending (it arrives in lower case: `x-callbackurl`); proxies
# and links are left out, since services behind a gateway pass their own addresses in them
# (`X-Upstream-Proxy: 10.0.0.1:3128`).
# (`x-newsfeed`, `x-prefetch`, `x-...src` end too many names for `feed`, `fetch` and `src`.)
_HEADER_FETCH_ENDINGS = tuple(sorted(_FETCH_WORDS - {"proxy", "link", "feed", "fetch", "src"}))
_NAME_SEPARATORS = re.compile(r"[.\[\]/@]")
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # camelCase, snake_case, kebab-case
_VALUE_KINDS = frozenset({PartKind.QUERY, PartKind.BODY})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BARE_HOST_END = re.compile(r"[/\\?#]")
_CIDR = re.compile(r"/\d{1,3}")  # `10.0.0.0/8` is a network in a firewall rule, not a target
_HOST_NAME = re.compile(r"[a-z0-9\-]+(?:\.[a-z0-9\-]+)+\.?")
# What an obfuscated address needs somewhere: hex, padding, encoding, brackets or a
# character beyond ASCII. Most values have none and are dismissed by one search.
_MAYBE_OBFUSCATED = re.compile(r"[%\[]|[^\x00-\x7f]|0x|(?:^|\.)0\d\d", re.IGNORECASE)
_PADDED = re.compile(r"0\d{2,}")  # `0177`, `000`; `02` is how versions and dates are padded
_MIN_INTEGER_HOST = 1 << 24  # an integer below 1.0.0.0 is a count or an id, not an address
_MAX_NUMBER_PART = 40  # no address part is longer; int() refuses over 4,300 digits anyway
_MAX_URL = 2_048
_MAX_AUTHORITY = 512
# Reading a candidate costs a few microseconds; a value packed with decoys must not cost
# seconds, and what was left unread is reported rather than silently skipped.
_MAX_TARGETS = 4_096
_MAX_SCHEME = 32
_FEW_COLONS = 16
_MAX_HOST = 256


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: str
    severity: str
    matched: str
    reason: str


def scan(part: Part) -> list[Finding]:
    """The SSRF findings in one part: at most one per rule, each naming the first match.

    Natural-language text is never scanned, headers only for metadata addresses and
    dangerous schemes. Never raises for any input.

    >>> [f.rule for f in scan(Part("query:url", "http://0x7f000001/admin", PartKind.QUERY))]
    ['ssrf.loopback']
    """
    if part.kind is PartKind.TEXT:
        return []
    header = part.kind is PartKind.HEADER
    if header and part.slot.lower() in _ADDRESS_HEADERS:
        return []
    # Browsers and proxies fill these with the page's own (often local) address; any other
    # header that carries a URL (a callback, a webhook, a custom `X-...`) is a parameter.
    header = header and part.slot.lower() in _BROWSER_HEADERS
    bare = _bare_value_hit(part)
    texts = _readings(part.value)
    if bare is None and not texts:
        return []  # the common case, without building a generator chain (it cost 1 µs)
    findings: dict[str, Finding] = {}
    hits = itertools.chain.from_iterable(_hits(text, part.kind) for text in texts)
    for hit in itertools.chain((bare,), hits) if bare else hits:
        if hit.rule in findings or (header and hit.rule not in _HEADER_RULES):
            continue
        findings[hit.rule] = finding(
            KIND, hit.rule, hit.severity, part.slot, matched=hit.matched, reason=hit.reason
        )
    return list(findings.values())


def internal_target(url_or_host: str) -> str | None:
    """Why `url_or_host` leads inside the network, or None when it does not (lexically).

    Accepts a URL (any scheme, or protocol-relative) or a host with an optional port. The
    answer is one of "metadata", "loopback", "unspecified", "localhost-alias", "link-local",
    "private", "internal-name". Schemes are not judged here: see `scan`.

    >>> internal_target("http://trusted.example@[::ffff:7f00:1]:8080/")
    'loopback'
    >>> internal_target("https://example.com/") is None
    True
    """
    text = fold(url_or_host.strip())
    hosts = [host for target in _url_targets(text, relative=True) for host in target.hosts]
    if not hosts:
        hosts = [text]
    return _strongest(_host_reason(host) for host in hosts)


def ipv4_readings(host: str) -> frozenset[int]:
    """Every IPv4 address that some parser reads in `host`, as integers; empty if none.

    `host` is lower-case ASCII without brackets, port or trailing dot. A part is hex after
    `0x`, octal (and, for lenient parsers, decimal) after a leading zero, decimal otherwise;
    with fewer than four parts the last fills the remaining bytes (`127.1`); a part too big
    for its bytes is also read wrapped, as some parsers do.

    >>> sorted(str(ipaddress.IPv4Address(n)) for n in ipv4_readings("0177.1"))
    ['127.0.0.1', '177.0.0.1']
    """
    plain = _PLAIN_IPV4.fullmatch(host)
    if plain is not None:
        return frozenset({int.from_bytes(bytes(int(octet) for octet in plain.groups()), "big")})
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return frozenset()
    choices = [_number_part(part) for part in parts]
    if not all(choices):
        return frozenset()
    tail_bits = 8 * (5 - len(parts))
    readings = set()
    for values in itertools.product(*choices):
        number = 0
        for value in values[:-1]:
            number = number << 8 | (value & 0xFF)
        readings.add(number << tail_bits | (values[-1] & ((1 << tail_bits) - 1)))
    return frozenset(readings)


def embedded_ipv4(address: ipaddress.IPv6Address) -> int | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible or NAT64), or None.

    `::` and `::1` are themselves, not the compatible forms of 0.0.0.0 and 0.0.0.1.
    """
    mapped = address.ipv4_mapped
    if mapped is not None:
        return int(mapped)
    number = int(address)
    if number > 1 and (number >> 32 == 0 or number >> 32 == _NAT64_PREFIX):
        return number & 0xFFFF_FFFF
    return None


def _readings(value: str) -> list[str]:
    """The value (folded), and its percent-decoded form where that hides delimiters."""
    text = fold(value)
    readings = [text] if _has_anchor(text) else []
    if "%" in text and _ENCODED_DELIMITER.search(text):
        decoded = fold(percent_decoded(text))
        if decoded != text and _has_anchor(decoded):
            readings.append(decoded)
    return readings


def _has_anchor(text: str) -> bool:
    """Whether `text` can hold a target at all (a timestamp's colons, a path's slash cannot)."""
    if ":" in text:
        if text.count(":") > _FEW_COLONS:  # JSON, logs: one pass in C beats a step per colon
            if _COLON_ANCHOR.search(text) is not None:
                return True
        elif any(_opens_target(text, colon) for colon in _positions(text, ":")):
            return True
    return ("/" in text or "\\" in text) and bool(_relative_starts(text))


def _opens_target(text: str, colon: int) -> bool:
    return _may_end_scheme(text, colon) or _PORT.match(text, colon + 1) is not None


def _may_end_scheme(text: str, colon: int) -> bool:
    """Slashes after the colon, or the last letter of a scheme that needs none before it."""
    after, before = text[colon + 1 : colon + 2], text[colon - 1 : colon]
    return after in ("/", "\\") or before in _SLASHLESS_SCHEME_ENDS


def _hits(text: str, kind: PartKind) -> Iterator[_Hit]:
    known: dict[str, str | None] = {}
    lead = _lead(text)
    targets = _url_targets(text, relative=kind is not PartKind.PATH)
    for count, target in enumerate(targets):
        if count == _MAX_TARGETS:
            yield _unscanned(text)
            break
        if target.scheme in _DANGEROUS_SCHEMES:
            url = _url_at(text, target.start, lead)
            yield _Hit("ssrf.scheme", "critical", url, _DANGEROUS_SCHEMES[target.scheme])
        reason = _strongest(_known_reason(host, known) for host in target.hosts)
        if reason is not None:
            severity = "error" if reason == "internal-name" else "critical"
            why = f"URL host is {_REASON_TEXT[reason]}"
            yield _Hit(_REASON_RULES[reason], severity, _url_at(text, target.start, lead), why)
    if kind is not PartKind.HEADER:
        yield from _bare_hits(text)


@dataclass(frozen=True, slots=True)
class _Target:
    start: int
    scheme: str
    hosts: tuple[str, ...]


def _url_targets(text: str, *, relative: bool) -> Iterator[_Target]:
    lead = _lead(text)
    for colon in _positions(text, ":"):
        if not _may_end_scheme(text, colon):
            continue
        scheme = _scheme_before(text, colon)
        if not scheme:
            continue
        after = _SLASHES.match(text, colon + 1)
        authority = after.end() if after else colon + 1
        start = colon - len(scheme)
        if _opens_authority(scheme, authority - colon - 1):
            # A file URL's host does not matter: whatever it names, the file is read locally.
            hosts = () if scheme == "file" else _candidate_hosts(text, authority, start <= lead)
            yield _Target(start, scheme, hosts)
        elif _opaque(scheme, text, colon):
            yield _Target(start, scheme, ())
    if relative:
        for start in _relative_starts(text):
            run = _SLASHES.match(text, start)
            hosts = _candidate_hosts(text, run.end() if run else start, start <= lead)
            if all(_written_as_address(host.partition(":")[0]) for host in hosts):
                yield _Target(start, "", hosts)


def _positions(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at != -1:
        yield at
        at = text.find(needle, at + 1)


def _relative_starts(text: str) -> list[int]:
    """Where a protocol-relative URL can start: two slashes at the start or after an opener.

    Found with `str.find`, not a regular expression: base64 images hold `//` every few
    kilobytes, never after an opener, and a regular expression would step through them.
    """
    if "\\" in text:
        pairs: tuple[str, ...] = ("//", "\\\\", "/\\", "\\/")
    elif "//" in text:
        pairs = ("//",)
    else:
        return []
    starts = {
        at
        for pair in pairs
        for at in _positions(text, pair)
        if at == 0 or text[at - 1].isspace() or text[at - 1] in _RELATIVE_OPENERS
    }
    return sorted(starts)


def _lead(text: str) -> int:
    """Where the value proper starts: a URL there runs to the value's end, spaces and all."""
    first = _NON_SPACE.search(text)
    return first.start() if first else len(text)


def _scheme_before(text: str, colon: int) -> str:
    """The scheme that ends at `colon`, lower-cased, or "" when there is none."""
    head = text[max(0, colon - _MAX_SCHEME - 1) : colon]
    name = head[len(head.rstrip(_SCHEME_CHARS)) :]
    if len(name) > _MAX_SCHEME:
        return ""
    return name.lstrip("0123456789+.-").lower()


def _opens_authority(scheme: str, slashes: int) -> bool:
    if scheme in _SLASHLESS_SCHEMES:
        return True
    return slashes >= (1 if scheme == "file" else 2)


def _opaque(scheme: str, text: str, colon: int) -> bool:
    """`jar:<url>!/entry` and `netdoc:/path` name no host of their own."""
    if scheme == "jar":
        return _JAR_INNER.match(text, colon + 1) is not None
    return scheme == "netdoc" and text[colon + 1 : colon + 2] in ("/", "\\")


def _url_at(text: str, start: int, lead: int) -> str:
    ending = _WHOLE_URL_END if start <= lead else _URL_END
    end = ending.search(text, start, start + _MAX_URL)
    return text[start : end.start() if end else start + _MAX_URL]


def _candidate_hosts(text: str, authority: int, whole: bool) -> tuple[str, ...]:
    """The host as WHATWG reads it, then whatever follows each `@`, for other parsers."""
    ending = _WHOLE_AUTHORITY_END if whole else _AUTHORITY_REGION_END
    end = ending.search(text, authority, authority + _MAX_AUTHORITY)
    region = text[authority : end.start() if end else authority + _MAX_AUTHORITY]
    # WHATWG drops tabs and newlines anywhere in a URL: `12\t7.0.0.1` is 127.0.0.1.
    region = region.replace("\t", "").replace("\n", "").replace("\r", "")
    standard = _AUTHORITY_END.split(region, maxsplit=1)[0].rpartition("@")[2]
    pieces = region.split("@")
    others = (_AUTHORITY_END.split(piece, maxsplit=1)[0] for piece in pieces[1:])
    if len(pieces) == 1:
        return (standard,)
    # `http://169.254.169.254@trusted/`: the userinfo is a host to a parser that stops at
    # the first delimiter it knows, and a lure to anyone reading the URL.
    userinfo = _AUTHORITY_END.split(pieces[0], maxsplit=1)[0]
    return (standard, *others, userinfo)


def _known_reason(host: str, known: dict[str, str | None]) -> str | None:
    """`_host_reason`, read once per distinct host in a value (decoys repeat)."""
    if host not in known:
        known[host] = _host_reason(host)
    return known[host]


def _bare_hits(text: str) -> Iterator[_Hit]:
    known: dict[str, str | None] = {}  # decoys repeat: read each distinct host once
    count = 0
    for colon in _positions(text, ":"):
        port = _PORT.match(text, colon + 1)
        host = _host_before(text, colon) if port else None
        if port is None or host is None:
            continue
        count += 1
        if count > _MAX_TARGETS:
            yield _unscanned(text)
            break
        if host not in known:
            known[host] = _host_reason(host) if _written_as_address(host) else None
        reason = known[host]
        matched = text[colon - len(host) : port.end()]
        if reason == "metadata":
            yield _Hit(
                "ssrf.metadata", "critical", matched, "bare host:port is " + _REASON_TEXT[reason]
            )
        elif (
            reason in _LOCAL_REASONS
            and int(port.group()) in _LOCAL_SERVICE_PORTS
            and text.strip() == matched  # the value is the target, not a sentence naming it
        ):
            why = f"bare host:port target is a raw-text service on {_REASON_TEXT[reason]}"
            yield _Hit("ssrf.local_service", "critical", matched, why)
        elif reason is not None and reason != "internal-name":
            why = f"bare host:port target is {_REASON_TEXT[reason]}"
            yield _Hit("ssrf.bare_target", "error", matched, why)


def _bare_value_hit(part: Part) -> _Hit | None:
    """A value that starts with a bare internal host, where that alone says "fetch this".

    Two cases. In a parameter whose name says its value is fetched (`url`, `imageUrl`,
    `callback_url`, `webhook`), a value that is a host, with a port or path or not, is the
    URL it will become (servers prepend the scheme): `url=localtest.me`, `url=10.0.0.7/hook`;
    there a host spelled to slip past a deny-list (`attacker。com`, a NUL) is a finding of its
    own. Anywhere, an address written as nobody writes one by accident
    (`0x7f.0x0.0x0.0x1`, `0177.0.0.1`, `127。0。0。1`) is judged as the host it spells.
    """
    header = part.kind is PartKind.HEADER
    if part.kind not in _VALUE_KINDS and not header:
        return None
    word = _fetch_word(part.slot)
    # Header names arrive in lower case, their camelCase lost (`x-callbackurl`).
    named = word.endswith(_HEADER_FETCH_ENDINGS) if header else word in _FETCH_WORDS
    if not named and (header or not _may_be_obfuscated(part.value[:_MAX_HOST])):
        return None  # a header is a target only where its name says so (`X-Callback-Url`)
    first = _NON_SPACE.search(part.value)  # not `lstrip()`: that copies a 64 KB value whole
    head = part.value[first.start() : first.start() + _MAX_HOST] if first else ""
    token = head.split(None, 1)[0] if head else ""
    raw_host = _BARE_HOST_END.split(token, maxsplit=1)[0].rpartition("@")[2]
    if not raw_host or "://" in token or _CIDR.fullmatch(token[len(raw_host) :]):
        return None
    if not named and not _may_be_obfuscated(raw_host):
        return None
    decoded = percent_decoded(raw_host)
    host = fold(decoded).lower()
    if named:
        disguise = _disguise(decoded, host)
        if disguise is not None:
            why = "a host in a parameter named for a fetch target, spelled to dodge a deny-list"
            return _Hit("ssrf.obfuscated_host", disguise, token, why)
        if not _host_like(host, alone=token == raw_host and ":" not in raw_host.lstrip("[")):
            return None
        how = "a bare host in a parameter named for a fetch target"
    elif _obfuscated(raw_host, host):
        how = "a bare host written in an obfuscated form"
    else:
        return None
    reason = _host_reason(host)
    if reason is None:
        return None
    # Out of a fetch parameter, only loopback and metadata addresses are critical:
    # `000.000.000.000` masks and longhand link-local IPv6 in a device API are odd, not
    # attacks; services behind a gateway pass private callback addresses in headers.
    if named and not header:
        critical = reason != "internal-name"
    else:
        critical = reason in ("loopback", "localhost-alias", "metadata")
    severity = "critical" if critical else "error"
    return _Hit(_REASON_RULES[reason], severity, token, f"{how} is {_REASON_TEXT[reason]}")


def _may_be_obfuscated(text: str) -> bool:
    # Substring tests run in C: most values hold none of these and cost no regex step.
    if "0" not in text and "%" not in text and "[" not in text and text.isascii():
        return False
    return _MAYBE_OBFUSCATED.search(text) is not None


@functools.lru_cache(maxsize=1_024)
def _fetch_word(slot: str) -> str:
    """The last word of a slot's last name, lower case: `url` for `json:hooks[0].callbackUrl`,
    `query:image_url`, `form:url2` and `json:callback_url_v2`; `urlencoded` for
    `query:urlencoded`."""
    components = _NAME_SEPARATORS.split(slot.partition(":")[2])
    name = next((c for c in reversed(components) if any(ch.isalpha() for ch in c)), "")
    if name.startswith("#"):
        return ""  # a digest of an odd name (`url[]`, non-ASCII): its letters are hex
    words = [word for word in _NAME_WORDS.findall(name) if len(word) > 1]
    return words[-1].lower() if words else ""


def _disguise(decoded: str, host: str) -> str | None:
    """The severity of a host spelled to slip past a string comparison, or None.

    A NUL or control character (C resolvers stop there), enclosed letters or a lone
    ideographic dot that folds to a plain host name (`attacker。com`) are critical; a host
    typed wholly in fullwidth forms is what a Japanese or Chinese input method produces, an
    error. Internationalised names (`münchen.de`) and text (`東京`, `more…`) are
    neither: the folded form must be a host name.
    """
    name = host.partition(":")[0]
    if _CONTROL.search(decoded):
        return "critical" if _HOST_NAME.fullmatch(_CONTROL.sub("", name)) else None
    if not folds_differently(decoded) or not _HOST_NAME.fullmatch(name):
        return None
    typed = all(char.isascii() or "\uff01" <= char <= "\uff5e" for char in decoded)
    return "error" if typed and not any(char.isascii() for char in decoded) else "critical"


def _host_like(host: str, *, alone: bool) -> bool:
    """Whether a fetch parameter's bare value reads as a host, not as a number or a word.

    A bracketed IPv6 address, a dotted quad, a hex part, a dotted name ending in a label of
    letters (`localtest.me`, not `kubernetes`, `0.27.1` or `10.5`), `localhost`, or an integer
    too wide to be a flag or a count; `0` and short forms (`127.1`) only with a port or a path
    after them.
    """
    if host.startswith("["):
        return True
    stem = host.partition(":")[0].rstrip(".")
    parts = stem.split(".")
    if not ipv4_readings(stem):
        return (len(parts) > 1 and parts[-1].isalpha()) or stem == "localhost"
    if len(parts) == 4 or "0x" in stem:
        return True
    if len(parts) == 1 and stem.isdigit() and int(stem) >= _MIN_INTEGER_HOST:
        return True
    return not alone


def _obfuscated(raw_host: str, host: str) -> bool:
    """An address with hex or zero-padded parts, spelled with other characters, or an IPv6
    literal wrapping IPv4 or written longhand (`[0:0:0:0:0:0:0:1]`).

    Dotted quads, short forms (`127.1`, a version number), two-digit padding (`00.02.00.15`,
    a firmware version) and bare integers (an id) are written innocently every day; these
    forms are not.
    """
    if host.startswith("["):
        literal = host[1:].partition("]")[0].partition("%")[0]
        address = _ipv6(literal)
        return address is not None and (
            embedded_ipv4(address) is not None or str(address) != literal
        )
    stem = host.partition(":")[0].rstrip(".")
    parts = stem.split(".")
    if len(parts) < 2 or not ipv4_readings(stem):
        return False
    if not raw_host.isascii() or "%" in raw_host:
        return True
    return any(part.startswith("0x") or _PADDED.fullmatch(part) for part in parts)


def _unscanned(text: str) -> _Hit:
    why = f"more than {_MAX_TARGETS} URL or host:port candidates: the rest was not read"
    return _Hit("ssrf.unscanned", "notice", text, why)


def _host_before(text: str, colon: int) -> str | None:
    """The host written right before `colon` in scheme-less text, or None."""
    head = text[max(0, colon - _MAX_HOST) : colon]
    if head.endswith("]"):
        host = head[head.rfind("[") :]
        if not host.startswith("[") or not set(host[1:-1]) <= _BRACKETED_CHARS:
            return None
    else:
        host = head[len(head.rstrip(_HOST_CHARS)) :]
        if not host or host[0] in ".-" or len(host) == _MAX_HOST:
            return None
    start = colon - len(host)
    before = text[start - 1] if start else " "
    return None if before.isalnum() or before in _NOT_BEFORE_BARE_HOST else host


def _written_as_address(host: str) -> bool:
    """Whether a host without a scheme is written like one: `12:30` is a time, not 0.0.0.12."""
    if host.startswith("["):
        return True
    lowered = host.lower().rstrip(".")
    if ipv4_readings(lowered):
        return lowered.count(".") == 3 or lowered.startswith("0x")
    return not lowered[-1:].isdigit()  # a name (`localhost`), not `2024-05-01t12`


def _host_reason(raw_host: str) -> str | None:
    host = fold(percent_decoded(raw_host)).strip().lower().partition("\x00")[0]
    if host.startswith("["):
        return _ipv6_reason(host[1:].partition("]")[0])
    if host.count(":") >= 2 and _ipv6(host) is not None:
        return _ipv6_reason(host)
    host = host.partition(":")[0].rstrip(".")
    if not host:
        return None
    readings = ipv4_readings(host)
    if readings:
        return _strongest(_ipv4_reason(number) for number in readings)
    return _name_reason(host)


def _ipv4_reason(number: int) -> str | None:
    if number in _METADATA_V4:
        return "metadata"
    address = ipaddress.IPv4Address(number)
    return next((reason for reason, network in _V4_RANGES if address in network), None)


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return None


def _ipv6_reason(text: str) -> str | None:
    address = _ipv6(text)
    if address is None:
        return None
    if address in _METADATA_V6:
        return "metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return _ipv4_reason(embedded)
    return next((reason for reason, network in _V6_RANGES if address in network), None)


def _name_reason(name: str) -> str | None:
    if name in _METADATA_NAMES:
        return "metadata"
    if name in _LOOPBACK_NAMES or name in _LOOPBACK_DOMAINS or name.endswith(_LOOPBACK_SUFFIXES):
        return "localhost-alias"
    for domain in _ADDRESS_DOMAINS:
        if name.endswith("." + domain):
            return _written_address_reason(name[: -len(domain) - 1]) or (
                "rebinding" if domain in _REBINDING_DOMAINS else None
            )
    for domain in _REBINDING_DOMAINS:
        if name.endswith("." + domain):
            return _written_address_reason(name[: -len(domain) - 1]) or "rebinding"
    if name in _PRIVATE_DOMAINS or name.endswith(_PRIVATE_SUFFIXES):
        return "internal-name"
    if "." in name and name[:1].isascii():
        return _strongest(
            _ipv4_reason(int.from_bytes(bytes(int(octet) for octet in found.groups()), "big"))
            for found in _EMBEDDED_ADDRESS.finditer(name)
            if all(int(octet) < 256 for octet in found.groups())
        )
    return None


def _written_address_reason(stem: str) -> str | None:
    """The reason for the address a wildcard-DNS name spells out before its domain."""
    dotted = _DOTTED_ADDRESS.search(stem)
    if dotted is not None:
        octets = [int(octet) for octet in dotted.groups()]
        if all(octet < 256 for octet in octets):
            return _ipv4_reason(int.from_bytes(bytes(octets), "big"))
    hexadecimal = _HEX_ADDRESS.search(stem)
    if hexadecimal is not None:
        return _ipv4_reason(int(hexadecimal[1], 16))
    label = stem.rpartition(".")[2]
    if "--" in label:  # sslip.io writes IPv6 with dashes: `--1.sslip.io` is ::1
        return _ipv6_reason(label.replace("-", ":"))
    return None


def _number_part(part: str) -> tuple[int, ...]:
    """The values parsers give one dotted part of a numeric host; empty when it is no number."""
    if not part or len(part) > _MAX_NUMBER_PART or not part.isascii():
        return ()
    if part.startswith("0x"):
        digits = part[2:]
        if not digits:
            return (0,)
        return (int(digits, 16),) if set(digits) <= _HEX_DIGITS else ()
    if not part.isdigit():
        return ()
    if len(part) > 1 and part[0] == "0":
        return (int(part, 8), int(part)) if set(part) <= _OCTAL_DIGITS else (int(part),)
    return (int(part),)


def _strongest(reasons: Iterable[str | None]) -> str | None:
    found = {reason for reason in reasons if reason is not None}
    if not found:
        return None
    return min(found, key=lambda r: _PRECEDENCE.index(r) if r in _PRECEDENCE else len(_PRECEDENCE))


def fold(text: str) -> str:
    """NFKC (fullwidth and enclosed digits become ASCII) and ideographic full stops as dots."""
    if text.isascii():
        return text
    # NFKC already turns the fullwidth and halfwidth stops into "." and "\u3002".
    return unicodedata.normalize("NFKC", text).replace("\u3002", ".")


def folds_differently(text: str) -> bool:
    """Whether `fold` spells `text` otherwise than it is written: fullwidth or enclosed
    letters, ideographic dots. Internationalised names (`münchen.de`) fold to themselves."""
    return not text.isascii() and fold(text) != unicodedata.normalize("NFC", text)


def percent_decoded(text: str) -> str:
    """Percent-decoding repeated while it changes (a few rounds at most)."""
    for _ in range(_DECODE_ROUNDS):
        if "%" not in text:
            break
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text
