"""Process-wide counters: cheap, lock-free (one event loop per process), read by /readyz."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["METRICS", "Metrics"]


@dataclass(slots=True)
class Metrics:
    requests: int = 0
    in_flight: int = 0
    events_written: int = 0
    events_waited: int = 0
    events_dead_lettered: int = 0
    reloads: int = 0
    reload_failures: int = 0
    check_faults: Counter[str] = field(default_factory=Counter)
    upstream_errors: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "events_written": self.events_written,
            "events_waited": self.events_waited,
            "events_dead_lettered": self.events_dead_lettered,
            "reloads": self.reloads,
            "reload_failures": self.reload_failures,
            "check_faults": dict(self.check_faults),
            "upstream_errors": dict(self.upstream_errors),
        }


METRICS = Metrics()
