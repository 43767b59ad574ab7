"""The blocking part of a request (reading the database, building a body), within bounds.

Three bounds, per worker: at most `max_concurrent` such jobs run at once (the rest queue); a
request waits at most `wait` seconds in all, queue included, before it is answered 503 with
`Retry-After` (a hung database must not hold requests for as long as it hangs); and a
request whose client has left by the time its turn comes is dropped, not built. A job that
outlives its request keeps its thread until the database answers; the database pool's own
bound (its size and timeout) keeps those few.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

from budconnect.errors import Busy, ClientGone, DatabaseUnavailable
from budconnect.metrics import DROPPED, REFUSED

T = TypeVar("T")


class Blocking:
    def __init__(self, *, max_concurrent: int, wait: float) -> None:
        self.max_concurrent = max_concurrent
        self.wait = wait
        self._slots: asyncio.Semaphore | None = None

    async def run(
        self,
        request: Request | None,
        function: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
        write: bool = False,
        **kwargs: Any,
    ) -> T:
        """Run `function` in a thread, within the bounds. `write`: it may commit after its
        request was answered 503, and the answer says so (the writer checks before retrying)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent)
        limit = self.wait if timeout is None else timeout
        started = False
        try:
            with anyio.fail_after(limit):
                async with self._slots:
                    if request is not None and await request.is_disconnected():
                        DROPPED.inc()
                        raise ClientGone("the client left before its request was answered")
                    started = True
                    return await anyio.to_thread.run_sync(
                        functools.partial(function, *args, **kwargs), abandon_on_cancel=True
                    )
        except TimeoutError:
            REFUSED.labels("database" if started else "busy").inc()
            if started:
                outcome = (
                    "; the write may still land: check the version and the audit log before"
                    " retrying"
                    if write
                    else ""
                )
                raise DatabaseUnavailable(
                    f"no answer within {limit:g} s (the database may be hung){outcome}"
                ) from None
            raise Busy(
                f"{self.max_concurrent} expensive requests are being answered; retry shortly"
            ) from None
