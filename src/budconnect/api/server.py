"""Running the HTTP server: uvicorn, with the bounds a registry facing a fleet needs.

uvicorn closes idle kept-alive connections (`timeout_keep_alive`), but it waits for a
request's head for as long as a client keeps the connection open: a client that connects
and sends nothing, or a header a byte at a time, holds a connection (and a file
descriptor) indefinitely. `BoundedHttpProtocol` closes a connection whose request head has
not fully arrived within `header_timeout` seconds of the connection or of the first byte
of the next request on it. Behind a proxy that buffers requests (nginx does by default)
the proxy bounds this too: set its `client_header_timeout` to the same order.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
from typing import Any

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
        max_connections: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_connections = max_connections


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is too slow."""

    _head_timer: asyncio.TimerHandle | None = None
    _last_active: float = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_active = self.loop.time()
        self._arm()
        limit = getattr(self.config, "max_connections", None)
        if limit and len(self.connections) > limit:
            self._make_room()

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
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._last_active = self.loop.time()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        timeout = getattr(self.config, "header_timeout", None)
        if timeout:
            self._head_timer = self.loop.call_later(timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


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
