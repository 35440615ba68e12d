"""A webhook receiver on loopback for the tests: records each request, answers a scripted status."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; then 204
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 120.0) -> list[Received]:
        """Block until ``count`` requests arrived (bounded); return them."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout_s), self.requests
            return list(self.requests)


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A loopback HTTP server that records every POST and answers ``statuses`` in turn (then 204)."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            found = box[0]
            with found.changed:
                found.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = found.statuses.pop(0) if found.statuses else 204
                found.changed.notify_all()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks", statuses=list(statuses or [])))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
