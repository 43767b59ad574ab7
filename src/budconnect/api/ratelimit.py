"""Per-client rate limits (token buckets), kept in memory by each worker.

A client is its address (behind a proxy, let uvicorn read X-Forwarded-For). With several
workers or replicas each enforces its own limit: the effective limit is that many times higher,
which bounds abuse all the same; a proxy in front can enforce a global one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from budconnect.errors import BudConnectError


class TooManyRequests(BudConnectError):
    status = 429
    title = "Too many requests"


class RateLimit:
    """`per_minute` requests per client, in bursts of at most `burst`."""

    def __init__(self, per_minute: float, burst: float, *, what: str, max_clients: int = 65536):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.what = what
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Spend one request of `client`'s allowance, or raise TooManyRequests."""
        self._spend(client, 1)

    def check(self, client: str) -> None:
        """Raise TooManyRequests if `client` has no allowance left, without spending any."""
        self._spend(client, 0)

    def _spend(self, client: str, cost: int) -> None:
        now = time.monotonic()
        with self._lock:
            if not cost and client not in self._buckets:
                return  # a full allowance: nothing to keep
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                # Whole seconds, rounded up: the detail and Retry-After say the same.
                wait = max(1, math.ceil((1 - tokens) / self.rate))
                raise TooManyRequests(
                    f"too many {self.what} from this client; retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[client] = (tokens - cost, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
