"""HAR 1.2 files (browser and proxy recordings) as `Observation`s.

A HAR file is one JSON document whose `log.entries` list holds one request/response pair
per entry. Recordings are often cut short (a browser closed, a disk filled), so a file that
is not valid JSON is read entry by entry: every complete entry before the cut is still
returned. An entry that is not a request (no method or URL) is skipped and counted; a file
that is not a HAR at all (no `log`) raises `ValueError`.

    stats = HarStats()
    for observation in read_har(Path("session.har"), stats):
        ...
    stats.skipped, stats.truncated
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from wardgate.discovery.fields import as_list, as_object, as_text, cookie_pairs, decoded_path
from wardgate.discovery.observation import MAX_BODY, Observation

__all__ = ["HarStats", "read_har"]

_ENTRIES = re.compile(r'(?<!\\)"entries"\s*:\s*\[')
_SEPARATORS = frozenset(" \t\r\n,")


@dataclass(slots=True)
class HarStats:
    """Counts filled in while `read_har` runs: entries read, entries skipped, and whether
    the file ended before its entry list did."""

    entries: int = 0
    skipped: int = 0
    truncated: bool = False


def read_har(source: bytes | str | Path, stats: HarStats | None = None) -> Iterator[Observation]:
    """Yield one `Observation` per usable entry of a HAR document, in file order.

    `source` is the file (`Path`) or its content (`bytes`, or `str` holding the JSON text,
    not a file name). Raises `ValueError` only when the document is not a HAR at all; a
    truncated file yields the entries before the cut and sets `stats.truncated`.
    """
    stats = stats if stats is not None else HarStats()
    for entry in _entries(_text(source), stats):
        observation = _observation(entry)
        if observation is None:
            stats.skipped += 1
        else:
            stats.entries += 1
            yield observation


def _text(source: bytes | str | Path) -> str:
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, bytes):
        return source.decode("utf-8-sig", errors="replace")
    return source.removeprefix("\ufeff")


def _entries(text: str, stats: HarStats) -> Iterator[object]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        yield from _salvaged_entries(text, stats)
        return
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict):
        raise ValueError("not a HAR file: no top-level 'log' object")
    yield from as_list(log.get("entries"))


def _salvaged_entries(text: str, stats: HarStats) -> Iterator[object]:
    if not text.lstrip().startswith("{") or '"log"' not in text:
        raise ValueError("not a HAR file: not JSON and no 'log' object")
    stats.truncated = True
    match = _ENTRIES.search(text)
    if match is None:
        return
    decoder = json.JSONDecoder()
    position = match.end()
    while True:
        while position < len(text) and text[position] in _SEPARATORS:
            position += 1
        if position >= len(text) or text[position] == "]":
            # A closed list in a document that failed to parse: the cut came later.
            return
        try:
            entry, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return
        yield entry


def _observation(entry: object) -> Observation | None:
    request = as_object(as_object(entry).get("request"))
    response = as_object(as_object(entry).get("response"))
    method = as_text(request.get("method")).strip().upper()
    url = as_text(request.get("url")).strip()
    if not method or not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    headers = _pairs(request.get("headers"))
    names = dict(headers)
    host = parts.netloc.rpartition("@")[2].lower() or names.get(":authority", names.get("host", ""))
    query = tuple(parse_qsl(parts.query, keep_blank_values=True, errors="replace"))
    if not parts.query:
        query = _pairs(request.get("queryString"), lower=False)
    cookies = _pairs(request.get("cookies"), lower=False) or cookie_pairs(names.get("cookie", ""))
    request_type, request_body = _post_data(as_object(request.get("postData")))
    content = as_object(response.get("content"))
    response_headers = dict(_pairs(response.get("headers")))
    return Observation(
        method=method,
        path=decoded_path(parts.path),
        scheme=parts.scheme.lower() or "https",
        host=host,
        query=query,
        headers=tuple(pair for pair in headers if not pair[0].startswith(":")),
        cookies=cookies,
        request_type=request_type or names.get("content-type", ""),
        request_body=request_body,
        status=_status(response.get("status")),
        response_type=as_text(content.get("mimeType")) or response_headers.get("content-type", ""),
        response_body=_body(content.get("text"), as_text(content.get("encoding"))),
        time=_epoch(as_text(as_object(entry).get("startedDateTime"))),
    )


def _post_data(post: dict[str, object]) -> tuple[str, bytes]:
    mime = as_text(post.get("mimeType"))
    if "text" in post:
        return mime, _body(post.get("text"), as_text(post.get("encoding")))
    params = _pairs(post.get("params"), lower=False)
    return mime, urlencode(params).encode()[:MAX_BODY]


def _body(text: object, encoding: str) -> bytes:
    if not isinstance(text, str):
        return b""
    if encoding.lower() == "base64":
        try:
            return base64.b64decode(text)[:MAX_BODY]
        except (binascii.Error, ValueError):
            return b""
    return text[:MAX_BODY].encode("utf-8", errors="surrogatepass")[:MAX_BODY]


def _epoch(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _status(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 999:
        return value
    return 0


def _pairs(value: object, *, lower: bool = True) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in as_list(value):
        name = as_text(as_object(item).get("name")).strip()
        if name:
            pairs.append((name.lower() if lower else name, as_text(as_object(item).get("value"))))
    return tuple(pairs)
