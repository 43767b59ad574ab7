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


# How long a connection refused before its request was read (400, 431) stays open to drain
# what the client still sends, so that the client reads the answer instead of a reset.
LINGER_SECONDS = 2.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request head over the limit."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is too slow.

    Each connection notes when it began to wait for a request head (a coarse clock read, no
    timer per request: polls arrive by the tens of thousands a second); one watchdog per
    event loop, ticking a few times a second, closes those that waited too long.
    """

    _head_since: float | None = None  # when the current wait for a request head began
    _in_head = False  # the parser is inside a request head
    _head_bytes = 0  # bytes received since that head began
    _head_parsed = 0  # bytes of the request line and header lines parsed in that head
    _head_too_large = False
    _answered = False  # refused before any application saw the request; closing
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
        if self._answered:
            return  # what a refused client still sends is read and dropped until the close
        # The first bytes of a next request on a kept-alive connection start its clock.
        if self._head_since is None and (self.cycle is None or self.cycle.response_complete):
            self._head_since = self._watchdogs[id(self.loop)].now
        super().data_received(data)
        if not self._in_head or self._answered:
            return
        # A head began and has not ended: the bytes belong to it (all but, when a pipelined
        # request follows a body in one read, that body's tail: an over-count of one read).
        # A head that ends within the read is measured exactly by on_url and on_header.
        self._head_bytes += len(data)
        limit = getattr(self.config, "max_header_bytes", None)
        if limit and self._head_bytes > limit:
            self._refuse_head(limit)

    def _refuse_head(self, limit: int) -> None:
        self._answer_and_close(
            431,
            "Request header fields too large",
            f"the request head is larger than {limit:,} bytes",
        )

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        """Measure the head as the parser takes it apart: a head that arrives whole in one
        read, however large, is refused before any application sees it."""
        self._head_parsed += size
        limit = getattr(self.config, "max_header_bytes", None)
        if limit and self._head_parsed > limit:
            self._head_too_large = True
            raise _HeadTooLarge  # stops the parser; uvicorn calls send_400_response

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - always uvicorn's generic text
        if self._answered:
            return
        if self._head_too_large:
            self._refuse_head(getattr(self.config, "max_header_bytes", 0))
            return
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
        connection is closed after it (what follows on it cannot be trusted).

        The close lingers: closing a socket with unread data makes the kernel send a reset,
        which can destroy the answer before the client reads it (a client still sending a
        large head would see "connection reset", not the 431). So the write side is shut
        first, what the client still sends is dropped, and the socket is closed when the
        client closes its side or after LINGER_SECONDS."""
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
        self._answered = True
        self._head_since = None  # the watchdog need not close it: the linger timer does
        self.transport.write(head.encode() + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def eof_received(self) -> None:
        if self._answered:
            self.transport.close()  # the client read the answer and closed: done lingering

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = self._head_parsed = 0
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
