"""Send ambiguous HTTP/1.1 framing to a server over a raw socket and report how it answers.

Request smuggling needs two parsers that disagree on where a request ends; a gateway's
server should refuse such requests (RFC 9112 sections 5.2 and 6.3 allow or require 400)
rather than guess. Standard library only, so bench/stacks.py can use it directly:

    python3 bench/stacks/parser_probe.py --port 18181
"""

import argparse
import socket

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
PROBES: dict[str, bytes] = {
    "Content-Length + Transfer-Encoding": HEAD
    + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "duplicate Content-Length, same value": HEAD
    + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "duplicate Content-Length, different values": HEAD
    + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
    "obs-fold header line": HEAD + b"X-Folded: first\r\n second\r\nContent-Length: 2\r\n\r\n{}",
}


def answer_to(port: int, request: bytes, timeout_s: float = 3.0) -> str:
    """The status code the server answers with, or what happened instead."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        received = b""
        try:
            while b"\r\n" not in received:
                data = sock.recv(4096)
                if not data:
                    break
                received += data
        except TimeoutError:
            return "no answer"
        except ConnectionResetError:
            return "reset"
    if not received:
        return "closed, no answer"
    status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    return parts[1] if len(parts) > 1 else f"? {status_line!r}"


def probe_all(port: int) -> dict[str, str]:
    return {name: answer_to(port, request) for name, request in PROBES.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    for name, answer in probe_all(parser.parse_args().port).items():
        print(f"{name}: {answer}")
