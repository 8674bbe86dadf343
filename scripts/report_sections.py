"""Writing one evaluation's section of a shared report (docs/detection.md, ...).

Each evaluation script owns the text between its markers (`<!-- attacks:begin -->` ...
`<!-- attacks:end -->`); rewriting it keeps every other section of the file as it was.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["markers", "write_section"]


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
