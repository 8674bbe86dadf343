"""Reading provider JSON without trusting it: limits on the way in, typed access after.

Request bodies come from clients, so `load_request` enforces the limits and the typed
readers (`require_*`) raise `MalformedRequest` with a reason that names the field, never its
value. Response bodies and stream events come from upstreams, so the lenient readers
(`as_dict`, `as_list`, ...) turn anything unexpected into an empty value instead of raising.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.errors import MalformedRequest
from wardgate.providers.call import Message, Origin, Usage

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "content_messages",
    "load_event",
    "load_request",
    "load_response",
    "require_bool",
    "require_count",
    "require_list",
    "require_object",
    "require_str",
    "usage_from",
]

# Real AI requests nest a dozen levels at most (a tool's JSON schema is the deepest part);
# far deeper bodies only serve to make every later walk of them expensive.
MAX_DEPTH = 64
# The longest legitimate conversations and input batches are a few thousand entries.
MAX_ITEMS = 10_000


def load_request(body: bytes, *, object_only: bool = True) -> Any:
    """The parsed body, or `MalformedRequest` when it is not acceptable JSON."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedRequest("body is not valid JSON") from None
    if object_only and not isinstance(value, dict):
        raise MalformedRequest("body is not a JSON object")
    if _nests_too_deep(body):
        raise MalformedRequest(f"body nests deeper than {MAX_DEPTH} levels")
    return value


# Brackets only, `{}` read as `[]`: the two kinds nest alike, and the JSON is known valid.
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"{}[]")


def _nests_too_deep(body: bytes) -> bool:
    """Whether valid JSON nests past `MAX_DEPTH`, found with C-speed bytes operations.

    Walking the parsed value in Python would cost more than parsing it. Instead the strings
    are cut out (escapes first, so every quote left delimits one), leaving the brackets;
    each `replace` then removes the innermost pairs, one level per round.
    """
    # Depth can only pass the limit if there are that many brackets at all.
    if body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(body.split(b'"')[::2]).translate(_AS_SQUARE, _NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def load_response(body: bytes) -> dict[str, Any]:
    """An upstream's JSON object, or {} when it is not one (never raises)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def load_event(data: str) -> dict[str, Any]:
    """One event's data as a JSON object, or {} (never raises)."""
    if not data or data[0] != "{":
        return {}
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# --- strict readers for request bodies ---------------------------------------------------


def require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where} must be an object")
    return value


def require_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedRequest(f"{where} must be a list")
    if len(value) > MAX_ITEMS:
        raise MalformedRequest(f"{where} has more than {MAX_ITEMS} entries")
    return value


def require_str(body: dict[str, Any], key: str) -> str | None:
    """An optional string field (null counts as absent, as the providers treat it)."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedRequest(f"{key} must be a string")


def require_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise MalformedRequest(f"{key} must be a boolean")


def require_count(body: dict[str, Any], key: str, minimum: int) -> int | None:
    """An optional integer field of at least `minimum`; a bool is not an integer here."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRequest(f"{key} must be an integer")
    if value < minimum:
        raise MalformedRequest(f"{key} must be at least {minimum}")
    return value


# --- lenient readers for upstream responses ----------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def usage_from(value: Any, input_key: str, output_key: str) -> Usage | None:
    """A usage object's two counts, or None when it reports neither."""
    usage = as_dict(value)
    input_tokens = as_int(usage.get(input_key))
    output_tokens = as_int(usage.get(output_key))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens or 0, output_tokens or 0)


def content_messages(
    value: Any, where: str, role: str, origin: Origin, image_types: frozenset[str]
) -> list[Message]:
    """Content as both providers shape it: a string, or a list of parts (bare strings, or
    objects). An image part counts in `images`; any part with text is read, whatever its
    type, so a new part type is never a way around the checks."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Message(role, origin, value, where)]
    messages = []
    for index, raw in enumerate(require_list(value, where)):
        path = f"{where}[{index}]"
        if isinstance(raw, str):
            messages.append(Message(role, origin, raw, path))
            continue
        part = require_object(raw, path)
        kind = part.get("type")
        if isinstance(kind, str) and kind in image_types:
            messages.append(Message(role, origin, "", path, images=1))
        text = part.get("text")
        if isinstance(text, str):
            messages.append(Message(role, origin, text, f"{path}.text"))
    return messages
