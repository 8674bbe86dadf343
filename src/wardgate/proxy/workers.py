"""Run N gateway worker processes on one port (SO_REUSEPORT), supervised by the parent.

The kernel spreads connections across the workers. The parent relays SIGHUP (reload) and
SIGTERM/SIGINT (drain and stop) to every worker and restarts a worker that dies unexpectedly.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

__all__ = ["run_workers"]

log = logging.getLogger(__name__)
RESTART_BACKOFF_SECONDS = 1.0


def _worker(policy_path: str, host: str, port: int, log_level: str) -> None:
    from wardgate.cli import configure_logging, run_loop
    from wardgate.runtime import run_gateway

    configure_logging(log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    run_loop(run_gateway(Path(policy_path), host, port, reuse_port=True))


def run_workers(policy_path: Path, host: str, port: int, count: int, log_level: str) -> None:
    context = multiprocessing.get_context("spawn")
    args = (str(policy_path), host, port, log_level)

    def spawn() -> BaseProcess:
        process = context.Process(target=_worker, args=args, daemon=False)
        process.start()
        return process

    workers = [spawn() for _ in range(count)]
    stopping = False

    def relay(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
            signum = signal.SIGTERM
        for process in workers:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, relay)
    log.info("started %d workers on %s:%d", count, host, port)
    while not stopping:
        time.sleep(0.2)
        for index, process in enumerate(workers):
            if not process.is_alive() and not stopping:
                log.error("worker %d exited with %s; restarting", process.pid, process.exitcode)
                time.sleep(RESTART_BACKOFF_SECONDS)
                workers[index] = spawn()
    for process in workers:
        process.join()
