"""`wardgate scan ...`: run one detector over JSON Lines, one answer line per input line.

Each command reads `stdin` line by line and writes exactly one JSON line per non-blank input
line, in order, and nothing else, so the output zips with the input. A line that is not a
JSON object of the expected shape answers `{"error": ...}` next to the usual keys rather
than stopping the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import click
import orjson

__all__ = ["scan"]


@click.group()
def scan() -> None:
    """Run a detector over JSON Lines on stdin (one JSON line out per line in)."""


@scan.command("request")
@click.option(
    "--engine",
    type=click.Choice(["builtin", "crs"]),
    default="builtin",
    show_default=True,
    help="Attack-detection engine.",
)
@click.option(
    "--paranoia", type=click.IntRange(1, 4), default=1, show_default=True, help="Rule level."
)
def scan_request(engine: str, paranoia: int) -> None:
    """Attack detection on HTTP requests.

    In: {"method", "path", "query", "headers", "body"} per line (`query` the raw query string,
    `headers` an object, `body` a string). Out: {"blocked", "score", "findings"}, where
    `blocked` is the enforce-mode verdict at the default threshold with every part of the
    request inspected (a body that does not parse as its declared type counts: the check
    refuses it with a 400).
    """
    from wardgate.detect.attacks.engines import build_engine

    try:
        attack_engine = build_engine(engine, paranoia=paranoia)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None

    def answer(line: dict[str, Any]) -> dict[str, Any]:
        report = attack_engine.inspect(sample_of(line))
        return {
            "blocked": report.refused,
            "score": report.score,
            "findings": [
                {
                    "category": f.kind.removeprefix("attack."),
                    "rule": f.rule,
                    "severity": f.severity,
                    "score": int(f.score),
                    "location": f.location.slot if f.location else None,
                }
                for f in report.findings
            ],
        }

    run_lines(answer, {"blocked": False, "score": 0, "findings": []})


@scan.command("prompt-injection")
def scan_prompt_injection() -> None:
    """Prompt-injection and jailbreak detection on text.

    In: {"text", "origin"} per line (`origin` "user", the default, or "document" for
    retrieved or tool-returned content). Out: {"score", "flagged"}, where `flagged` is the
    enforce-mode verdict at the default threshold for that origin.
    """
    from wardgate.detect.injection import InjectionDetector

    detector = InjectionDetector.default()

    def answer(line: dict[str, Any]) -> dict[str, Any]:
        text = line.get("text")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        origin = line.get("origin") or "user"
        if origin not in ("user", "document"):
            raise ValueError('origin must be "user" or "document"')
        verdict = detector.score(text, origin)
        return {"score": round(verdict.score, 6), "flagged": verdict.flagged}

    run_lines(answer, {"score": 0.0, "flagged": False})


@scan.command("sensitive")
def scan_sensitive() -> None:
    """Personal data and credentials in text.

    In: {"text"} per line. Out: {"findings": [{"type", "start", "end", "score"}],
    "redacted"}, where `start`/`end` are code-point indices into the text (end exclusive)
    and `redacted` is the text masked as the default policy masks it (`<TYPE>`): every
    finding at or above the policy's `min_score`, so a weekday or a private address alone,
    reported with a lower score, stays as it is.
    """
    from wardgate.checks.sensitive import Config
    from wardgate.detect.sensitive import find_sensitive, mask

    min_score = Config().min_score

    def answer(line: dict[str, Any]) -> dict[str, Any]:
        text = line.get("text")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        matches = find_sensitive(text)
        return {
            "findings": [
                {"type": m.type, "start": m.start, "end": m.end, "score": round(m.score, 4)}
                for m in matches
            ],
            "redacted": mask(text, [m for m in matches if m.score >= min_score]),
        }

    run_lines(answer, {"findings": [], "redacted": ""})


def sample_of(line: dict[str, Any]) -> Any:
    """The `HttpSample` a `scan request` line describes; ValueError if it describes none."""
    from wardgate.detect.attacks.model import HttpSample

    path = _text(line.get("path"), "path") or "/"
    query = _text(line.get("query"), "query")
    if not query and "?" in path:
        path, _, query = path.partition("?")
    headers: list[tuple[str, str]] = []
    raw_headers = line.get("headers") or {}
    if isinstance(raw_headers, dict):
        for name, value in raw_headers.items():
            values = value if isinstance(value, list) else [value]
            headers.extend((str(name), str(v)) for v in values)
    elif isinstance(raw_headers, list):
        headers.extend((str(pair[0]), str(pair[1])) for pair in raw_headers if len(pair) == 2)
    else:
        raise ValueError("headers must be an object")
    body = line.get("body")
    raw_body = b"" if body is None else _text(body, "body").encode("utf-8", "surrogatepass")
    return HttpSample(
        method=(_text(line.get("method"), "method") or "GET").upper(),
        path=path,
        query=query.removeprefix("?"),
        headers=tuple(headers),
        body=raw_body,
    )


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        if name == "body":
            return orjson.dumps(value).decode()
        raise ValueError(f"{name} must be a string")
    return str(value)


def run_lines(
    answer: Callable[[dict[str, Any]], dict[str, Any]],
    empty: dict[str, Any],
    source: BinaryIO | None = None,
    sink: BinaryIO | None = None,
) -> None:
    """Answer each JSON line of `source` on `sink`; a bad line gets `empty` plus `error`."""
    out = sink or sys.stdout.buffer
    for line in _lines(source or sys.stdin.buffer):
        try:
            parsed = orjson.loads(line)
            if not isinstance(parsed, dict):
                raise ValueError("each line must be a JSON object")
            result = answer(parsed)
        except (orjson.JSONDecodeError, ValueError, TypeError, IndexError) as exc:
            result = {**empty, "error": str(exc)[:200]}
        out.write(orjson.dumps(result))
        out.write(b"\n")
    out.flush()


def _lines(source: BinaryIO) -> Iterator[bytes]:
    for line in source:
        if line.strip():
            yield line
