"""Serving Prometheus metrics, and the middleware that counts and times every request.

With several workers, prometheus_client's multiprocess mode keeps the metrics of every
worker in files under `PROMETHEUS_MULTIPROC_DIR` (`budconnect serve` makes one when it runs
more than one worker), and `/metrics` adds them up; with one worker, the process's own
registry is read.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from budconnect.logs import REQUEST_ID
from budconnect.metrics import LATENCY, REQUESTS

_SANE = re.compile(rb"[A-Za-z0-9._:-]+")

# Route labels: a bounded set, whatever paths clients ask for.
_V1_LEAVES = {
    "catalog": "catalog",
    "changes": "changes",
    "model_prices_and_context_window.json": "litellm-map",
}


def route_of(path: str, matched: object = None) -> str:
    """The route label of a request: a short name for the poll routes (the fast path answers
    those without the router), else the path template of the route the router matched
    (`/v1/engines/{engine}/models/{key:path}/history`), else a coarse group."""
    short = _short_name(path)
    if short.endswith("other"):
        template = getattr(matched, "path", None)
        if isinstance(template, str):
            return template
    return short


def _short_name(path: str) -> str:
    if path == "/model/get-compatible-models":
        return "compat"
    parts = path.split("/")
    if path.startswith("/v1/engines/"):
        if len(parts) == 7 and parts[4] == "versions":
            return _V1_LEAVES.get(parts[6], "v1-other")
        if len(parts) == 5 and parts[4] == "diff":
            return "diff"
        return "v1-other"
    if path in ("/healthz", "/readyz", "/metrics", "/engines"):
        return path.strip("/")
    if path.startswith("/engines/"):
        return "engines"
    if path.startswith(("/docs", "/openapi.json", "/static-offline-docs")):
        return "docs"
    return "other"


class MetricsMiddleware:
    """Counts every HTTP request by route and status, and times it (outermost: the fast
    path's answers are counted too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, int], Callable[[], None]] = {}
        self._timers: dict[str, Callable[[float], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = _request_id(scope["headers"])
        token = REQUEST_ID.set(request_id)
        echoed = (b"x-request-id", request_id.encode())

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = route_of(scope["path"], scope.get("route"))
            count = self._children.get((route, status))
            if count is None:
                count = self._children[route, status] = REQUESTS.labels(route, str(status)).inc
            count()
            observe = self._timers.get(route)
            if observe is None:
                observe = self._timers[route] = LATENCY.labels(route).observe
            observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)


# Fresh ids: a random prefix per process (so workers and replicas never collide), then a
# counter; cheaper than random bytes per request.
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


_LIVE_FILE = re.compile(r"gauge_live[a-z]*_([0-9]+)\.db")


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges (cache sizes, versions, fleet) of workers that have died: the
    server that restarts a worker does not say so to prometheus_client, and the new one's
    figures would be added to the dead one's for good. Counters stay: what was counted was."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    pids = {int(m.group(1)) for name in names if (m := _LIVE_FILE.fullmatch(name))}
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if it is a sane one, else a fresh id."""
    for name, value in headers:
        if name == b"x-request-id" and 0 < len(value) <= 64 and _SANE.fullmatch(value):
            return value.decode()
    return f"{_PREFIX}-{next(_COUNTER):x}"


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, of every worker when there are several."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        _forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
