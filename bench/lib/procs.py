"""Process control for the benchmark: own process groups, CPU pinning, ports, /proc readings.

Every process is started in a new session (its own process group) and registered here; the
whole group is stopped on `stop`, and `stop_all` runs from atexit and the signal handlers in
run.py, so nothing outlives the harness.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PORT_RANGE = range(19100, 20000)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Procs:
    """Starts, tracks and stops the processes of one benchmark run."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}  # name -> log of its latest start (one file per start)
        self.taken_ports: set[int] = set()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: str | None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        if name in self.live:
            raise RuntimeError(f"{name} is already running")
        command = ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)
        log_path = self.log_dir / f"{name}.log"
        serial = 1
        while log_path.exists():
            serial += 1
            log_path = self.log_dir / f"{name}-{serial}.log"
        self.logs[name] = log_path
        with open(log_path, "wb") as out:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )
        self.live[name] = proc
        return proc

    def run(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: str | None,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        """Run to completion (in its own group, registered while it runs); return (rc, output)."""
        command = ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self.live[name] = proc
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            return 124, out.decode(errors="replace")
        finally:
            self.live.pop(name, None)
        return proc.returncode, out.decode(errors="replace")

    def stop(self, name: str) -> None:
        proc = self.live.pop(name, None)
        if proc is not None:
            _kill_group(proc)

    def stop_all(self) -> None:
        for name in list(self.live):
            self.stop(name)

    def log_path(self, name: str) -> Path:
        return self.logs.get(name, self.log_dir / f"{name}.log")

    def port(self, preferred: int) -> int:
        """`preferred` if nothing listens there and it can be bound, else the next such 19xxx."""
        candidates = [preferred, *(p for p in PORT_RANGE if p > preferred)]
        for port in candidates:
            if port not in self.taken_ports and port_free(port):
                self.taken_ports.add(port)
                return port
        raise RuntimeError("no free port in 19100-19999")


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        _reap_group(proc.pid)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _reap_group(proc.pid)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        log(f"pid {proc.pid} did not exit after SIGKILL")


def _reap_group(pgid: int) -> None:
    """SIGKILL whatever is left in the group (children that outlived the leader)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as binder:
        binder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            binder.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_port(
    port: int, proc: subprocess.Popen[bytes] | None, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"exited with {proc.returncode} before answering on port {port}:\n"
                + tail(log_path, 20)
            )
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(
        f"nothing answered on port {port} within {timeout:.0f} s:\n" + tail(log_path, 20)
    )


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from `state` on


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (read from /proc, so it works without cgroups)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of these processes, all their threads included."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def settle_cpu(pids_of: Callable[[], list[int]], quiet: float = 0.3, limit: float = 5.0) -> float:
    """CPU seconds once the processes have gone idle (deferred work such as event writes done)."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pids_of())
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pids_of())
        if now - last < 0.01:
            return now
        last = now
    return last


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1:
        found.add(pid)
        fields = _stat(pid)
        if fields is None:
            break
        pid = int(fields[1])
    return found


def foreign_ticks() -> dict[int, tuple[str, int]]:
    """CPU ticks of every process outside this harness (its ancestors and descendants)."""
    mine = set(descendants(os.getpid())) | _ancestors(os.getpid())
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in mine:
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            out[int(entry)] = (
                raw[raw.index("(") + 1 : raw.rindex(")")],
                int(fields[11]) + int(fields[12]),
            )
    return out


def foreign_since(before: dict[int, tuple[str, int]], seconds: float) -> tuple[float, list[str]]:
    """Cores used by outside processes since `before` (over `seconds`), and the busiest."""
    after = foreign_ticks()
    used = sorted(
        (
            (ticks - before[pid][1], f"{comm} ({pid})")
            for pid, (comm, ticks) in after.items()
            if pid in before and ticks > before[pid][1]
        ),
        reverse=True,
    )
    cores = sum(t for t, _ in used) / CLOCK_TICKS / seconds
    return cores, [f"{name} {t / CLOCK_TICKS / seconds:.0%}" for t, name in used[:4]]


def foreign_cpu(window: float = 1.0) -> tuple[float, list[str]]:
    """Cores used by processes outside this harness over the next `window` seconds."""
    before = foreign_ticks()
    time.sleep(window)
    return foreign_since(before, window)
