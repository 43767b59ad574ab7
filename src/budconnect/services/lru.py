"""A small thread-safe LRU map: the one eviction policy every in-memory cache here uses."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Evicts the least recently used entries beyond `max_entries` or `max_weight`."""

    def __init__(
        self,
        max_entries: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
    ) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weigh = weigh or (lambda _: 0)
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._weight -= self._weigh(previous)
            self._entries[key] = value
            self._weight += self._weigh(value)
            while len(self._entries) > self._max_entries or (
                self._max_weight is not None
                and self._weight > self._max_weight
                and len(self._entries) > 1
            ):
                _, evicted = self._entries.popitem(last=False)
                self._weight -= self._weigh(evicted)

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)
