"""Writing one evaluation's section of a shared report (docs/detection.md, ...).

Each evaluation script owns the text between its markers (`<!-- attacks:begin -->` ...
`<!-- attacks:end -->`); rewriting it keeps every other section of the file as it was.
"""

from __future__ import annotations

import platform
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

__all__ = ["code_span", "cpu_model", "markers", "table", "write_section"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of the section called `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, section: str, title: str) -> None:
    """Replace section `name` of `path` with `section` (appended when absent; the file,
    headed by `title`, is created when missing)."""
    begin, end = markers(name)
    block = f"{begin}\n{section.strip()}\n{end}"
    if not path.exists():
        text = f"{title}\n\n{block}\n"
    else:
        text = path.read_text(encoding="utf-8")
        start, stop = text.find(begin), text.find(end)
        if 0 <= start < stop:
            text = text[:start] + block + text[stop + len(end) :]
        else:
            text = f"{text.rstrip()}\n\n{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table as lines, followed by a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return [*lines, ""]


def code_span(text: str, limit: int) -> str:
    """`text` as a table-safe code span: cut to `limit` characters, controls escaped."""
    short = text if len(text) <= limit else text[:limit] + "…"
    body = "".join(map(_escape, short)).replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _escape(char: str) -> str:
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return char


def cpu_model() -> str:
    """The processor's name, for the latency figures: hosts differ by 2x from one to another."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
