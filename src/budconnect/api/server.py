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
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

log = logging.getLogger(__name__)


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the bound on the time to receive a request head."""

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is too slow."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # The first bytes of a next request on a kept-alive connection start its clock.
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
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


def run(config: ServerConfig) -> None:
    """Serve until stopped, as `uvicorn.run` does, with our protocol and configuration."""
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
