"""Encoded response bodies, built once per snapshot digest and kept in one byte-bounded cache.

A snapshot never changes, so neither do its encodings: the catalog, the LiteLLM model map,
each compatible-models page, each change-feed answer and each diff is serialized and gzipped
once, and then served as bytes (with ready-made header lists) by both request paths. The
cache is the HTTP layer's own; its keys are typed, so the fast path and the routes cannot
disagree on what a key means.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from budconnect.api.negotiation import Headers, validators
from budconnect.domain.documents import litellm_map
from budconnect.domain.records import JSONObject
from budconnect.services.catalog import ChangeSet
from budconnect.services.lru import LRU
from budconnect.services.snapshots import Snapshot


@dataclass(frozen=True, slots=True)
class CatalogKey:
    digest: str
    revision: int  # named in the body: `latest` may name a later one (served_revision)


@dataclass(frozen=True, slots=True)
class LiteLLMMapKey:
    digest: str


@dataclass(frozen=True, slots=True)
class PageKey:
    """A compatible-models page; `digest` is a version's, or all engines' combined digest."""

    digest: str
    page: int
    limit: int


@dataclass(frozen=True, slots=True)
class ChangesKey:
    digest: str
    revision: int  # of the version: the same content reached again answers differently
    since: int


@dataclass(frozen=True, slots=True)
class DiffKey:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class HistoryKey:
    """A model's history, as of one registry revision (the digest names both)."""

    digest: str


BodyKey = CatalogKey | LiteLLMMapKey | PageKey | ChangesKey | DiffKey | HistoryKey


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation in identity and gzip encodings, with the headers of each answer."""

    digest: str
    body: bytes
    gzipped: bytes
    identity_headers: Headers
    gzip_headers: Headers

    @staticmethod
    def build(content: JSONObject, digest: str, cache_control: str) -> Encoded:
        body = orjson.dumps(content)
        # mtime=0 keeps the gzip bytes a function of the content, equal on every replica.
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        json_type = (b"content-type", b"application/json")
        return Encoded(
            digest=digest,
            body=body,
            gzipped=gzipped,
            identity_headers=[
                json_type,
                (b"content-length", str(len(body)).encode()),
                *validators(digest, cache_control, gzipped=False),
            ],
            gzip_headers=[
                json_type,
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(gzipped)).encode()),
                *validators(digest, cache_control, gzipped=True),
            ],
        )

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)

    def choose(self, gzip_ok: bool) -> tuple[bytes, Headers]:
        if gzip_ok:
            return self.gzipped, self.gzip_headers
        return self.body, self.identity_headers


class BodyCache:
    """Every encoded body, by typed key, bounded in bytes; each built by one thread at a time.

    Concurrent requests for a body that is not built yet wait for the one thread building
    it instead of building it again (a flood of identical expensive requests costs one build).
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, max_entries: int = 4096) -> None:
        self._entries: LRU[BodyKey, Encoded] = LRU(
            max_entries, max_weight=max_bytes, weigh=lambda e: e.size
        )
        self._building: dict[BodyKey, threading.Lock] = {}
        self._building_lock = threading.Lock()

    def get(self, key: BodyKey) -> Encoded | None:
        return self._entries.get(key)

    def get_or_build(
        self, key: BodyKey, build: Callable[[], Encoded], *, keep: bool = True
    ) -> Encoded:
        """The body under `key`, built now if missing. It is kept when `keep` is true and it
        is of the digest the key names (a seed committed meanwhile gives another: that body
        is served, as it is right for its own validator, but not kept under this key)."""
        found = self._entries.get(key)
        if found is not None:
            return found
        with self._building_lock:
            lock = self._building.setdefault(key, threading.Lock())
        try:
            with lock:
                found = self._entries.get(key)
                if found is None:
                    found = build()
                    if keep and found.digest == _digest_of(key):
                        self._entries.put(key, found)
                return found
        finally:
            with self._building_lock:
                if self._building.get(key) is lock and not lock.locked():
                    del self._building[key]

    @property
    def size(self) -> int:
        return self._entries.weight

    def __len__(self) -> int:
        return len(self._entries)


def _digest_of(key: BodyKey) -> str:
    return diff_digest(key.old, key.new) if isinstance(key, DiffKey) else key.digest


def diff_digest(old: str, new: str) -> str:
    """The validator of the diff between two snapshots."""
    return hashlib.sha256(f"diff\0{old}\0{new}".encode()).hexdigest()


# --- what each body holds ---------------------------------------------------------------------


def catalog_content(snapshot: Snapshot, revision: int | None = None) -> JSONObject:
    return {
        "object": "catalog",
        "engine": snapshot.engine,
        "engine_name": snapshot.engine_name,
        "engine_version": snapshot.version,
        "digest": snapshot.digest,
        "revision": snapshot.revision if revision is None else max(revision, snapshot.revision),
        "provider_count": len(snapshot.providers),
        "model_count": snapshot.model_count,
        "providers": snapshot.providers,
        "extras": snapshot.extras,
    }


def litellm_map_content(snapshot: Snapshot) -> JSONObject:
    return litellm_map(snapshot.providers, snapshot.extras)


def page_content(snapshots: list[Snapshot], page: int, limit: int, single: bool) -> JSONObject:
    providers = [p for snapshot in snapshots for p in snapshot.providers]
    start = (page - 1) * limit
    first = snapshots[0] if single and snapshots else None
    return {
        "object": "model.compatible",
        "page": page,
        "limit": limit,
        "total_items": len(providers),
        "total_pages": math.ceil(len(providers) / limit),
        "engine_name": first.engine if first else None,
        "engine_version": first.version if first else None,
        "items": providers[start : start + limit],
    }


def changes_content(changes: ChangeSet) -> JSONObject:
    content: dict[str, Any] = {
        "object": "changes",
        "engine": changes.engine,
        "engine_version": changes.version,
        "since": changes.since,
        "revision": changes.revision,
        "digest": changes.digest,
        "providers": {
            "removed": changes.providers_removed,
            "upserted": changes.providers_upserted,
        },
        "models": {"removed": changes.models_removed, "upserted": changes.models_upserted},
        # Small and rarely changed: sent whole, and replaced whole by the client.
        "extras": changes.extras,
    }
    return content
