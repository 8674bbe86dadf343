"""Starting, watching and stopping the benchmark's processes, and reading their CPU time."""

import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class CandidateFailed(Exception):
    """A candidate did not start, answered wrongly, or died under load."""


class Launcher:
    """Starts pinned processes in process groups of their own, and stops every one of them."""

    def __init__(self, log_dir: Path, cwd: Path, pythonpath: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.pythonpath = pythonpath
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, command: list[str], cpu: int, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            # A session of its own: Ctrl-C reaches us and not it, and the worker processes it
            # may fork (granian) stay in its group, so stop() reaches them too.
            process = subprocess.Popen(
                ["taskset", "-c", str(cpu), *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
                env={**os.environ, "PYTHONPATH": str(self.pythonpath), **(env or {})},
            )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)  # the group made for it: its id is its pid
                process.wait(5)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.running.remove(process)

    def log_tail(self, name: str, lines: int = 3) -> str:
        text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        # Skip the ~~~^^^ lines with which Python underlines the failing code in tracebacks.
        telling = [line.strip() for line in text.splitlines() if line.strip(" ~^")]
        return " / ".join(telling[-lines:]) or "(no output)"

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in list(self.running):
            self.stop(process)


def free_port(preferred: int) -> int:
    """The first port from `preferred` on that nothing listens on."""
    for port in range(preferred, preferred + 200):
        with socket.socket() as sock:
            # As the servers will: a port whose old connections linger in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {preferred}..{preferred + 199}")


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout_s: float = 20
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CandidateFailed(f"exited with code {process.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise CandidateFailed(f"not listening on port {port} after {timeout_s:.0f} s")


def tree_cpu_seconds(root_pid: int) -> float:
    """utime + stime of a process and its descendants. A process's /proc/PID/stat already
    sums all its threads (granian's Rust threads included), dead ones too."""
    parent_and_ticks = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces: split after its last ")".
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        parent_and_ticks[int(stat_file.parent.name)] = (
            int(fields[1]),
            int(fields[11]) + int(fields[12]),
        )
    family, ticks = {root_pid}, 0
    for pid in sorted(parent_and_ticks):  # parents before children while pids do not wrap
        parent, own_ticks = parent_and_ticks[pid]
        if pid in family or parent in family:
            family.add(pid)
            ticks += own_ticks
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuClock:
    """CPU-seconds used so far: by the proxy, by all of the benchmark's own processes, and by
    the whole machine. The difference tells how much other work shared the cores."""

    proxy: float
    ours: float
    machine: float


def read_cpu_clock(proxy_pid: int | None, upstream_pid: int) -> CpuClock:
    proxy = tree_cpu_seconds(proxy_pid) if proxy_pid else 0.0
    finished_children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has ended
    ours = proxy + tree_cpu_seconds(upstream_pid)
    ours += finished_children.ru_utime + finished_children.ru_stime
    return CpuClock(proxy=proxy, ours=ours, machine=machine_busy_seconds())


def machine_busy_seconds() -> float:
    """Non-idle CPU time of all cores since boot, as all cores' elapsed time less their idle
    time. The kernel keeps idle time precisely; its busy counters are only sampled at ticks,
    and miss much of the short bursts of a proxy at one connection."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle, iowait = int(fields[3]), int(fields[4])
    elapsed = time.clock_gettime(time.CLOCK_BOOTTIME) * len(os.sched_getaffinity(0))
    return elapsed - (idle + iowait) / os.sysconf("SC_CLK_TCK")
