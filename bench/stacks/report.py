"""The markdown report that bench/stacks.py writes: setup, results table, summary, probes."""

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from load import REQUEST_BODY_BYTES, REQUEST_PATH, LoadResult, wrk_version
from parser_probe import PROBES

NOTES_MARKER = (
    "<!-- Written by hand below this line; bench/stacks.py keeps it when it rewrites the file. -->"
)


@dataclass(frozen=True)
class Candidate:
    name: str
    server: str
    client: str
    command: tuple[str, ...]  # "{port}" and "{upstream}" are filled in at start


DIRECT = Candidate("direct", "none: wrk straight to the upstream", "-", ())


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    connections: int
    load: LoadResult | None = None
    cpu_seconds: float | None = None  # the proxy's process tree; None for direct
    others_cpu_seconds: float = 0.0  # used by processes not ours during the run
    failure: str | None = None

    @property
    def others_share(self) -> float:
        """Other work on the machine during the run, as a share of one core."""
        return self.others_cpu_seconds / self.load.seconds if self.load else 0.0


@dataclass(frozen=True)
class RunDescription:
    command: str
    date: str
    load_average: str
    versions: str
    proxy_cpu: int
    load_cpu: int
    warmup_s: int
    run_s: int
    rounds: int
    quiet_share: float
    max_attempts: int


def render(
    rows: list[Row], probes: dict[str, dict[str, str]], run: RunDescription, notes: str
) -> str:
    rounds = group_rounds(rows)
    medians = [median_run(kept_runs(runs, run.quiet_share)) for runs in rounds]
    lines = [
        "# Server + upstream-client stack comparison",
        "",
        f"Measured by `{run.command}` (from the repo root) on {run.date}.",
        "",
        *setup_description(run),
        "",
        *results_table(rounds, run.quiet_share),
        "",
        *summary(medians),
        "",
        "## How each HTTP parser treats ambiguous framing",
        "",
        "The status code each server answered to one raw request"
        " (`bench/stacks/parser_probe.py`); 200 means it accepted the request and forwarded it.",
        "",
        *probe_table(probes),
        "",
        NOTES_MARKER,
        "",
        notes,
        "",
    ]
    return "\n".join(lines)


def setup_description(run: RunDescription) -> list[str]:
    return [
        f"- **Machine:** {machine_description()}; load average at start {run.load_average}"
        " (other services run on this machine too).",
        f"- **Candidates' venv** (`bench/.venv-stacks`): {run.versions}. uvloop everywhere.",
        "- **Pinned with taskset:** each proxy (all its threads and worker processes) on CPU"
        f" {run.proxy_cpu}; the upstream and wrk share CPU {run.load_cpu}.",
        f"- **Load:** {wrk_version()}, 1 thread, keep-alive, POST of a {REQUEST_BODY_BYTES}-byte"
        f" chat-completion JSON to `{REQUEST_PATH}`; {run.warmup_s} s warm-up, then"
        f" {run.run_s} s measured. The upstream (`bench/stacks/upstream.py`) answers a fixed"
        " ~600-byte chat.completion.",
        f"- **Rounds:** {run.rounds}, each starting every candidate afresh in turn, so that a"
        " busy spell of the machine hits one run rather than one candidate. Each row shows the"
        " run with the median req/s among the quiet runs (see *others*; all runs when none was"
        " quiet), and *req/s range* spans those runs.",
        "- **CPU:** utime + stime of the proxy process, its threads and child processes, from"
        " `/proc`, over the measured run. *Proxy core busy* is that CPU time over wall time:"
        " near 100% means the proxy was the bottleneck.",
        "- **Others:** CPU time that processes other than the benchmark's own (proxy, upstream,"
        " wrk) took on the machine during the run, as a share of one core (non-idle time in"
        " `/proc/stat` less our processes' own; a quiet machine shows a few %). A run with more"
        f" than {run.quiet_share:.0%} is done again, up to {run.max_attempts} attempts in all,"
        " and the quietest attempt is kept.",
        "- **Errors:** wrk's socket errors plus non-2xx answers.",
    ]


def machine_description() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return (
        f"{model[1] if model else platform.machine()}, {os.cpu_count()} cores,"
        f" Linux {platform.release()}, Python {platform.python_version()}"
    )


def table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def group_rounds(rows: list[Row]) -> list[list[Row]]:
    """The runs of each candidate and connection count (a failure is a group of its own),
    in the order of the first round."""
    groups: dict[tuple[str, int, str | None], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.candidate.name, row.connections, row.failure), []).append(row)
    return list(groups.values())


def kept_runs(runs: list[Row], quiet_share: float) -> list[Row]:
    """The runs that other work on the machine left alone, or all when none was."""
    return [run for run in runs if run.others_share <= quiet_share] or runs


def median_run(runs: list[Row]) -> Row:
    by_rate = sorted(runs, key=lambda row: row.load.requests_per_s if row.load else 0.0)
    return by_rate[len(by_rate) // 2]


def results_table(rounds: list[list[Row]], quiet_share: float) -> list[str]:
    header = ["stack", "server", "client", "conns", "req/s", "req/s range", "quiet runs"]
    header += ["p50 ms", "p99 ms", "proxy CPU-s / 1k req", "req / CPU-s", "proxy core busy"]
    header += ["others", "errors"]
    alignment = ["---"] * 3 + ["---:"] * 11
    lines = [table_line(header), table_line(alignment)]
    return lines + [table_line(result_cells(runs, quiet_share)) for runs in rounds]


def result_cells(runs: list[Row], quiet_share: float) -> list[str]:
    kept = kept_runs(runs, quiet_share)
    row = median_run(kept)
    head = [f"`{row.candidate.name}`", row.candidate.server, row.candidate.client]
    if row.load is None:
        failure = (row.failure or "").replace("|", "\\|")  # a bare | would end the cell
        return [*head, "-", f"**failed** ({len(runs)}x): {failure}", *[""] * 9]
    rates = [run.load.requests_per_s for run in kept if run.load]
    quiet = sum(run.others_share <= quiet_share for run in runs)
    load, cpu = row.load, row.cpu_seconds
    return [
        *head,
        str(row.connections),
        f"{load.requests_per_s:,.0f}",
        f"{min(rates):,.0f}-{max(rates):,.0f}",
        f"{quiet}/{len(runs)}",
        f"{load.p50_ms:.2f}",
        f"{load.p99_ms:.2f}",
        f"{cpu / load.requests * 1000:.3f}" if cpu else "-",
        f"{load.requests / cpu:,.0f}" if cpu else "-",
        f"{cpu / load.seconds:.0%}" if cpu else "-",
        f"{row.others_share:.0%}",
        str(load.errors),
    ]


def requests_per_cpu_second(row: Row) -> float:
    assert row.load is not None and row.cpu_seconds
    return row.load.requests / row.cpu_seconds


def p50_ms(row: Row) -> float:
    assert row.load is not None
    return row.load.p50_ms


def summary(rows: list[Row]) -> list[str]:
    """The two questions the run answers, computed from the median runs."""
    measured = [row for row in rows if row.load and row.cpu_seconds]
    lines = []
    for connections in sorted({row.connections for row in measured}):
        same_load = [row for row in measured if row.connections == connections]
        ranked = sorted(same_load, key=requests_per_cpu_second, reverse=True)[:3]
        best = ", ".join(f"`{r.candidate.name}` {requests_per_cpu_second(r):,.0f}" for r in ranked)
        lines.append(f"- Most requests per CPU-second at {connections} connection(s): {best}.")
    direct = [p50_ms(r) for r in rows if r.candidate == DIRECT and r.connections == 1 and r.load]
    if direct:
        at_one = sorted((row for row in measured if row.connections == 1), key=p50_ms)
        added = ", ".join(f"`{r.candidate.name}` +{p50_ms(r) - direct[0]:.3f}" for r in at_one)
        lines.append(f"- p50 added over direct at 1 connection, in ms, lowest first: {added}.")
    return lines


def probe_table(probes: dict[str, dict[str, str]]) -> list[str]:
    names = list(PROBES)
    lines = [table_line(["stack", *names]), table_line(["---"] * (len(names) + 1))]
    for stack, answers in probes.items():
        lines.append(table_line([f"`{stack}`", *(answers[name] for name in names)]))
    return lines


def kept_notes(path: Path) -> str:
    """What was written by hand below the marker in the last report, if any."""
    if path.exists() and NOTES_MARKER in (text := path.read_text()):
        return text.split(NOTES_MARKER, 1)[1].strip()
    return "## Conclusions\n\n(none written yet)"
