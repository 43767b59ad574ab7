"""A fault-injecting HTTP proxy between a sync client and the real server.

It forwards each GET to the real BudConnect server and then, depending on `mode`, answers
faithfully or breaks the answer the ways networks and servers break: a 500, a 429 with
Retry-After (in seconds or as a date), a body cut off half-way with the connection closed, a
body sent a byte at a time, or a connection closed before any answer. It also records what
the client sent and the status of each answer.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.statuses: list[tuple[str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.requests.append((self.path, dict(self.headers.items())))
                mode = proxy.mode
                if mode == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if mode == "500":
                    self._answer(500, {"content-type": "text/plain"}, b"internal error")
                    return
                if mode == "429":
                    self._answer(429, {"retry-after": "7"}, b"")
                    return
                if mode == "429-date":
                    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=7)
                    self._answer(429, {"retry-after": format_datetime(when, usegmt=True)}, b"")
                    return
                forwarded = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream = httpx.get(proxy.upstream + self.path, headers=forwarded, timeout=30)
                body = upstream.content  # decoded; re-sent without content-encoding
                headers = {
                    k: v for k, v in upstream.headers.items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding",
                                         "connection", "date", "server")
                }  # fmt: skip
                if mode == "truncate" and len(body) > 1:
                    self.send_response(upstream.status_code)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if mode == "dribble" and len(body) > 1:
                    self.send_response(upstream.status_code)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    try:
                        for index in range(len(body)):
                            self.wfile.write(body[index : index + 1])
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:  # the client gave up: that is the point
                        self.close_connection = True
                    return
                if mode == "corrupt" and upstream.status_code == 200:
                    body = body.replace(b'"input_cost_per_token"', b'"input_cost_per_tokeN"', 1)
                self._answer(upstream.status_code, headers, body)

            def send_response(self, code: int, message: str | None = None) -> None:
                proxy.statuses.append((self.path, code))
                super().send_response(code, message)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
