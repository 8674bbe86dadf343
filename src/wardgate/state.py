"""Where Wardgate keeps state (events, later inventory) and caches: the XDG directories.

State: the `--state-dir` flag (which sets WARDGATE_STATE_DIR), then `$WARDGATE_STATE_DIR`,
then `$XDG_STATE_HOME/wardgate`, then `~/.local/state/wardgate`. Cache (things that can be
rebuilt, such as compiled signature databases): `$WARDGATE_CACHE_DIR`, then
`$XDG_CACHE_HOME/wardgate`, then `~/.cache/wardgate`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "STATE_DIR_ENV", "cache_dir", "state_dir"]

STATE_DIR_ENV = "WARDGATE_STATE_DIR"
CACHE_DIR_ENV = "WARDGATE_CACHE_DIR"


def state_dir(create: bool = True) -> Path:
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "wardgate"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def cache_dir() -> Path:
    """The cache directory (not created here: a cache is optional)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wardgate"
