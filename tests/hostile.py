"""A hostile (or misconfigured) server a sync client may meet: the test decides each answer.

`HostileServer.answer` is called with the request path and returns the status,
headers and body chunks to send, so a test can answer with another version's real catalog,
redirect elsewhere, send a gzip bomb, or anything else. Requests are recorded.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], Iterable[bytes]]
# A reply of this status closes the connection without answering.
DROP = 0


def gzip_bomb(expanded: int, chunk: int = 1 << 20) -> bytes:
    """A gzip stream of `expanded` zero bytes (about 1/1000 of that on the wire)."""
    encoder = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(chunk)
    parts = [encoder.compress(zeros) for _ in range(expanded // chunk)]
    parts.append(encoder.flush())
    return b"".join(parts)


class HostileServer:
    def __init__(self, answer: Callable[[str], Reply]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                hostile.requests.append((self.path, headers))
                status, reply_headers, chunks = hostile.answer(self.path)
                if status == DROP:
                    self.close_connection = True
                    return
                if "content-length" not in reply_headers:  # else: streamed, maybe forever
                    body = b"".join(chunks)
                    reply_headers = {**reply_headers, "content-length": str(len(body))}
                    chunks = [body]
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except OSError:  # the client gave up, as it should
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
