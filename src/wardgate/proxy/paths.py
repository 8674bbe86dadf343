"""Request-target normalization: route and forward the same path the upstream will see.

Matching routes on one spelling of a path and forwarding another is how path-based rules
are bypassed (`/%61dmin`, `/v1/../admin`). The gateway therefore normalizes once, routes on
the result and forwards that same result: percent-encoded unreserved characters are
decoded, hex digits of the remaining escapes upper-cased, and dot segments removed
(RFC 3986 sections 6.2.2 and 5.2.4), and runs of slashes merged (as many upstreams do).
Encoded slashes stay encoded; a fragment (`#`) is refused.
"""

from __future__ import annotations

import re

from wardgate.errors import MalformedRequest

__all__ = ["normalize_target"]

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MANY_SLASHES = re.compile(r"//+")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normalize_target(raw: str) -> tuple[str, str]:
    """Split a request target into (normalized path, raw query string).

    Raises `MalformedRequest` for targets that are not an absolute path, or that carry an
    invalid escape or a NUL.
    """
    path, _, query = raw.partition("?")
    if not path.startswith("/"):
        raise MalformedRequest("request target is not an absolute path")
    if "#" in raw:
        # A fragment is never part of a request target; HTTP clients drop it downstream,
        # so routing on it would differ from what the upstream sees.
        raise MalformedRequest("fragment in request target")
    if "%" not in path and "/." not in path and "//" not in path:
        return path, query  # the common case: nothing to normalize
    if _BAD_ESCAPE.search(path):
        raise MalformedRequest("invalid percent-encoding in path")
    path = _ESCAPE.sub(_unescape_unreserved, path)
    if "%00" in path:
        raise MalformedRequest("NUL in path")
    return _MANY_SLASHES.sub("/", _remove_dot_segments(path)), query


def _unescape_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)
