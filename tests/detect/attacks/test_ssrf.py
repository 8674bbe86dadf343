"""`ssrf.scan` / `ssrf.internal_target`: internal hosts however spelled, public ones not."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from wardgate.decision import Evidence, Location
from wardgate.detect.attacks import ssrf
from wardgate.detect.attacks.model import Part, PartKind
from wardgate.detect.attacks.ssrf import embedded_ipv4, internal_target, ipv4_readings, scan


def _query(value: str, kind: PartKind = PartKind.QUERY, slot: str = "query:url") -> Part:
    return Part(slot, value, kind)


def _fullwidth(ascii_text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in ascii_text)


def _rules(part: Part) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in scan(part)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # the plain forms
        ("http://127.0.0.1/", "loopback"),
        ("http://127.255.10.1:8080/admin", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://172.31.255.254/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "private"),  # carrier-grade NAT
        ("http://169.254.1.1/", "link-local"),
        ("http://0.0.0.0:8000/", "unspecified"),
        # one integer: decimal, octal, hex
        ("http://2130706433/", "loopback"),
        ("http://017700000001/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0X7F000001/", "loopback"),
        # dotted octal and hex, and the two mixed
        ("http://0177.0.0.1/", "loopback"),
        ("http://0177.0000.0000.0001/", "loopback"),
        ("http://0x7f.0x0.0x0.0x1/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
        # short forms: the last part fills the remaining bytes
        ("http://127.1/", "loopback"),
        ("http://127.0.1/", "loopback"),
        ("http://10.1/", "private"),
        ("http://0/", "unspecified"),
        ("http://0x0/", "unspecified"),
        # zero padding read as decimal (old Python ipaddress, some C libraries)
        ("http://0127.0.0.1/", "loopback"),
        ("http://127.000.000.001/", "loopback"),
        # overflowing parts, read wrapped
        ("http://383.0.0.1/", "loopback"),
        ("http://6425673729/", "loopback"),  # 2**32 + 127.0.0.1
        # a trailing dot (the DNS root)
        ("http://127.0.0.1./", "loopback"),
        ("http://localhost./", "localhost-alias"),
        # IPv6: brackets, ports, zone ids
        ("http://[::1]/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
        ("http://[::]/", "unspecified"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        # IPv4 inside IPv6: mapped, compatible, NAT64
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "loopback"),
        ("http://[::127.0.0.1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        # cloud metadata, by address and by name
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://169.254.170.2/v2/credentials", "metadata"),
        ("http://100.100.100.200/latest/meta-data/", "metadata"),
        ("http://192.0.0.192/opc/v2/instance/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://metadata/computeMetadata/v1/", "metadata"),
        ("http://instance-data/latest/", "metadata"),
        ("http://2852039166/", "metadata"),  # 169.254.169.254 as one integer
        # localhost and its aliases
        ("http://localhost/", "localhost-alias"),
        ("http://LOCALHOST:8080/", "localhost-alias"),
        ("http://localhost.localdomain/", "localhost-alias"),
        ("http://api.localhost/", "localhost-alias"),
        ("http://localtest.me/", "localhost-alias"),
        ("http://anything.localtest.me/", "localhost-alias"),
        ("http://lvh.me/", "localhost-alias"),
        ("http://ip6-localhost/", "localhost-alias"),
        # wildcard DNS that spells the address in the name
        ("http://127.0.0.1.nip.io/", "loopback"),
        ("http://app.10.0.0.1.nip.io/", "private"),
        ("http://app-10-0-0-1.nip.io/", "private"),
        ("http://7f000001.nip.io/", "loopback"),
        ("http://0x7f000001.nip.io/", "loopback"),
        # rebinding services: every name is an attempt, even one that spells no address
        ("http://make-1.2.3.4-rebind-169.254-169.254-rr.1u.ms/", "rebinding"),
        ("http://a.rebind.network/", "rebinding"),
        # wildcard DNS on any domain: a name spelling an internal address, then more labels
        ("http://127.0.0.1.example.com/", "loopback"),
        ("http://ssrf-169.254.169.254.example.net/", "metadata"),
        ("http://a.1.2.3.4.1time.127.0.0.1.forever.example/", "loopback"),
        ("http://10.0.0.1.sslip.io/", "private"),
        ("http://--1.sslip.io/", "loopback"),
        ("http://169.254.169.254.xip.io/", "metadata"),
        # names under private-use suffixes
        # the Kubernetes API server is every pod's metadata service
        ("http://kubernetes.default.svc/api", "metadata"),
        ("https://kubernetes.default.svc.cluster.local/api/v1/secrets", "metadata"),
        ("http://metadata.tencentyun.com/latest/meta-data/", "metadata"),
        ("http://db.internal:5432/", "internal-name"),
        ("http://printer.local/", "internal-name"),
        # fullwidth, enclosed and ideographic forms (NFKC)
        ("http://①②⑦.⓪.⓪.①/", "loopback"),
        ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "localhost-alias"),
        ("http://" + _fullwidth("127.0.0.1") + "/", "loopback"),
        ("http://⑯⑨。②⑤④。⑯⑨｡②⑤④/", "metadata"),
        (_fullwidth("http://127.0.0.1/"), "loopback"),
        # percent-encoding inside the host, once or twice
        ("http://%31%32%37.0.0.1/", "loopback"),
        ("http://%2531%2532%2537.0.0.1/", "loopback"),
        ("http://[::1%25lo]/", "loopback"),
        # a NUL ends the host for C string handling
        ("http://127.0.0.1%00.example.com/", "loopback"),
        # tabs and newlines are dropped by WHATWG parsers
        ("http://12\t7.0.0.1/", "loopback"),
        # special schemes need no slashes, or take any number of them, or backslashes
        ("http:127.0.0.1/", "loopback"),
        ("http:/127.0.0.1/", "loopback"),
        ("https:///127.0.0.1/", "loopback"),
        ("http:\\\\127.0.0.1\\", "loopback"),
        # protocol-relative
        ("//127.0.0.1/", "loopback"),
        ("//[::1]/", "loopback"),
        # other schemes are judged by their host
        ("ftp://10.0.0.1/pub", "private"),
        ("sftp://192.168.0.10/", "private"),
        ("ws://localhost:8080/socket", "localhost-alias"),
        ("redis://127.0.0.1:6379/0", "loopback"),
    ],
)
def test_internal_hosts_are_read_through_their_spellings(url: str, reason: str) -> None:
    assert internal_target(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        # userinfo: the host is after the last @
        "http://trusted.example@127.0.0.1/",
        "http://user:pass@127.0.0.1:8080/",
        # WHATWG ends the authority at # ? \ (the host is 127.0.0.1) ...
        "http://127.0.0.1#@trusted.example/",
        "http://127.0.0.1?@trusted.example/",
        "http://127.0.0.1\\@trusted.example/",
        # ... and parsers that do not, or that split at the first @, reach 127.0.0.1 here
        "http://trusted.example#@127.0.0.1/",
        "http://trusted.example\\@127.0.0.1/",
        "http://a@127.0.0.1@trusted.example/",
        "http://trusted.example@127.0.0.1:80@example.com/",
        # three Python URL libraries, three hosts: one of them internal
        "http://1.1.1.1 &@127.0.0.1# @3.3.3.3/",
        # an encoded @
        "http://trusted.example%40127.0.0.1/",
        "http://[::ffff:7f00:1]:8080@trusted.example@[::ffff:7f00:1]/",
        # an internal address as the userinfo: a host to parsers that stop at the first @
        "http://169.254.169.254@trusted.example/",
    ],
)
def test_any_parser_reaching_an_internal_host_counts(url: str) -> None:
    assert scan(_query(url)) != []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/x",
        "https://example.com:8443/path?q=1#frag",
        "http://8.8.8.8/",
        "http://1.1.1.1:53/",
        "http://[2001:4860:4860::8888]/",
        "http://[::ffff:8.8.8.8]/",
        "https://user@example.com/",
        # an internal-looking name under a public domain resolves wherever its owner says
        "http://localhost.example.com/",
        "http://v1.2.3.4.example.com/",
        "http://1.0.0.127.in-addr.arpa/",
        "http://1.1.1.1.nip.io/",
        "http://metadata.example.com/",
        # just outside the private ranges
        "http://172.32.0.1/",
        "http://100.128.0.1/",
        "http://11.0.0.1/",
        "http://169.255.0.1/",
        # an internal address in the path or query is the public host's business
        "https://example.com/?ip=127.0.0.1",
        "https://example.com/lookup/10.0.0.1",
    ],
)
def test_public_hosts_are_not_internal(url: str) -> None:
    assert internal_target(url) is None
    assert scan(_query(url)) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # gopher, dict and tftp speak raw bytes to internal services
        (
            "gopher://127.0.0.1:6379/_SET%20a%20b",
            [("ssrf.scheme", "critical"), ("ssrf.loopback", "critical")],
        ),
        ("gopher://evil.example/_x", [("ssrf.scheme", "critical")]),
        ("dict://evil.example:11211/stat", [("ssrf.scheme", "critical")]),
        ("tftp://evil.example/file", [("ssrf.scheme", "critical")]),
        # local files, whatever the host
        ("file:///etc/passwd", [("ssrf.scheme", "critical")]),
        ("file://localhost/etc/passwd", [("ssrf.scheme", "critical")]),
        ("file:/etc/passwd", [("ssrf.scheme", "critical")]),
        ("FILE:///C:/Windows/win.ini", [("ssrf.scheme", "critical")]),
        ("netdoc:///etc/passwd", [("ssrf.scheme", "critical")]),
        ("netdoc:/etc/passwd", [("ssrf.scheme", "critical")]),
        # Java fetches and opens the archive
        ("jar:http://evil.example/x.jar!/a.class", [("ssrf.scheme", "critical")]),
        (
            "jar:https://10.0.0.1/x.jar!/",
            [("ssrf.scheme", "critical"), ("ssrf.private", "critical")],
        ),
        ("ldap://evil.example/a", [("ssrf.scheme", "critical")]),
        ("sftp://evil.example:11111/", [("ssrf.scheme", "critical")]),
        # left to other detectors: PHP wrappers
        ("php://filter/resource=index.php", []),
        # not a file URL: no slash after the colon
        ("file:report.pdf", []),
    ],
)
def test_dangerous_schemes(value: str, expected: list[tuple[str, str]]) -> None:
    assert _rules(_query(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a bare internal host:port in a parameter is an error, not critical
        ("127.0.0.1:8080", [("ssrf.bare_target", "error")]),
        ("10.0.0.5:6379", [("ssrf.bare_target", "error")]),
        # ... but a raw-text service on the local host (Redis, memcached, Docker) is critical
        ("localhost:6379", [("ssrf.local_service", "critical")]),
        ("127.0.0.1:11211", [("ssrf.local_service", "critical")]),
        ("0.0.0.0:2375", [("ssrf.local_service", "critical")]),
        ("redis at localhost:6379", [("ssrf.bare_target", "error")]),  # a mention, not a target
        ("10.0.0.5:5432", [("ssrf.bare_target", "error")]),
        ("[::1]:80", [("ssrf.bare_target", "error")]),
        ("0x7f000001:80", [("ssrf.bare_target", "error")]),
        ("0177.0.0.1:22", [("ssrf.loopback", "critical"), ("ssrf.bare_target", "error")]),
        ("the cache is at 192.168.0.3:11211 today", [("ssrf.bare_target", "error")]),
        # a bare metadata address stays critical
        ("169.254.169.254:80", [("ssrf.metadata", "critical")]),
        ("metadata.google.internal:80", [("ssrf.metadata", "critical")]),
        # not targets: no port, a public host, times, versions, ids, an internal name alone
        ("127.0.0.1", []),
        ("localhost", []),
        ("1.2.3.4", []),
        ("8.8.8.8:53", []),
        ("12:30", []),
        ("10:30:45", []),
        ("2024-05-01T12:30:45Z", []),
        ("v1.2.3.4:5", []),
        ("2130706433", []),
        ("127:80", []),
        ("redis.internal:6379", []),
        ("user@127.0.0.1:22", []),
        ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", []),
    ],
)
def test_bare_targets(value: str, expected: list[tuple[str, str]]) -> None:
    assert _rules(_query(value, slot="query:q")) == expected


@pytest.mark.parametrize(
    ("slot", "value", "expected"),
    [
        # a parameter named for what the server fetches: a bare internal host is a target
        ("query:url", "127.0.0.1", [("ssrf.loopback", "critical")]),
        ("query:url", "localtest.me", [("ssrf.localhost", "critical")]),
        (
            "query:url",
            "127.0.0.1:8080",
            [("ssrf.loopback", "critical"), ("ssrf.bare_target", "error")],
        ),
        ("query:image_url", "169.254.169.254/latest/meta-data/", [("ssrf.metadata", "critical")]),
        ("json:hooks[0].callbackUrl", "10.0.0.7/hook", [("ssrf.private", "critical")]),
        ("form:feedUrl", "customer1.app.127.0.0.1.nip.io", [("ssrf.loopback", "critical")]),
        ("query:webhook", "user@[::1]", [("ssrf.loopback", "critical")]),
        ("query:proxy", "db.internal", [("ssrf.internal_name", "error")]),
        # spelled so a deny-list comparing strings lets it by
        ("query:url", "attacker\u3002com", [("ssrf.obfuscated_host", "critical")]),
        ("query:url", "\u24b6\u24c9\u24c9.com", [("ssrf.obfuscated_host", "critical")]),
        ("query:url", "attacker%00.com", [("ssrf.obfuscated_host", "critical")]),
        # whatever follows the host, and however the name is spelled
        ("query:url", "127.0.0.1\t/admin", [("ssrf.loopback", "critical")]),
        ("query:image_url", "169.254.169.254/?p=" + "A" * 600, [("ssrf.metadata", "critical")]),
        ("query:url2", "localtest.me", [("ssrf.localhost", "critical")]),
        ("json:callback_url_v2", "10.1.2.3", [("ssrf.private", "critical")]),
        ("query:url", "0/admin", [("ssrf.unspecified", "critical")]),
        ("query:url", "2130706433", [("ssrf.loopback", "critical")]),
        # a host typed wholly in fullwidth forms is what an input method produces: an error
        (
            "query:url",
            "\uff57\uff57\uff57\uff0e\uff45\uff58\uff0e\uff43\uff4f\uff4d",
            [("ssrf.obfuscated_host", "error")],
        ),
        # not targets: public hosts, flags, sentences, real internationalised names
        ("query:url", "example.com", []),
        ("query:url", "0", []),
        ("query:url", "1", []),
        ("query:url", "m\u00fcnchen.de", []),
        ("query:url", "see 127.0.0.1 for details", []),
        ("query:q", "localtest.me", []),
        ("query:version", "127.1", []),
        ("query:urlencoded", "127.0.0.1", []),
        ("query:#k12feed34", "127.0.0.1", []),  # a digest's hex letters spell no name
        # a custom header named for a fetch target is a parameter; other headers are not
        ("header:x-callback-url", "127.0.0.1:8080/cb", [("ssrf.loopback", "critical")]),
        ("header:x-callback-url", "localhost:3000/cb", [("ssrf.localhost", "critical")]),
        ("header:x-callback-url", "10.0.0.5:8080/cb", [("ssrf.private", "error")]),
        ("header:x-callbackurl", "127.0.0.1", [("ssrf.loopback", "critical")]),
        ("header:x-upstream-proxy", "10.0.0.1:3128", []),  # services pass their own
        ("header:x-download-link", "10.0.0.8/file.zip", []),
        ("query:url", "127.1:80", [("ssrf.loopback", "critical")]),  # a port: not a version
        ("header:x-forwarded-host", "127.0.0.1", []),
        ("header:x-real-ip", "0x7f.0x0.0x0.0x1", []),
        # names of where something runs or points, not of what is fetched
        ("json:host", "0.0.0.0", []),
        ("json:dnsServer", "192.168.1.1", []),
        ("json:image", "localhost:5000/app:latest", [("ssrf.bare_target", "error")]),
        ("json:endpoint", "kubernetes.default.svc", []),
        ("json:deploymentTarget", "10.15", []),
        ("json:target", "0.5", []),
        # numbers, words, networks and text in a fetch parameter
        ("json:link", "12345678", []),
        ("json:link", "kubernetes", []),
        ("json:url", "0.27.1", []),
        ("json:url", "10.12.2024", []),
        ("json:proxy", "10.0.0.0/8", []),
        ("json:link", "more\u2026", []),
        ("json:src", "\u5199\u771f\uff11.jpg", []),
        ("json:link", "\u5b8c\u6210\u3002", []),
        ("query-key:url", "127.0.0.1", []),
    ],
)
def test_bare_hosts_in_target_parameters(
    slot: str, value: str, expected: list[tuple[str, str]]
) -> None:
    kinds = {"query-key": PartKind.KEY, "header": PartKind.HEADER}
    kind = kinds.get(slot.partition(":")[0], PartKind.QUERY)
    assert _rules(Part(slot, value, kind)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # forms nobody writes by accident, in any parameter
        ("0x7f.0x00.0x00.0x01", [("ssrf.loopback", "critical")]),
        ("0177.0000.0000.0001", [("ssrf.loopback", "critical")]),
        ("127.000.000.001", [("ssrf.loopback", "critical")]),
        ("127\u30020\u30020\u30021", [("ssrf.loopback", "critical")]),
        ("127%E3%80%820%E3%80%820%E3%80%821", [("ssrf.loopback", "critical")]),
        ("\u2460\u2461\u2466.\u24ea.\u24ea.\u24ea", [("ssrf.loopback", "critical")]),
        ("[0000::1]", [("ssrf.loopback", "critical")]),
        ("[0:0:0:0:0:ffff:127.0.0.1]", [("ssrf.loopback", "critical")]),
        ("[::ffff:a9fe:a9fe]", [("ssrf.metadata", "critical")]),
        ("0xa9.0xfe.0xa9.0xfe", [("ssrf.metadata", "critical")]),
        ("0x7f.1", [("ssrf.loopback", "critical")]),
        ("0177.1", [("ssrf.loopback", "critical")]),
        # odd but not attacks out of a fetch parameter: padded private addresses, masks,
        # longhand link-local literals are errors only
        ("192.168.001.010", [("ssrf.private", "error")]),
        ("000.000.000.000", [("ssrf.unspecified", "error")]),
        ("[fe80:0:0:0:a00:27ff:fe4e:66a1]", [("ssrf.link_local", "error")]),
        # the usual spellings stay unflagged: versions, ids, plain addresses
        ("127.0.0.1", []),
        ("127.1", []),
        ("2130706433", []),
        ("01.02.03.04", []),
        ("0x7f000001", []),
        ("[::1]", []),
        ("[::]", []),
        ("[fe80::1%eth0]:8080", [("ssrf.bare_target", "error")]),  # canonical, with a zone
        ("00.02.00.15", []),  # a firmware version
        ("127.0.0.1/\u00e9", []),  # the path is not the host
        ("127.0.0.1/a%20b", []),
    ],
)
def test_obfuscated_bare_addresses(value: str, expected: list[tuple[str, str]]) -> None:
    assert _rules(_query(value, slot="query:q")) == expected


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        # headers: only metadata addresses and dangerous schemes
        (Part("header:referer", "http://localhost:3000/", PartKind.HEADER), []),
        (Part("header:origin", "http://127.0.0.1:8080", PartKind.HEADER), []),
        (Part("header:x-target", "10.0.0.1:80", PartKind.HEADER), []),
        (
            Part("header:referer", "http://169.254.169.254/", PartKind.HEADER),
            [("ssrf.metadata", "critical")],
        ),
        (
            Part("header:x-url", "gopher://evil.example/_x", PartKind.HEADER),
            [("ssrf.scheme", "critical")],
        ),
        # address headers carry addresses by design
        (Part("header:x-forwarded-for", "169.254.169.254, 10.0.0.1", PartKind.HEADER), []),
        (Part("header:host", "169.254.169.254", PartKind.HEADER), []),
        (Part("header:X-Real-IP", "127.0.0.1", PartKind.HEADER), []),
        # a chat message is never scanned
        (Part("json:messages[0].content", "see http://127.0.0.1:8000/", PartKind.TEXT), []),
        # a path that starts with // is not a protocol-relative URL
        (Part("path", "//127.0.0.1/x", PartKind.PATH), []),
        (Part("path[1]", "http://127.0.0.1", PartKind.PATH), [("ssrf.loopback", "critical")]),
        # URLs inside JSON, form and raw bodies
        (
            Part("json:tool.url", "http://169.254.169.254/latest", PartKind.BODY),
            [("ssrf.metadata", "critical")],
        ),
        (
            Part("body", '{"a": "http://127.0.0.1/", "b": "//10.0.0.1/x"}', PartKind.RAW),
            [("ssrf.loopback", "critical"), ("ssrf.private", "critical")],
        ),
        (
            Part("cookie:next", "http://localhost/", PartKind.COOKIE),
            [("ssrf.localhost", "critical")],
        ),
        (Part("json:url", "http://db.internal/", PartKind.BODY), [("ssrf.internal_name", "error")]),
        # protocol-relative, and a UNC path (Windows fetches it over SMB)
        (_query("//127.0.0.1/x"), [("ssrf.loopback", "critical")]),
        (_query("\\\\10.0.0.1\\share"), [("ssrf.private", "critical")]),
        # a time is still a time after a URL whose host reads the same
        (_query("http://10/ 10:30"), [("ssrf.unspecified", "critical")]),
        # a URL after another in text
        (_query("fetch https://example.com then http://[::1]/"), [("ssrf.loopback", "critical")]),
        # percent-encoded once more than the extractor decoded, twice more
        (_query("http%3A%2F%2F127.0.0.1%2F"), [("ssrf.loopback", "critical")]),
        (_query("http%253A%252F%252F10.0.0.1"), [("ssrf.private", "critical")]),
    ],
)
def test_where_it_applies(part: Part, expected: list[tuple[str, str]]) -> None:
    assert _rules(part) == expected


def test_a_finding_names_the_url_but_does_not_carry_it() -> None:
    url = "http://0x7f000001/admin"
    (finding,) = scan(_query(f"go to {url} now"))
    assert finding.kind == "attack.ssrf"
    assert finding.rule == "ssrf.loopback"
    assert finding.score == 5.0
    assert finding.location == Location("query:url")
    assert finding.evidence == Evidence.of(url)
    assert "0x7f" not in finding.reason


def test_each_rule_is_reported_once_per_part() -> None:
    value = "http://127.0.0.1/ http://127.0.0.2/ 127.0.0.3:80 http://10.0.0.1/"
    assert [f.rule for f in scan(_query(value))] == [
        "ssrf.loopback",
        "ssrf.private",
        "ssrf.bare_target",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "hello",
        "José María Pérez",
        "Calle Mayor 5, 2º B, 28013 Madrid",
        "/api/v1/users/42",
        "https://example.com/callback?code=abc&state=xyz",
        "mailto:juan@example.es",
        "git@github.com:org/repo.git",
        "data:image/png;base64,iVBORw0KGgo//8AAAA/N+/aa",
        "C:\\Users\\me\\file.txt",
        "\\\\fileserver\\share",
        "text/html; charset=utf-8",
        "50% off",
        "a/b//c",
        "// a comment",
        "<base href=//0>",
        "s3://bucket/key",
        "",
    ],
)
def test_ordinary_values_are_clean(value: str) -> None:
    for kind in (PartKind.QUERY, PartKind.BODY, PartKind.RAW, PartKind.HEADER):
        assert scan(_query(value, kind)) == []


def test_a_value_packed_with_candidates_is_read_in_bounded_time() -> None:
    decoys = " ".join(f"http://h{i}.example.com/" for i in range(5_000))
    findings = scan(_query(decoys + " http://127.0.0.1/", PartKind.RAW))
    assert [(f.rule, f.severity) for f in findings] == [("ssrf.unscanned", "notice")]


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("127.0.0.1", {"127.0.0.1"}),
        ("2130706433", {"127.0.0.1"}),
        ("0x7f.1", {"127.0.0.1"}),
        ("0177.1", {"127.0.0.1", "177.0.0.1"}),
        ("0x", {"0.0.0.0"}),
        ("0128.0.0.1", {"128.0.0.1"}),  # not octal: only the decimal reading
        ("300.0.0.1", {"44.0.0.1"}),
        ("1.2.3.4.5", set()),
        ("example.com", set()),
        ("0xg1", set()),
        ("1..1", set()),
        ("9" * 50, set()),
    ],
)
def test_ipv4_readings(host: str, addresses: set[str]) -> None:
    assert {str(ipaddress.IPv4Address(n)) for n in ipv4_readings(host)} == addresses


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
        ("64:ff9b::808:808", "8.8.8.8"),
        ("::1", None),
        ("::", None),
        ("2001:db8::1", None),
    ],
)
def test_embedded_ipv4(address: str, embedded: str | None) -> None:
    number = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (None if number is None else str(ipaddress.IPv4Address(number))) == embedded


def test_public_names() -> None:
    assert ssrf.__all__ == [
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
    assert ssrf.KIND == "attack.ssrf"


_PIECES = "http gopher file jar netdoc // %25 %2f 0x 7f 127 ::ffff: :: localhost nip.io :80"
_URLISH = st.lists(
    st.sampled_from([*":/\\@#?[]%.01 \t\x00\u2460\u3002\uff48\udc80", *_PIECES.split()]),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.text(), _URLISH), kind=st.sampled_from(list(PartKind)))
def test_never_raises(value: str, kind: PartKind) -> None:
    for slot in ("query:url", "header:referer"):
        for finding in scan(Part(slot, value, kind)):
            assert finding.kind == "attack.ssrf"
    internal_target(value)
