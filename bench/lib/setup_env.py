"""Idempotent setup: Debian's wrk and nginx, the upstream's venv, LiteLLM's venv; versions."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from lib.procs import log
from lib.systems import BENCH, LITELLM, PYTHON, REPO, UPSTREAM_PYTHON

UPSTREAM_PINS = ("httptools==0.9.0", "uvloop==0.23.0")
# Newer releases' [proxy] extra pins litellm-proxy-extras versions the registry lacks here.
LITELLM_PINS = ("litellm[proxy]==1.106.12",)


def _quiet(argv: list[str], timeout: float = 1800) -> tuple[int, str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return done.returncode, done.stdout + done.stderr


def ensure_tools() -> None:
    missing = [pkg for pkg in ("wrk", "nginx") if shutil.which(pkg) is None]
    if not missing:
        return
    log(f"installing {', '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=True)
    # Debian starts nginx's own service on install; it listens on :80, which we never use.


def ensure_venv(venv: Path, pins: tuple[str, ...]) -> str | None:
    """Make `venv` with exactly `pins` (once); the reason it failed, or None."""
    marker = venv / ".bench-pins"
    wanted = "\n".join(pins)
    if marker.exists() and marker.read_text() == wanted:
        return None
    log(f"creating {venv.relative_to(REPO)} with {' '.join(pins)} (once)")
    if venv.exists():
        shutil.rmtree(venv)
    rc, out = _quiet([sys.executable, "-m", "venv", str(venv)])
    if rc == 0:
        pip = [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *pins,
        ]
        rc, out = _quiet(pip)
    if rc != 0:
        errors = [line for line in out.splitlines() if line.startswith("ERROR")]
        return f"`pip install {' '.join(pins)}` failed: {' '.join(errors)[-400:] or out[-400:]}"
    marker.write_text(wanted)
    return None


def setup(skip_litellm: bool) -> str | None:
    """Everything the run needs; returns why LiteLLM rows are skipped (None if they run)."""
    ensure_tools()
    problem = ensure_venv(BENCH / ".venv-upstream", UPSTREAM_PINS)
    if problem:
        raise RuntimeError(f"the upstream's venv: {problem}")
    if skip_litellm:
        return "skipped on request (--no-litellm)"
    problem = ensure_venv(BENCH / ".venv-litellm", LITELLM_PINS)
    if problem:
        log(f"LiteLLM rows will be skipped: {problem}")
    return problem


def _first_line(argv: list[str]) -> str:
    try:
        _, out = _quiet(argv, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def _packages(python: Path, names: tuple[str, ...]) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "print(', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    return _first_line([str(python), "-c", code, *names])


def code_version() -> str:
    """The commit, and a fingerprint of src/ as it is on disk (it may differ from the commit
    while people edit: the fingerprint tells whether the code changed during a run)."""
    commit = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    state = "uncommitted changes in src/" if dirty != "?" else "src/ clean"
    return f"{commit} ({state}; src/ fingerprint {digest.hexdigest()[:12]})"


def facts(litellm_ok: bool) -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": _first_line(["sh", "-c", "free -g | awk '/Mem:/ {print $2 \" GiB\"}'"]),
        "kernel": platform.release(),
        "python": _first_line([str(PYTHON), "--version"]),
        "gateway_packages": _packages(PYTHON, ("wardgate", "aiohttp", "uvloop", "orjson")),
        "upstream_packages": _packages(UPSTREAM_PYTHON, ("httptools", "uvloop")),
        "litellm": _packages(LITELLM.parent / "python", ("litellm",)) if litellm_ok else "-",
        "wrk": _first_line(["wrk", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "commit": code_version(),
        "loadavg": " / ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "python_speed": python_speed(),
    }


def python_speed() -> str:
    """Milliseconds a fixed pure-Python loop takes on CPU 0, best of 5: this machine's speed
    moves between days (shared hosts), and absolute timings are only comparable with it."""
    code = (
        "import time\nbest = 1e9\nfor _ in range(5):\n    t = time.perf_counter()\n"
        "    s = 0\n    for i in range(2_000_000): s += i\n"
        "    best = min(best, time.perf_counter() - t)\nprint(f'{best * 1000:.0f}')"
    )
    return _first_line(["taskset", "-c", "0", str(PYTHON), "-c", code])
