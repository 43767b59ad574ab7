"""Running the HTTP server: uvicorn, with the bounds a registry facing a fleet needs.

uvicorn closes idle kept-alive connections (`timeout_keep_alive`), but it waits for a
request's head for as long as a client keeps the connection open: a client that connects
and sends nothing, or a header a byte at a time, holds a connection (and a file
descriptor) indefinitely. `BoundedHttpProtocol` closes a connection whose request head has
not fully arrived within `header_timeout` seconds of the connection or of the first byte
of the next request on it. Behind a proxy that buffers requests (nginx does by default)
the proxy bounds this too: set its `client_header_timeout` to the same order.

Nor does anything bound a request head's size (httptools parses heads of any length, and
uvicorn keeps every header): a fast client could send hundreds of megabytes of header lines.
A head larger than `max_header_bytes` is answered `431` and the connection closed (nginx's
`large_client_header_buffers` bounds it at the proxy).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

log = logging.getLogger(__name__)


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the bounds on the time to receive a request head and on
    the connections one worker keeps open."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = 10.0,
        max_header_bytes: int = 64 * 1024,
        max_connections: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.max_connections = max_connections


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is too slow.

    Each connection notes when it began to wait for a request head (a coarse clock read, no
    timer per request: polls arrive by the tens of thousands a second); one watchdog per
    event loop, ticking a few times a second, closes those that waited too long.
    """

    _head_since: float | None = None  # when the current wait for a request head began
    _in_head = False  # the parser is inside a request head
    _head_bytes = 0  # bytes received since that head began
    _last_active: float = 0.0
    _watchdogs: ClassVar[dict[int, _Watchdog]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        watchdog = self._watchdog()
        self._last_active = self._head_since = watchdog.now
        limit = getattr(self.config, "max_connections", None)
        if limit and len(self.connections) > limit:
            self._make_room()

    def _watchdog(self) -> _Watchdog:
        found = self._watchdogs.get(id(self.loop))
        if found is None:
            timeout = getattr(self.config, "header_timeout", None) or 0.0
            found = self._watchdogs[id(self.loop)] = _Watchdog(self.loop, self.connections, timeout)
        return found

    def _make_room(self) -> None:
        """Over the limit: close the connection idle the longest (no request under way), so
        that clients with requests are served; with none idle, refuse this one."""
        idle = [
            c
            for c in self.connections
            if c is not self
            and isinstance(c, BoundedHttpProtocol)
            and (c.cycle is None or c.cycle.response_complete)
        ]
        victim = min(idle, key=lambda c: c._last_active, default=self)
        log.debug("connection limit reached: closing one idle connection")
        victim.transport.close()

    def data_received(self, data: bytes) -> None:
        # The first bytes of a next request on a kept-alive connection start its clock.
        if self._head_since is None and (self.cycle is None or self.cycle.response_complete):
            self._head_since = self._watchdogs[id(self.loop)].now
        super().data_received(data)
        if not self._in_head:
            return
        # A head began and has not ended: the bytes belong to it (all but, when a pipelined
        # request follows a body in one read, that body's tail: an over-count of one read).
        self._head_bytes += len(data)
        limit = getattr(self.config, "max_header_bytes", None)
        if limit and self._head_bytes > limit and not self.transport.is_closing():
            self._refuse_head(limit)

    def _refuse_head(self, limit: int) -> None:
        self._answer_and_close(
            431,
            "Request header fields too large",
            f"the request head is larger than {limit:,} bytes",
        )

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - always uvicorn's generic text
        # uvicorn answers what its parser refuses (a request line, a header, a chunked
        # body) in plain text: say it as every other error is said. The parser does not
        # tell what it refused.
        self._answer_and_close(
            400,
            "Bad request",
            "the request is not valid HTTP/1.1 and could not be parsed",
        )

    def _answer_and_close(self, status: int, title: str, detail: str) -> None:
        """A problem+json answer written before any application sees the request; the
        connection is closed after it (what follows on it cannot be trusted)."""
        kind = title.lower().replace(" ", "-")
        body = orjson.dumps(
            {
                "type": f"urn:budconnect:problem:{kind}",
                "title": title,
                "status": status,
                "detail": detail,
            }
        )
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._last_active = self._head_since or self._last_active
        self._head_since = None
        self._in_head = False
        super().on_headers_complete()


class _Watchdog:
    """Closes, a few times a second, the connections that waited too long for a head."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float):
        self.loop = loop
        self.connections = connections
        self.timeout = timeout
        self.now = loop.time()
        if timeout:
            self.tick_every = min(0.25, timeout / 4)
            loop.call_later(self.tick_every, self._tick)

    def _tick(self) -> None:
        self.now = self.loop.time()
        deadline = self.now - self.timeout
        for connection in list(self.connections):
            since = getattr(connection, "_head_since", None)
            if since is not None and since < deadline and not connection.transport.is_closing():
                connection.transport.close()
        self.loop.call_later(self.tick_every, self._tick)


def raise_open_files_limit() -> int:
    """Raise this process's open-files limit to its hard limit; returns the new soft limit.

    Every connection is a file descriptor: the usual default of 1,024 is the first limit a
    busy worker meets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 16 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            return soft
    return soft


def run(config: ServerConfig) -> None:
    """Serve until stopped, as `uvicorn.run` does, with our protocol and configuration."""
    # Connections past the open-files limit would fail every request, new and old: keep a
    # margin for the database, the listening socket and logs.
    files = raise_open_files_limit()
    config.max_connections = max(16, min(config.max_connections, files - 64))
    config.http = BoundedHttpProtocol
    server = uvicorn.Server(config=config)
    if config.workers > 1:
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    else:
        config.load_app()
        server.run()
    if not server.started and config.workers == 1:
        sys.exit(3)  # uvicorn's startup-failure status
