"""Transforms that undo the encodings attackers use to slip payloads past signatures.

A signature for `../` or `<script` misses `%252e%252e%252f`, `%c0%ae%c0%af`, `&#x3c;script`,
`PHNjcmlwdD4=` and `<script` in fullwidth letters, yet servers, frameworks and browsers
decode all of these before the payload does its harm; an engine must decode them too, the
way they do, before it matches. Each transform is a pure function of a string, total (any
string in, never an exception) and linear in its length, with no regular expression that
can backtrack catastrophically: values reach 128 KB and attackers choose them. Engines
call these on every client-controlled value, and most values are short plain ASCII with
nothing to decode, so each transform first checks, cheaply, whether it has work to do.

`decode_variants` is what engines call: the distinct forms of a value worth scanning. The
`str -> str` transforms are also named in `TRANSFORMS`, so that a signature can ask for one
on top of the decoded form (`sql_collapse` for SQL, `path_normalize` for traversal).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Mapping
from html.entities import html5
from types import MappingProxyType

__all__ = [
    "TRANSFORMS",
    "base64_text",
    "casefold",
    "climbs_above_root",
    "collapse_whitespace",
    "decode_variants",
    "html_entities",
    "nfkc",
    "path_normalize",
    "sql_collapse",
    "unicode_escapes",
    "url_decode",
    "url_decode_all",
    "utf8_overlong",
]

_PERCENT_RUN = re.compile(r"%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*")
_LATIN1_FOR_ESCAPED_BYTE = {0xDC00 + byte: byte for byte in range(0x80, 0x100)}


def url_decode(s: str, *, plus_as_space: bool = False) -> str:
    """Decode one layer of percent-encoding, as a lenient server does.

    Runs of escapes are decoded together as UTF-8 (`%c3%a9` is `é`); a byte that is not part
    of valid UTF-8 becomes the Latin-1 character of the same value (`%ff` is `ÿ`, `%c0%ae`
    is `À®`, which `utf8_overlong` understands). Invalid escapes (`%zz`, `%u0041`, a lone
    `%`) stay as written. With `plus_as_space`, `+` is a space, as in form bodies.

    >>> url_decode("%2e%2e%2f%zz")
    '../%zz'
    """
    if plus_as_space and "+" in s:
        s = s.replace("+", " ")
    if "%" not in s:
        return s
    return _PERCENT_RUN.sub(_decode_percent_run, s)


def url_decode_all(s: str, max_passes: int = 4) -> str:
    """Percent-decode until nothing changes, at most `max_passes` times.

    Undoes double and triple encoding (`%252e%252e%252f` is `../`) that slips past a filter
    which decodes once while the application, or a proxy in front of it, decodes again.
    """
    for _ in range(max_passes):
        decoded = url_decode(s)
        if decoded == s:
            break
        s = decoded
    return s


def _decode_percent_run(match: re.Match[str]) -> str:
    return _bytes_to_text(bytes.fromhex(match.group().replace("%", "")))


def _bytes_to_text(data: bytes) -> str:
    """UTF-8 where the bytes are valid UTF-8, one Latin-1 character per byte where not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape").translate(_LATIN1_FOR_ESCAPED_BYTE)


# The sequences no valid UTF-8 contains that decode to a character: C0 and C1 leads, E0 and
# F0 leads followed by a byte that makes the value fit fewer bytes, and the 5- and 6-byte
# forms of the original UTF-8.
_OVERLONG_PERCENT = re.compile(
    r"%c[01]%[89ab][0-9a-f]"
    r"|%e0%[89][0-9a-f]%[89ab][0-9a-f]"
    r"|%f0%8[0-9a-f](?:%[89ab][0-9a-f]){2}"
    r"|%f8(?:%[89ab][0-9a-f]){4}"
    r"|%fc(?:%[89ab][0-9a-f]){5}",
    re.IGNORECASE,
)
_OVERLONG_LEAD = re.compile("[\xc0\xc1\xe0\xf0\xf8\xfc]")
_OVERLONG_RAW = re.compile(
    "[\xc0\xc1][\x80-\xbf]"
    "|\xe0[\x80-\x9f][\x80-\xbf]"
    "|\xf0[\x80-\x8f][\x80-\xbf]{2}"
    "|\xf8[\x80-\xbf]{4}"
    "|\xfc[\x80-\xbf]{5}"
)


def utf8_overlong(s: str) -> str:
    """Decode overlong UTF-8 sequences to the character they spell.

    Old IIS, Tomcat and many hand-written decoders accept `%c0%ae` as `.` and `%c0%af` or
    `%e0%80%af` as `/`, so `%c0%ae%c0%ae%c0%af` climbs a directory while no filter sees a
    dot. Both spellings are understood: percent-encoded, and "raw", the Latin-1 characters
    `url_decode` leaves for bytes that are not valid UTF-8 (`À®`), so
    `utf8_overlong(url_decode(s))` gives the attacker's intent. A sequence whose value is a
    surrogate or beyond U+10FFFF stays as written.

    >>> utf8_overlong("%c0%ae%c0%ae%c0%afetc")
    '../etc'
    """
    if s.isascii():
        return _OVERLONG_PERCENT.sub(_decode_overlong_percent, s) if "%" in s else s
    if "%" in s:
        s = _OVERLONG_PERCENT.sub(_decode_overlong_percent, s)
    if not _OVERLONG_LEAD.search(s):
        return s
    return _OVERLONG_RAW.sub(_decode_overlong_raw, s)


def _decode_overlong_percent(match: re.Match[str]) -> str:
    return _overlong_char(bytes.fromhex(match.group().replace("%", ""))) or match.group()


def _decode_overlong_raw(match: re.Match[str]) -> str:
    return _overlong_char(match.group().encode("latin-1")) or match.group()


def _overlong_char(sequence: bytes) -> str | None:
    value = sequence[0] & (0x7F >> len(sequence))
    for byte in sequence[1:]:
        value = value << 6 | byte & 0x3F
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return None
    return chr(value)


# Every alternative starts with `%` or a backslash, which lets the regex engine skip
# straight to those characters. A UTF-16 surrogate pair, two escapes, is one character.
_UNICODE_ESCAPE = re.compile(
    r"%[uU](?:(?P<iis_high>[dD][89abAB][0-9a-fA-F]{2})"
    r"%[uU](?P<iis_low>[dD][c-fC-F][0-9a-fA-F]{2})|(?P<iis_unit>[0-9a-fA-F]{4}))"
    r"|\\(?:u(?:(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?P<unit>[0-9a-fA-F]{4})|\{0*(?P<braced>[0-9a-fA-F]{1,6})\})"
    r"|(?P<bytes>x[0-9a-fA-F]{2}(?:\\x[0-9a-fA-F]{2})*)"
    # CSS, long forms only (a short `\3c` is too often part of a Windows path): at most six
    # digits, then one optional space
    r"|(?:0000(?P<css6>[0-9a-fA-F]{2})|000?(?P<css>[0-9a-fA-F]{2})(?![0-9a-fA-F]))[ \t\n\f]?)"
)


def unicode_escapes(s: str) -> str:
    r"""Decode the backslash and `%u` escapes of IIS, JavaScript, JSON, Python and CSS.

    `%u003c` (IIS) and `\u003c` are UTF-16 code units, and a surrogate pair in either
    spelling is one character; `\u{1F600}` is a code point; a run of `\xNN` is bytes,
    decoded like `url_decode` decodes a run of escapes; `\00003c` is CSS. A lone surrogate,
    or a value beyond U+10FFFF, stays as written; so do octal escapes and short CSS escapes,
    which Windows paths (`C:\dev\abc`) would trigger.

    >>> unicode_escapes(r"%u003cscript\x3e\u{61}")
    '<script>a'
    """
    if "\\" not in s and "%u" not in s and "%U" not in s:
        return s
    return _UNICODE_ESCAPE.sub(_decode_unicode_escape, s)


def _decode_unicode_escape(match: re.Match[str]) -> str:
    if high := match.group("high") or match.group("iis_high"):
        low = match.group("low") or match.group("iis_low")
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10 | (int(low, 16) - 0xDC00)))
    if run := match.group("bytes"):
        return _bytes_to_text(bytes.fromhex(run[1:].replace("\\x", "")))
    digits = match.group("unit") or match.group("iis_unit") or match.group("braced")
    value = int(digits or match.group("css6") or match.group("css"), 16)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return match.group()
    return chr(value)


_CHARACTER_REFERENCE = re.compile(
    r"&(?:#[xX](?P<hex>[0-9a-fA-F]+)|#(?P<decimal>[0-9]+)|(?P<name>[A-Za-z][A-Za-z0-9]{0,31}))"
    r"(?P<semicolon>;?)"
)
# HTML5 reads the C1 range of numeric references as Windows-1252 (`&#128;` is the euro);
# the five undefined bytes are left as they are.
_WINDOWS_1252 = {
    byte: char for byte in range(0x80, 0xA0) if (char := bytes([byte]).decode("cp1252", "ignore"))
}
_MAX_DIGITS = {16: 6, 10: 7}


def html_entities(s: str, max_passes: int = 4) -> str:
    """Decode HTML character references as a browser does, repeating for double encoding.

    Named references (`&lt;`, and the legacy names browsers accept without the semicolon,
    `&ltscript`), decimal and hexadecimal ones with or without the semicolon and with any
    number of leading zeros (`&#0000060`). As in HTML5, zero, surrogates and values beyond
    U+10FFFF are U+FFFD and `&#128;` to `&#159;` are Windows-1252. Up to `max_passes`
    passes undo `&amp;lt;` and `&#38;#60;`. Unlike `html.unescape`, huge numbers do not
    raise.

    >>> html_entities("&#0000060;img src=x onerror&#x3d;alert(1)&gt")
    '<img src=x onerror=alert(1)>'
    """
    for _ in range(max_passes):
        if "&" not in s:
            break
        decoded = _CHARACTER_REFERENCE.sub(_decode_reference, s)
        if decoded == s:
            break
        s = decoded
    return s


def _decode_reference(match: re.Match[str]) -> str:
    if digits := match.group("hex"):
        return _numeric_reference(digits, 16)
    if digits := match.group("decimal"):
        return _numeric_reference(digits, 10)
    name, semicolon = match.group("name"), match.group("semicolon")
    if semicolon and (char := html5.get(name + ";")) is not None:
        return char
    for end in range(len(name), 1, -1):
        if (char := html5.get(name[:end])) is not None:
            return char + name[end:] + semicolon
    return match.group()


def _numeric_reference(digits: str, base: int) -> str:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS[base]:
        return "\ufffd"
    value = int(significant or "0", base)
    if value == 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "\ufffd"
    return _WINDOWS_1252.get(value) or chr(value)


# NUL and the format characters (Unicode category Cf) as of Unicode 15.1, so that newer
# Pythons remove them too; a test checks the list against the running `unicodedata`. Those
# beyond the BMP are a separate class, searched only when there is such a character: a
# class with them is not a bitmap for the regex engine, and ten times slower.
_INVISIBLE = re.compile(
    "[\x00\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_INVISIBLE_ASTRAL = re.compile(
    "[\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def nfkc(s: str) -> str:
    r"""Unicode NFKC, after removing NUL and invisible format characters.

    NFKC folds compatibility forms to their plain letters (fullwidth `\uff1cscript\uff1e`,
    ligatures, superscripts, circled and mathematical letters); the zero-width space and
    joiners, bidi controls, the soft hyphen and the BOM split a keyword for a signature
    but not for the browser or the database that ignores them.

    >>> nfkc("\uff1c\uff53cript\uff1eal\u200bert")
    '<script>alert'
    """
    if s.isascii():
        return s.replace("\x00", "") if "\x00" in s else s
    s = _INVISIBLE.sub("", s)
    if _ASTRAL.search(s):
        s = _INVISIBLE_ASTRAL.sub("", s)
    return unicodedata.normalize("NFKC", s)


def casefold(s: str) -> str:
    r"""Unicode case folding (`str.casefold`): `SeLeCt` and `\u017felect` both become `select`."""
    return s.casefold()


_WHITESPACE_RUN = re.compile(r"\s+")


def collapse_whitespace(s: str) -> str:
    """Replace every run of whitespace by one space; the ends are kept, not stripped.

    Whitespace is Unicode's: tab, newline, vertical tab, form feed, the no-break space and
    the other spaces of category Zs, the line and paragraph separators.
    """
    # Every whitespace character but the space itself is unprintable.
    if "  " not in s and s.isprintable():
        return s
    return _WHITESPACE_RUN.sub(" ", s)


# `/*!50000 ... */` (MySQL) and `/*M!100100 ... */` (MariaDB) are code, not comments.
# An unterminated comment runs to the end, as attackers use it to cut off a query's tail.
_BLOCK_COMMENT = re.compile(
    r"/\*(?:(?P<executable>M!(?:\d{6}|\d{5})?|!(?:\d{5})?))?(?P<body>.*?)(?:\*/|\Z)",
    re.DOTALL,
)
_LINE_COMMENT = re.compile(r"(?:--|#)[^\n]*\n")


def sql_collapse(s: str) -> str:
    r"""Strip SQL comments the way a database does, then `collapse_whitespace`.

    A block comment becomes a space (`union/**/select` is `union select`); the body of a
    MySQL or MariaDB executable comment is kept between spaces (`/*!50000union*/` is
    ` union `). A `--` or `#` comment is removed only where a newline ends it
    (`union#x\nselect`): one that runs to the end of the value is left, as signatures look
    for that trailing comment itself (`' or 1=1--`).

    >>> sql_collapse("1/*!50000union*//**/select\v1")
    '1 union select 1'
    """
    if "/*" in s:
        s = _BLOCK_COMMENT.sub(_comment_replacement, s)
    if "\n" in s and ("#" in s or "--" in s):
        # Only up to the last newline, so that every comment searched for has a newline
        # ahead: a `#` with none would be scanned to the end, from each `#` in turn.
        head, newline, last_line = s.rpartition("\n")
        s = _LINE_COMMENT.sub("\n", head + newline) + last_line
    return collapse_whitespace(s)


def _comment_replacement(match: re.Match[str]) -> str:
    return f" {match.group('body')} " if match.group("executable") is not None else " "


_DRIVE = re.compile(r"[A-Za-z]:/")
# Windows drops trailing dots and spaces from a name, Tomcat drops `;parameters`, and a
# filter that strips `../` once turns `....//` into `../`: all of these climb.
_DOT_SEGMENT = re.compile(r"\.[. ]*(?:;.*)?", re.DOTALL)
_CLIMB = re.compile(r"(?:[A-Za-z]:)?/?\.\.(?:/|\Z)")


def path_normalize(s: str) -> str:
    """Resolve a path lexically, keeping every climb above its root as a leading `../`.

    Backslashes are slashes, runs of slashes one slash, and everything from a NUL on is
    dropped (C file APIs stop there: `passwd%00.png`). `.` segments go; `..` removes the
    segment before it, and where there is none it climbs and is kept, so
    `a/../../etc/passwd` is `../etc/passwd` and `/a/../../etc` is `/../etc`, whereas a
    harmless `/static/../index.html` is `/index.html`. A segment of two or more dots, with
    trailing dots, spaces or `;parameters` (`....`, `.. `, `..;`) counts as `..`. A drive
    (`C:/`), like a leading `/`, is a root. The input should already be decoded
    (`url_decode_all`); `climbs_above_root` says whether the result climbs.

    >>> path_normalize("....//....//etc/passwd")
    '../../etc/passwd'
    """
    if (
        "/." not in s
        and "\\" not in s
        and "//" not in s
        and "\x00" not in s
        and not s.startswith(".")
    ):
        return s
    path = s.partition("\x00")[0].replace("\\", "/")
    root = "/" if path.startswith("/") else ""
    if drive := _DRIVE.match(path):
        root = drive.group()
    climbs = 0
    kept: list[str] = []
    for segment in path[len(root) :].split("/"):
        if not segment:
            continue
        if not _DOT_SEGMENT.fullmatch(segment):
            kept.append(segment)
        elif segment.partition(";")[0].count(".") >= 2:
            if kept:
                kept.pop()
            else:
                climbs += 1
    parts = [".."] * climbs + kept
    if not parts:
        return root or ("." if path else "")
    return root + "/".join(parts) + ("/" if path.endswith("/") else "")


def climbs_above_root(s: str) -> bool:
    """True when `path_normalize(s)` still climbs above the path's root or start.

    >>> climbs_above_root("/img/../../etc/passwd")
    True
    """
    return _CLIMB.match(path_normalize(s)) is not None


# Six characters hold four bytes: `| id` is `fCBpZA`. Shorter decodes are noise.
_BASE64_WHOLE = re.compile(r"\s*(?=[A-Za-z0-9+/_=-]{6})[A-Za-z0-9+/_-]+={0,2}\s*")
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MIN_PRINTABLE_SHARE = 0.9
_MIN_CHARS_FOR_NON_ASCII = 32


def base64_text(s: str) -> str | None:
    """Decode base64 (or base64url, padding optional) that hides text; None when there is none.

    The whole value, stripped, counts when it is at least 8 characters long, padding
    included; otherwise each run of 16 or more base64 characters in it (a `data:` URI, an
    `atob('...')` argument, a JWT segment) is tried and replaced in place. A candidate
    decodes only to strict UTF-8 that is at least 90% printable (tab, newline and carriage
    return count as printable) and, when under 32 characters, all ASCII: ordinary words are
    base64 too, and what they decode to fails these tests (of 17,000 words and identifiers
    from the Python documentation and library, 5 decode, to noise such as `rZ,zZ `).

    >>> base64_text("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")
    '<script>alert(1)</script>'
    """
    if _BASE64_WHOLE.fullmatch(s):
        return _decode_base64_token(s.strip())
    if not _BASE64_TOKEN.search(s):
        return None
    found = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        text = _decode_base64_token(match.group())
        found = found or text is not None
        return match.group() if text is None else text

    decoded = _BASE64_TOKEN.sub(replace, s)
    return decoded if found else None


def _decode_base64_token(token: str) -> str | None:
    unpadded = token.rstrip("=").translate(_URLSAFE_TO_STANDARD)
    if len(unpadded) % 4 == 1:
        return None
    try:
        text = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text if text and _looks_like_text(text) else None


def _looks_like_text(text: str) -> bool:
    if text.isascii():
        unprintable = len(_ASCII_CONTROL.findall(text))
    elif len(text) < _MIN_CHARS_FOR_NON_ASCII:
        return False
    else:
        unprintable = sum(1 for char in text if not (char.isprintable() or char in "\t\n\r"))
    return unprintable <= (1 - _MIN_PRINTABLE_SHARE) * len(text)


_MAX_DECODE_ROUNDS = 3


def decode_variants(s: str, *, max_variants: int = 6) -> list[str]:
    r"""The distinct forms of a value an engine should scan, the value itself first.

    In order, without repeats and at most `max_variants`: the value; its fully decoded
    form (`url_decode_all`, `utf8_overlong`, `unicode_escapes`, `html_entities`, `nfkc`,
    repeated while that changes, up to three rounds, so `%26lt%3B` and fullwidth
    `\uff06lt\uff1b` both end as `<`); and when `base64_text` finds text in the decoded
    form, that text and its fully decoded form. A plain ASCII value (no `%`, `&`, `\` or
    NUL) that does not look like base64 is returned alone at once.

    >>> decode_variants("%253Cscript%253E")
    ['%253Cscript%253E', '<script>']
    """
    if max_variants < 1:
        raise ValueError(f"max_variants must be at least 1, not {max_variants}")
    plain = s.isascii() and "%" not in s and "&" not in s and "\\" not in s and "\x00" not in s
    if plain and not _BASE64_WHOLE.fullmatch(s) and not _BASE64_TOKEN.search(s):
        return [s]
    variants = [s]
    decoded = s if plain else _decode_fully(s)
    candidates = [decoded]
    if (text := base64_text(decoded)) is not None:
        candidates += [text, _decode_fully(text)]
    for candidate in candidates:
        if candidate not in variants:
            variants.append(candidate)
    return variants[:max_variants]


def _decode_fully(s: str) -> str:
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = nfkc(html_entities(unicode_escapes(utf8_overlong(url_decode_all(s)))))
        if decoded == s:
            break
        s = decoded
    return s


# The `str -> str` transforms by name, for signatures that name the ones they need.
TRANSFORMS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {
        "url_decode": url_decode,
        "url_decode_all": url_decode_all,
        "utf8_overlong": utf8_overlong,
        "unicode_escapes": unicode_escapes,
        "html_entities": html_entities,
        "nfkc": nfkc,
        "casefold": casefold,
        "collapse_whitespace": collapse_whitespace,
        "sql_collapse": sql_collapse,
        "path_normalize": path_normalize,
    }
)
