"""Where Wardgate keeps state (events, later inventory): the XDG state directory.

Order: the `--state-dir` flag (which sets WARDGATE_STATE_DIR), then `$WARDGATE_STATE_DIR`,
then `$XDG_STATE_HOME/wardgate`, then `~/.local/state/wardgate`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STATE_DIR_ENV", "state_dir"]

STATE_DIR_ENV = "WARDGATE_STATE_DIR"


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
