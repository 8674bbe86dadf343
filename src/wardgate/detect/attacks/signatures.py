"""Attack signatures: loaded from package data, compiled into one Hyperscan database.

Hyperscan matches every pattern of a set in one pass over a value, in time linear in the
value whatever the number of patterns, and cannot backtrack catastrophically, so an
attacker cannot make a crafted value expensive to scan. Each pattern is compiled
case-insensitively with single-match semantics: we need to know *which* rules match a value,
not where each match ends, and single-match lets Hyperscan stop tracking a rule after its
first hit.

Compiling the set takes seconds, so the compiled database is cached on disk (the user's
cache directory), keyed by a digest of the patterns, the flags, the Hyperscan version and
the platform, and checked against its own digest when loaded. An entry is only used when it
and its folder belong to the running user and nobody else can write them: a planted
database would match nothing. Any doubt recompiles.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import os
import platform
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from itertools import accumulate
from pathlib import Path
from typing import Any

import hyperscan
import yaml

from wardgate.detect.attacks.model import CATEGORIES, PartKind, Severity
from wardgate.state import cache_dir

__all__ = ["PartGate", "Signature", "SignatureSet", "load_signatures"]

_NOT_TEXT = frozenset(PartKind) - {PartKind.TEXT}


@dataclass(frozen=True, slots=True)
class Signature:
    """One rule: a pattern, what it means, and where and from which paranoia level it runs."""

    id: str
    category: str
    severity: str
    paranoia: int
    kinds: frozenset[PartKind]
    pattern: str

    @property
    def points(self) -> int:
        return Severity.points(self.severity)


def load_signatures(path: Path | None = None) -> list[Signature]:
    """Read and validate a signature file (the packaged `attacks.yaml` by default)."""
    if path is None:
        text = (
            resources.files("wardgate.data")
            .joinpath("signatures/attacks.yaml")
            .read_text(encoding="utf-8")
        )
    else:
        text = path.read_text(encoding="utf-8")
    entries = yaml.safe_load(text) or []
    signatures = [_signature(entry) for entry in entries]
    ids = [s.id for s in signatures]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"duplicate signature ids: {', '.join(duplicated)}")
    return signatures


def _signature(entry: dict[str, Any]) -> Signature:
    rule_id = str(entry["id"])
    category = str(entry["category"])
    if category not in CATEGORIES:
        raise ValueError(f"{rule_id}: unknown category {category!r}")
    severity = str(entry.get("severity", "critical"))
    paranoia = int(entry.get("paranoia", 1))
    if not 1 <= paranoia <= 4:
        raise ValueError(f"{rule_id}: paranoia must be 1 to 4")
    kinds = frozenset(PartKind(k) for k in entry["parts"]) if "parts" in entry else _NOT_TEXT
    return Signature(rule_id, category, severity, paranoia, kinds, str(entry["pattern"]))


class SignatureSet:
    """The signatures of one paranoia level, compiled; `match` answers which ones hit."""

    def __init__(self, signatures: Iterable[Signature], *, paranoia: int = 1) -> None:
        self.signatures = [s for s in signatures if s.paranoia <= paranoia]
        if not self.signatures:
            raise ValueError("no signatures at this paranoia level")
        self._database = _cached_database([s.pattern for s in self.signatures], _FLAGS)
        # Scratch space is per scanning thread; large bodies are scanned off the event loop.
        self._local = threading.local()

    def match(self, data: bytes) -> list[Signature]:
        """Every signature matching `data`, each once, in database order."""
        hits: list[int] = []

        def on_match(rule: int, _start: int, _end: int, _flags: int, _ctx: object) -> None:
            hits.append(rule)

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        self._database.scan(data, match_event_handler=on_match, scratch=scratch)
        return [self.signatures[i] for i in sorted(hits)]


class PartGate:
    """Which of many values are worth a full look, found in one scan over all of them.

    A request body of a few thousand fields is mostly names, numbers and plain words; looking
    at each one on its own (decoding, every signature, the tokenisers) costs microseconds
    apiece. The gate joins the values with newlines and scans them once, in multi-line mode,
    against the same signatures plus triggers (what makes a value worth decoding or
    tokenising: escapes, quotes, operators). Every match end is reported, and a value that
    matches a pattern on its own matches it in the joined text too, ending inside it (`^`
    and `$` anchor at the joins): so a value no match ends in needs no further look.
    """

    # Past this many matches the gate stops counting and every value gets the full look:
    # a crafted body cannot turn the gate into a callback storm.
    MAX_MATCHES = 4_096

    def __init__(self, patterns: list[str]) -> None:
        self._database = _cached_database(patterns, _GATE_FLAGS)
        self._local = threading.local()

    def candidates(self, values: list[str]) -> set[int] | None:
        """Indexes of the values worth a full look (those a pattern or trigger matches, and
        those holding a newline); None means all of them."""
        if not values:
            return set()
        joined = "\n".join(values)
        data = joined.encode("utf-8", "surrogatepass")
        # Byte offsets of the values: their lengths when the text is ASCII (one encode for
        # the lot, the common case), their encoded lengths otherwise.
        lengths = (
            map(len, values)
            if len(data) == len(joined)
            else (len(v.encode("utf-8", "surrogatepass")) for v in values)
        )
        starts = list(accumulate((n + 1 for n in lengths), initial=0))
        found: set[int] = set()
        if joined.count("\n") >= len(values):
            # A newline inside a value reads as a join: the patterns cannot be trusted on it.
            found.update(i for i, value in enumerate(values) if "\n" in value)
        matches = 0
        # The value the previous match ended in: runs of matches in one value are common
        # (every end offset of a long token is a match) and need no search.
        current, low, high = -1, 0, 0

        def on_match(_rule: int, _start: int, end: int, _flags: int, _ctx: object) -> bool:
            nonlocal matches, current, low, high
            matches += 1
            position = max(end - 1, 0)
            if not low <= position < high:
                current = bisect.bisect_right(starts, position) - 1
                low, high = starts[current], starts[current + 1]
                found.add(current)
            return matches >= self.MAX_MATCHES

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        try:
            self._database.scan(data, match_event_handler=on_match, scratch=scratch)
        except hyperscan.ScanTerminated:
            return None
        return found


_FLAGS = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
_GATE_FLAGS = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE
_HYPERSCAN_VERSION = metadata.version("hyperscan")


def _compile(patterns: list[str], flags: int) -> Any:
    database = hyperscan.Database()
    try:
        database.compile(
            expressions=[p.encode("utf-8") for p in patterns],
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[flags] * len(patterns),
        )
    except hyperscan.error as exc:
        raise ValueError(f"a signature does not compile: {exc}") from exc
    return database


def _cached_database(patterns: list[str], flags: int) -> Any:
    identity = [flags, _HYPERSCAN_VERSION, platform.machine(), sys.platform, patterns]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    path = cache_dir() / "signatures" / f"{key[:32]}.hsdb"
    try:
        if not (_private(path.parent) and _private(path)):
            raise OSError("cache entry not private to this user")
        blob = path.read_bytes()
        digest, serialized = blob[:32], blob[32:]
        if hmac.compare_digest(digest, hashlib.sha256(serialized).digest()):
            return hyperscan.loadb(serialized, hyperscan.HS_MODE_BLOCK)
    except (OSError, hyperscan.error, ValueError, TypeError):
        pass
    database = _compile(patterns, flags)
    _store(path, hyperscan.dumpb(database))
    return database


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else: a database someone else could plant
    would silently match nothing."""
    status = path.stat()
    return status.st_uid == os.getuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _store(path: Path, serialized: bytes) -> None:
    """Write the cache entry atomically; a cache that cannot be written is no cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(hashlib.sha256(serialized).digest() + serialized)
        os.replace(handle.name, path)
    except OSError:
        return
