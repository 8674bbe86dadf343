"""The load: one OpenAI-style chat request, sent by wrk, and what wrk reports about it."""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from processes import CandidateFailed

REQUEST_PATH = "/v1/chat/completions"
REQUEST_BODY_BYTES = 2048
WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # wrk's socket errors plus non-2xx answers


def chat_request_body(size: int = REQUEST_BODY_BYTES, stream: bool = False) -> bytes:
    """An OpenAI-style chat request, its user message padded so the JSON is exactly `size`."""

    def request(user_message: str) -> bytes:
        system = "You are a careful assistant for financial reports."
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": user_message},
        ]
        document = {
            "model": "gpt-4o-mini",
            "messages": messages,
            "temperature": 0.2,
            "stream": stream,
        }
        return json.dumps(document).encode()

    padding = size - len(request(""))
    body = request(("Summarise the quarterly report below. " * 100)[:padding])
    assert len(body) == size
    return body


def write_wrk_script(directory: Path) -> Path:
    script = directory / "post-chat.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"\n'
        f"wrk.body = [==[{chat_request_body().decode()}]==]\n"  # a Lua long string: no escapes
    )
    return script


def wrk_version() -> str:
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return output.split(" [")[0]


def run_wrk(port: int, connections: int, seconds: int, script: Path, cpu: int) -> LoadResult:
    url = f"http://127.0.0.1:{port}{REQUEST_PATH}"
    command = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "10s", "-s", str(script), url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise CandidateFailed(f"wrk failed: {result.stderr.strip() or result.stdout[-200:]}")
    load = parse_wrk(result.stdout)
    if load.requests == 0:
        raise CandidateFailed(f"no request completed in {seconds} s")
    return load


def parse_wrk(output: str) -> LoadResult:
    def match(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise CandidateFailed(f"unexpected wrk output: {output[-300:]!r}")
        return found

    def latency_ms(percent: int) -> float:
        value, unit = match(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$").groups()
        return float(value) * WRK_UNITS_MS[unit]

    done = match(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
    # wrk prints these two lines only when there is something to count.
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    errors += int(non_2xx[1]) if non_2xx else 0
    return LoadResult(
        requests=int(done[1]),
        seconds=float(done[2]) * WRK_UNITS_MS[done[3]] / 1000,
        requests_per_s=float(match(r"Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=latency_ms(50),
        p99_ms=latency_ms(99),
        errors=errors,
    )
