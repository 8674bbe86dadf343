"""HTTP protocol abuse: requests that are wrong as HTTP before they are wrong as data.

Request smuggling, response splitting and scanner probes live in the framing: two lengths
that disagree, a CR LF inside a value that some hop will write into a response, a method
or a Host no client sends, a tool that announces itself in User-Agent. The signature
engines look at values; `scan` looks at the request as a whole.

Wardgate's own server (llhttp in strict mode) already refuses the worst framing, so in the
proxy most of these rules fire on requests that slipped past another hop; `scan request`
and the evaluation feed samples that never went through llhttp, so every rule stays.

It runs on every request, so the clean case is a handful of membership tests and one pass
over the headers; the costly parsing happens only for the header, path or body that fails
a cheap test. Ordinary clients (browsers, curl, python-requests, the OpenAI SDKs) must
produce no finding at all.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise
from urllib.parse import unquote

from wardgate.decision import Finding
from wardgate.detect.attacks.model import HttpSample, finding

__all__ = ["MAX_HEADERS", "MAX_HEADER_VALUE", "MAX_RANGES", "scan"]

MAX_HEADERS = 100
MAX_HEADER_VALUE = 8_192
MAX_RANGES = 10

_CRLF = "attack.crlf"
_SCANNER = "attack.scanner"

_STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_WEBDAV_METHODS = frozenset(
    {
        *("PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH"),
        *("REPORT", "MKACTIVITY", "CHECKOUT", "CHECKIN", "MERGE", "MKCALENDAR", "ACL"),
        *("BIND", "UNBIND", "REBIND", "VERSION-CONTROL", "UNCHECKOUT", "MKWORKSPACE"),
        *("UPDATE", "LABEL", "BASELINE-CONTROL", "ORDERPATCH"),
    }
)
# TRACE and TRACK echo the request (cross-site tracing); CONNECT asks for a tunnel.
_DANGEROUS_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PSEUDO_HEADERS = frozenset({":method", ":path", ":scheme", ":authority", ":protocol"})

# Headers only scanners send; with them, the headers the other rules read.
_SCANNER_HEADERS = frozenset(
    {
        *("acunetix-product", "acunetix-scanning-agreement", "acunetix-user-agreement"),
        *("x-scanner", "x-wipp", "x-scan-memo", "x-request-memo", "x-requestmanager-memo"),
    }
)
_WATCHED = _SCANNER_HEADERS | {
    "host",
    "content-length",
    "transfer-encoding",
    "content-type",
    "content-encoding",
    "range",
    "user-agent",
}

_CONTENT_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "identity"})
_NUMBER = re.compile(r"[0-9]{1,18}")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{0,5})?")
_ABSOLUTE_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")
# What a split line must look like to be written into a response by a vulnerable hop.
_HEADER_LIKE = re.compile(
    r"[\r\n][ \t]*(?:"
    r"(?:set-cookie|location|refresh|content-(?:length|type|disposition|security-policy)"
    r"|transfer-encoding|access-control-allow-[a-z-]+|x-xss-protection|cache-control|link"
    r"|host|cookie|connection)[ \t]*:"
    r"|http/\d)"
    r"|(?:\r?\n){2}[ \t]*<[!A-Za-z]",
    re.IGNORECASE,
)
_SHELLSHOCK = re.compile(r"\(\s*\)\s*\{")
_SCANNER_AGENT = re.compile(
    r"sqlmap|nikto|nmap scripting engine|nmap nse|masscan|zgrab|nuclei|wpscan|dirbuster"
    r"|gobuster|feroxbuster|\bffuf\b|fuzz faster u fool|wfuzz|acunetix|netsparker|invicti"
    r"|\bw3af|arachni|openvas|nessus|havij|commix|skipfish|whatweb|zmeu|morfeus|jaeles"
    r"|xsstrike|\bparos/|webinspect|appscan|fimap|\bdirb/|dirsearch|wapiti|sqlninja|bbqsql"
    r"|nosqlmap|joomscan|droopescan|cmsmap|dotdotpwn|\bhydra\b|grendel-scan|pangolin"
    r"|webshag|bsqlbf|\bbrutus\b|n-stealth|nsauditor|webvulnscan|absinthe|jorgee|cgichk"
    r"|teh forest lobster|\bzap/|owasp zap|burp suite|\bvega/|log4j-scan|struts-pwn"
    r"|interactsh|\bxray/|\bgau/|\bhttpx - open-source|\bkatana/|\bnaabu|\bamass"
    r"|metasploit|\bmsf\b|\bqualys|\brapid7|tenable|\bzgrab|\bcensys|shodan"
    r"|\bnmap\b|\bsf/\d|blackwidow|^grabber|webscarab|jbrofuzz|crimscanner|datacha0s"
    r"|toata dragostea|mysqloit|sqlsus|uniscan|httprint|\bvooki|wprecon|\bl9(explore|scan|tcpid)"
    r"|leakix|^hello,? world$|palo alto networks company|xpanse|nimbostratus|netsystemsresearch"
    r"|internet-measurement|\bips-agent|getodin|researchscan|\bsysscan|\bhakai/|keydrop|^xfa1$"
    r"|\bzmap|\bcaido|detectify|probely|nexpose|\bburp|indy library|projectdiscovery"
    r"|security ?scanner|vulnerability ?scanner|\bvulnscan|hostedscan"
    # Older scanners and exploit kits that still announce themselves.
    r"|domino hunter|email extractor|fhscan|floodgate|get-minimal|inspath|internet ninja"
    r"|jaascois|\bmetis\b|pmafind|customcrawler|s\.t\.a\.l\.k\.e\.r|springenwerk"
    r"|sql power injector|this is an exploit|uil2pn|^user-agent:|voideye|webbandit"
    r"|webtrends security analyzer|\bwhcc/|hash grabber|xmlrpc exploit|\bwebzip|httrack"
)
_CACHED_AGENT_LENGTH = 512
# Out-of-band callback domains of Burp Collaborator and interactsh (nuclei): only a
# scanner's probe puts them in a header.
_CALLBACK_DOMAINS = ("burpcollaborator.net", "oastify.com", "interact.sh", ".oast.")

_JSON_TYPES = ("application/json", "text/json")
_XML_TYPES = ("application/xml", "text/xml")
_FORM_TYPE = "application/x-www-form-urlencoded"
_BOM = b"\xef\xbb\xbf"
_BOUNDARY = re.compile(r"(?:^|;)\s*boundary\s*=\s*\"?([^\";]*)", re.IGNORECASE)


def scan(sample: HttpSample) -> list[Finding]:
    """Protocol findings for one request: method, target, headers, framing, tools.

    Pure and total: any sample gives a list (empty for an ordinary request) and nothing is
    raised. `sample.path` and `sample.query` are read raw and decoded once here. Each
    finding's `score` is its severity's points. `protocol.content_type` and
    `protocol.content_encoding` are also rule ids of `parts.extract`, which sees the same
    facts from the body's side: an engine that scores each rule once counts them once.

    >>> scan(HttpSample("GET", "/v1/models", headers=(("Host", "api.example.com"),)))
    []
    """
    findings: list[Finding] = []
    if sample.method not in _STANDARD_METHODS:
        findings.extend(_method(sample.method))
    path = sample.path
    if path[:1] != "/" or "%" in path or not (path.isascii() and path.isprintable()):
        findings.extend(_path(sample.method, path))
    query = sample.query
    if "%0" in query or "\r" in query or "\n" in query:
        findings.extend(_line_breaks("query", query, "the query"))
    watched = _watched_headers(sample.headers, findings)
    if watched:
        findings.extend(_host(watched.get("host", [])))
        findings.extend(_framing(sample, watched))
        findings.extend(_tools(watched))
        if "range" in watched:
            findings.extend(_ranges(watched["range"]))
    elif sample.body:
        findings.extend(_body(sample, None))
    return findings


def _method(method: str) -> list[Finding]:
    if not _TOKEN.fullmatch(method):
        return [_finding("protocol.method_invalid", "error", "method", "not a token", method)]
    if method in _WEBDAV_METHODS:
        return [_finding("protocol.method_webdav", "notice", "method", "a WebDAV method", method)]
    if method in _DANGEROUS_METHODS:
        reason = "CONNECT asks for a tunnel" if method == "CONNECT" else "echoes the request"
        return [_finding(f"protocol.method_{method.lower()}", "error", "method", reason, method)]
    return [_finding("protocol.method_unknown", "error", "method", "an unknown method", method)]


def _path(method: str, path: str) -> list[Finding]:
    findings = []
    if _ABSOLUTE_TARGET.match(path):
        reason = "an absolute URL as request target"
        findings.append(_finding("protocol.absolute_target", "warning", "path", reason, path))
    elif path[:1] != "/" and not (path == "*" and method == "OPTIONS"):
        reason = "a request target that is not a path"
        findings.append(_finding("protocol.target_form", "warning", "path", reason, path))
    if not path.isascii():
        reason = "raw non-ASCII characters in the path"
        findings.append(_finding("protocol.path_non_ascii", "notice", "path", reason, path))
    if _CONTROL.search(unquote(path) if "%" in path else path):
        reason = "control characters (NUL, CR, LF) in the path, raw or percent-encoded"
        findings.append(_finding("protocol.path_control", "error", "path", reason, path))
    findings.extend(_line_breaks("path", path, "the path"))
    return findings


def _line_breaks(slot: str, raw: str, where: str) -> list[Finding]:
    """Request splitting: a raw CR or LF, or an encoded one that starts a header line."""
    if "\r" in raw or "\n" in raw:
        reason = f"a raw CR or LF in {where}"
    elif "%0" in raw and _HEADER_LIKE.search(unquote(raw)):
        reason = f"an encoded line break in {where} followed by a header or status line"
    else:
        return []
    return [_finding("protocol.crlf", "critical", slot, reason, raw, kind="attack.crlf")]


def _watched_headers(
    headers: tuple[tuple[str, str], ...], findings: list[Finding]
) -> dict[str, list[str]]:
    """One pass over the headers: per-header rules, and the values the other rules read."""
    watched: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in _WATCHED:
            if lowered in watched:
                watched[lowered].append(value)
            else:
                watched[lowered] = [value]
    if len(headers) > MAX_HEADERS:
        reason = f"{len(headers)} headers, over {MAX_HEADERS}"
        findings.append(_finding("protocol.header_count", "warning", "headers", reason))
    # Names and values are joined once, so the clean case costs a few calls, not a few per
    # header; the per-header loops run only when the joined text fails.
    names = [name for name, _ in headers]
    if "" in names or not _TOKEN.fullmatch("".join(names) or "x"):
        findings.extend(_bad_names(headers))
    values = " ".join([value for _, value in headers])
    if len(values) > MAX_HEADER_VALUE:
        findings.extend(_oversized(headers))
    if (
        (not values.isprintable() and _CONTROL.search(values))
        or "%0" in values
        or ("(" in values and _SHELLSHOCK.search(values))
    ):
        findings.extend(_bad_values(headers))
    if _has_callback_domain(values):
        reason = "an out-of-band callback domain of a scanner in a header"
        findings.append(
            _finding("protocol.scanner_callback", "warning", "headers", reason, kind=_SCANNER)
        )
    return watched


def _oversized(headers: tuple[tuple[str, str], ...]) -> list[Finding]:
    reason = f"a header value over {MAX_HEADER_VALUE} characters"
    return [
        _finding("protocol.header_size", "notice", f"header:{name.lower()}", reason, value)
        for name, value in headers
        if len(value) > MAX_HEADER_VALUE
    ]


def _has_callback_domain(values: str) -> bool:
    # Scanners write their callback hosts in lower case; a client hiding one only hides
    # that it is a scanner, so the clean case skips lower-casing every header.
    return ("oast" in values or "interact.sh" in values or "burpcollab" in values) and any(
        domain in values for domain in _CALLBACK_DOMAINS
    )


def _bad_names(headers: tuple[tuple[str, str], ...]) -> list[Finding]:
    findings = []
    for name, _ in headers:
        if _TOKEN.fullmatch(name) or name in _PSEUDO_HEADERS:
            continue
        slot = f"header:{name.lower()}"
        if _LINE_BREAK.search(name):
            reason = "a CR or LF in a header name"
            findings.append(_finding("protocol.crlf", "critical", slot, reason, name, kind=_CRLF))
        else:
            reason = "a header name that is not a token"
            findings.append(_finding("protocol.header_name_invalid", "error", slot, reason, name))
    return findings


def _bad_values(headers: tuple[tuple[str, str], ...]) -> list[Finding]:
    findings = []
    for name, value in headers:
        slot = f"header:{name.lower()}"
        if _LINE_BREAK.search(value):
            reason = "a raw CR or LF in a header value"
            findings.append(_finding("protocol.crlf", "critical", slot, reason, value, kind=_CRLF))
        elif _CONTROL.search(value):
            reason = "control characters in a header value"
            findings.append(_finding("protocol.header_control", "error", slot, reason, value))
        elif "%0" in value and _HEADER_LIKE.search(unquote(value)):
            reason = "an encoded line break in a header value followed by a header line"
            findings.append(_finding("protocol.crlf", "critical", slot, reason, value, kind=_CRLF))
        if "(" in value and _SHELLSHOCK.search(value):
            reason = "a bash function definition in a header (Shellshock)"
            findings.append(
                _finding("protocol.shellshock", "critical", slot, reason, value, kind="attack.cmdi")
            )
    return findings


def _host(hosts: list[str]) -> list[Finding]:
    if len(hosts) > 1:
        reason = "more than one Host header"
        return [_finding("protocol.host_multiple", "error", "header:host", reason)]
    if not hosts:
        return []
    host = hosts[0]
    if not host.strip():
        return [_finding("protocol.host_empty", "warning", "header:host", "an empty Host")]
    if _HOST.fullmatch(host):
        return []
    reason = "userinfo (@) in Host" if "@" in host else "characters a host name cannot hold"
    return [_finding("protocol.host_invalid", "error", "header:host", reason, host)]


def _framing(sample: HttpSample, watched: dict[str, list[str]]) -> list[Finding]:
    findings = []
    lengths = watched.get("content-length", [])
    encodings = watched.get("transfer-encoding", [])
    if lengths and encodings:
        reason = "both Content-Length and Transfer-Encoding (request smuggling)"
        findings.append(_finding("protocol.cl_te", "error", "request", reason))
    if len(lengths) > 1:
        reason = "more than one Content-Length header"
        findings.append(_finding("protocol.content_length_multiple", "error", "request", reason))
    for length in lengths:
        if not _NUMBER.fullmatch(length.strip()):
            reason = "a Content-Length that is not a number"
            findings.append(
                _finding(
                    "protocol.content_length_invalid", "error", "header:content-length", reason
                )
            )
    if encodings and (len(encodings) > 1 or encodings[0].strip().lower() != "chunked"):
        reason = "a Transfer-Encoding other than one plain chunked"
        findings.append(
            _finding("protocol.transfer_encoding", "error", "header:transfer-encoding", reason)
        )
    if "content-encoding" in watched and any(
        coding.strip().lower() not in _CONTENT_CODINGS
        for coding in ",".join(watched["content-encoding"]).split(",")
    ):
        reason = "a Content-Encoding other than gzip, deflate, br, zstd or identity"
        findings.append(
            _finding("protocol.content_encoding", "warning", "header:content-encoding", reason)
        )
    types = watched.get("content-type", [])
    if len(types) > 1:
        # The rule id `parts.extract` uses for conflicting types: one fact, scored once.
        reason = "more than one Content-Type header"
        findings.append(_finding("protocol.content_type", "warning", "request", reason))
    has_body = bool(sample.body or encodings or any(n.strip().lstrip("0") for n in lengths))
    if has_body:
        findings.extend(_body(sample, types[0] if types else None))
    return findings


def _body(sample: HttpSample, content_type: str | None) -> list[Finding]:
    findings = []
    if sample.method in ("GET", "HEAD"):
        reason = f"a body on {sample.method}"
        findings.append(_finding("protocol.body_on_get", "notice", "body", reason))
    if content_type is None:
        reason = "a body without Content-Type"
        findings.append(_finding("protocol.content_type_missing", "notice", "body", reason))
        return findings
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type.startswith("multipart/"):
        boundaries = _BOUNDARY.findall(parameters)
        if len(boundaries) != 1 or not 0 < len(boundaries[0].strip()) <= 70:
            reason = "multipart without exactly one valid boundary"
            findings.append(
                _finding("protocol.multipart_boundary", "error", "header:content-type", reason)
            )
    first = sample.body[:64].removeprefix(_BOM).lstrip()[:1]
    if first and first in _forbidden_first_bytes(media_type):
        reason = f"a body whose first byte contradicts its Content-Type {media_type}"
        findings.append(_finding("protocol.content_type_mismatch", "warning", "body", reason))
    return findings


def _forbidden_first_bytes(media_type: str) -> bytes:
    """Bytes no body of this type starts with; empty when the type is not one we know."""
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return b"<"
    if media_type in _XML_TYPES or media_type.endswith("+xml"):
        return b"{["
    if media_type == _FORM_TYPE or media_type.startswith("multipart/"):
        return b"{[<"
    return b""


def _tools(watched: dict[str, list[str]]) -> list[Finding]:
    findings = []
    for agent in watched.get("user-agent", []):
        if _is_scanner_agent(agent):
            reason = "the User-Agent of a known attack tool"
            findings.append(
                _finding(
                    "protocol.scanner_agent",
                    "critical",
                    "header:user-agent",
                    reason,
                    agent,
                    kind=_SCANNER,
                )
            )
    for name in _SCANNER_HEADERS.intersection(watched):
        reason = "a header only a known scanner sends"
        findings.append(
            _finding("protocol.scanner_header", "warning", f"header:{name}", reason, kind=_SCANNER)
        )
    return findings


def _is_scanner_agent(agent: str) -> bool:
    # Clients send the same few User-Agents over and over, and the pattern costs ~10 us.
    if len(agent) <= _CACHED_AGENT_LENGTH:
        return _is_scanner_agent_cached(agent)
    return _SCANNER_AGENT.search(agent.lower()) is not None


@lru_cache(maxsize=1_024)
def _is_scanner_agent_cached(agent: str) -> bool:
    return _SCANNER_AGENT.search(agent.lower()) is not None


def _ranges(values: list[str]) -> list[Finding]:
    findings = []
    for value in values:
        unit, _, specs = value.partition("=")
        if unit.strip().lower() != "bytes":
            continue
        ranges = specs.split(",")
        if len(ranges) > MAX_RANGES:
            reason = f"{len(ranges)} byte ranges, over {MAX_RANGES}"
            findings.append(_finding("protocol.range_abuse", "error", "header:range", reason))
        elif _overlapping(ranges):
            reason = "overlapping byte ranges"
            findings.append(_finding("protocol.range_overlap", "warning", "header:range", reason))
    return findings


def _overlapping(ranges: list[str]) -> bool:
    """True when two `first-last` ranges share a byte (suffix ranges `-n` are skipped)."""
    spans = []
    for spec in ranges:
        first, _, last = spec.strip().partition("-")
        if not _NUMBER.fullmatch(first) or (last and not _NUMBER.fullmatch(last)):
            continue
        spans.append((int(first), int(last) if last else None))
    spans.sort(key=lambda span: span[0])
    for (_, previous_last), (next_first, _) in pairwise(spans):
        if previous_last is None or next_first <= previous_last:
            return True
    return False


def _finding(
    rule: str,
    severity: str,
    slot: str,
    reason: str,
    value: str | None = None,
    *,
    kind: str = "attack.protocol",
) -> Finding:
    return finding(kind, rule, severity, slot, matched=value, reason=reason)
