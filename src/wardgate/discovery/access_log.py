"""Web server access logs as `Observation`s: NCSA common/combined lines and JSON Lines.

The format is detected per line, so a file may mix both (a logger changed mid-way). A line
that is neither is skipped and counted, never fatal; only a file in which no line parses
raises `ValueError`. Logs carry no bodies, so observations have none.

    stats = AccessLogStats()
    for observation in read_access_log(Path("access.log"), stats):
        ...
    stats.skipped, stats.first_skipped_line
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from wardgate.discovery.fields import cookie_pairs, decoded_path
from wardgate.discovery.observation import Observation

__all__ = ["AccessLogStats", "read_access_log"]

# Apache escapes a quote inside a field as \", nginx as \x22; both stay inside the group.
_NCSA = re.compile(
    r"(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?:\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)
_REQUEST_LINE = re.compile(r"([A-Za-z]+) (\S+)(?: HTTP/\d(?:\.\d)?)?")
_NCSA_TIME = "%d/%b/%Y:%H:%M:%S %z"

_KEYS = {
    "method": ("method", "request_method", "http_method", "verb"),
    "target": ("path", "uri", "url", "request_uri", "request_url", "request_path"),
    "query": ("query", "query_string", "args"),
    "status": ("status", "status_code", "statusCode", "response_status"),
    "host": ("host", "http_host", "server_name"),
    "scheme": ("scheme",),
    "user_agent": ("user_agent", "http_user_agent", "userAgent", "agent"),
    "referer": ("referer", "referrer", "http_referer"),
    "time": ("time", "timestamp", "ts", "@timestamp", "time_iso8601", "time_local", "date"),
    "request_type": ("content_type", "request_content_type", "req_content_type"),
    "response_type": ("response_content_type", "sent_http_content_type", "resp_content_type"),
    "user": ("remote_user", "user", "consumer"),
}


@dataclass(slots=True)
class AccessLogStats:
    """Counts filled in while `read_access_log` runs. Blank lines count as neither read nor
    skipped; `first_skipped_line` is 1-based, 0 when no line was skipped."""

    lines: int = 0
    skipped: int = 0
    first_skipped_line: int = 0


def read_access_log(
    source: bytes | str | Path, stats: AccessLogStats | None = None
) -> Iterator[Observation]:
    """Yield one `Observation` per parsable line, in file order.

    `source` is the file (`Path`, read line by line) or its content (`bytes`, or `str`
    holding the log text, not a file name). Raises `ValueError`, after reading everything,
    only when there were lines and none of them was an access log line.
    """
    stats = stats if stats is not None else AccessLogStats()
    for number, raw in enumerate(_lines(source), start=1):
        line = (raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw).strip()
        if not line:
            continue
        observation = _json_line(line) if line.startswith("{") else _ncsa_line(line)
        if observation is None:
            stats.skipped += 1
            stats.first_skipped_line = stats.first_skipped_line or number
        else:
            stats.lines += 1
            yield observation
    if stats.skipped and not stats.lines:
        raise ValueError(
            f"not an access log: none of {stats.skipped} lines is an NCSA or JSON log line"
        )


def _lines(source: bytes | str | Path) -> Iterable[bytes | str]:
    if isinstance(source, Path):
        with source.open("rb") as file:
            yield from file
    elif isinstance(source, bytes):
        yield from source.split(b"\n")
    else:
        yield from source.split("\n")


def _ncsa_line(line: str) -> Observation | None:
    match = _NCSA.match(line)
    if match is None:
        return None
    request = _REQUEST_LINE.fullmatch(_unescape(match["request"]))
    if request is None:
        return None
    headers = []
    for name, group in (("referer", "referer"), ("user-agent", "agent")):
        value = _unescape(match[group] or "")
        if value and value != "-":
            headers.append((name, value))
    user = match["user"]
    return _observation(
        method=request[1],
        target=request[2],
        status=match["status"],
        headers=tuple(headers),
        consumer="" if user == "-" else user,
        time=_epoch(match["time"]),
    )


def _json_line(line: str) -> Observation | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    nested = record.get("request")
    if isinstance(nested, dict):
        # Caddy-style: the request is an object of its own beside the response fields.
        record = {**record, **nested}
    method, target = _pick(record, "method"), _pick(record, "target")
    if isinstance(nested, str) and (not method or not target):
        request = _REQUEST_LINE.fullmatch(nested.strip())
        if request is None:
            return None
        method, target = method or request[1], target or request[2]
    if not method or not target:
        return None
    query = _pick(record, "query").removeprefix("?")
    if query and "?" not in target:
        target = f"{target}?{query}"
    headers = _headers(record.get("headers") or record.get("request_headers"))
    names = {name for name, _ in headers}
    for key, name in (("user_agent", "user-agent"), ("referer", "referer")):
        value = _pick(record, key)
        if value and value != "-" and name not in names:
            headers.append((name, value))
    user = _pick(record, "user")
    return _observation(
        method=method,
        target=target,
        status=_pick(record, "status"),
        headers=tuple(headers),
        consumer="" if user == "-" else user,
        time=_epoch(_pick(record, "time")),
        host=_pick(record, "host"),
        scheme=_pick(record, "scheme"),
        request_type=_pick(record, "request_type"),
        response_type=_pick(record, "response_type") or _response_type(record),
    )


def _observation(
    *,
    method: str,
    target: str,
    status: str,
    headers: tuple[tuple[str, str], ...],
    consumer: str,
    time: float,
    host: str = "",
    scheme: str = "",
    request_type: str = "",
    response_type: str = "",
) -> Observation | None:
    if not method.isalpha() or not (target.startswith("/") or "://" in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    values = dict(headers)
    return Observation(
        method=method.upper(),
        path=decoded_path(parts.path),
        scheme=(parts.scheme or scheme or "https").lower(),
        host=(parts.netloc.rpartition("@")[2] or host or values.get("host", "")).lower(),
        query=tuple(parse_qsl(parts.query, keep_blank_values=True, errors="replace")),
        headers=headers,
        cookies=cookie_pairs(values.get("cookie", "")),
        request_type=request_type or values.get("content-type", ""),
        status=int(status) if status.isdigit() and len(status) == 3 else 0,
        response_type=response_type,
        consumer=consumer,
        time=time,
    )


def _pick(record: dict[str, object], key: str) -> str:
    for name in _KEYS[key]:
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(int(value)) if key == "status" else str(value)
    return ""


def _headers(value: object) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if not isinstance(value, dict):
        return headers
    for name, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            if isinstance(name, str) and isinstance(one, str):
                headers.append((name.lower(), one))
    return headers


def _response_type(record: dict[str, object]) -> str:
    headers = _headers(record.get("resp_headers") or record.get("response_headers"))
    return dict(headers).get("content-type", "")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return re.sub(
        r"\\x([0-9a-fA-F]{2})|\\(.)", lambda m: chr(int(m[1], 16)) if m[1] else m[2], text
    )


def _epoch(text: str) -> float:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        # Epoch milliseconds are common in JSON logs; seconds stay below 1e11 until 5138.
        if not math.isfinite(number):
            return 0.0
        return number / 1000 if number > 1e11 else number
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, _NCSA_TIME)
        except ValueError:
            return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
    return 0.0
