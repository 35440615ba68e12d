"""Looking for a secret everywhere the service could have kept or passed it on.

:func:`encodings` lists the ways a secret could be written down (raw bytes, hex,
base64, base64url, base32, with and without padding); :func:`found_in` names the
ones present in some bytes. :class:`RecordingProxy` sits between a kiosk (or a
PMS) and the service and keeps every request and answer, headers and bodies, as
the service received and sent them; :func:`database_rows` reads every row of
every table of the service's database.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import MetaData, create_engine, select


def encodings(secret: bytes) -> dict[str, bytes]:
    """Every encoding of ``secret`` a leak would plausibly use, by name."""
    forms = {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret),
        "base64url": base64.urlsafe_b64encode(secret),
        "base32": base64.b32encode(secret),
        "base32-lower": base64.b32encode(secret).lower(),
    }
    return forms | {f"{name}-unpadded": value.rstrip(b"=") for name, value in forms.items() if value.endswith(b"=")}


def found_in(secret: bytes, data: bytes) -> list[str]:
    """The names of the encodings of ``secret`` that occur in ``data``."""
    return [name for name, value in encodings(secret).items() if value in data]


@dataclass
class Exchange:
    method: str
    path: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes

    def as_bytes(self) -> bytes:
        """Everything of the exchange, as one blob to search."""
        head = "\n".join([f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.request_headers.items())])
        answer = "\n".join([str(self.status), *(f"{k}: {v}" for k, v in self.response_headers.items())])
        return b"\n".join([head.encode(), self.request_body, answer.encode(), self.response_body])


class RecordingProxy:
    """An HTTP proxy on loopback that forwards to ``upstream`` and records every exchange in :attr:`exchanges`."""

    def __init__(self, upstream: str) -> None:
        self.exchanges: list[Exchange] = []
        lock = threading.Lock()
        exchanges = self.exchanges

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing to follow

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                answer = requests.request(
                    self.command, upstream + self.path, data=body, headers=headers, timeout=120, allow_redirects=False
                )
                with lock:
                    exchanges.append(
                        Exchange(
                            self.command,
                            self.path,
                            dict(self.headers.items()),
                            body,
                            answer.status_code,
                            dict(answer.headers.items()),
                            answer.content,
                        )
                    )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in {"connection", "transfer-encoding", "content-length", "content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def database_rows(url: str) -> Iterator[tuple[str, bytes]]:
    """Every row of every table of the database at ``url``, as ``(table, the row's values as bytes)``."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    values = [v if isinstance(v, bytes) else str(v).encode() for v in row]
                    yield table.name, b"\x1f".join(values)
    finally:
        engine.dispose()
