"""Small readers every traffic importer needs: paths, cookies and loosely typed JSON."""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["as_list", "as_object", "as_text", "cookie_pairs", "decoded_path"]


def decoded_path(raw: str) -> str:
    """Percent-decode each segment on its own, so an encoded `/` stays `%2F` and cannot
    split a segment in two."""
    path = "/".join(
        unquote(segment, errors="replace").replace("/", "%2F") for segment in raw.split("/")
    )
    return path if path.startswith("/") else "/" + path


def cookie_pairs(header: str) -> tuple[tuple[str, str], ...]:
    """`a=1; b=2` as pairs; nameless parts are dropped, values kept as sent."""
    pairs = (part.strip().partition("=") for part in header.split(";"))
    return tuple((name.strip(), value.strip()) for name, _, value in pairs if name.strip())


def as_object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def as_text(value: object) -> str:
    """A string as is, a number as its digits, anything else empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""
