"""Encoded response bodies, built once per snapshot digest and reused for every request.

A snapshot never changes, so neither do its encodings: the catalog, the LiteLLM model map and
each compatible-models page are serialized and gzipped once, and then served as bytes (with
ready-made header lists) by both the fast path and the routes.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import orjson

from budconnect.domain.records import JSONObject
from budconnect.services.lru import LRU
from budconnect.services.snapshots import Snapshot

Headers = list[tuple[bytes, bytes]]

LITELLM_MAP = "model_prices_and_context_window.json"


def validators(digest: str, cache_control: str) -> Headers:
    """The headers every answer about a snapshot carries, 304s included."""
    return [
        (b"etag", f'"{digest}"'.encode()),
        (b"cache-control", cache_control.encode()),
        (b"vary", b"Accept-Encoding"),
    ]


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation in identity and gzip encodings, with the headers of each answer."""

    digest: str
    body: bytes
    gzipped: bytes
    identity_headers: Headers
    gzip_headers: Headers
    not_modified_headers: Headers

    @staticmethod
    def build(content: JSONObject, digest: str, cache_control: str) -> Encoded:
        body = orjson.dumps(content)
        # mtime=0 keeps the gzip bytes a function of the content, equal on every replica.
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        common = validators(digest, cache_control)
        json_type = (b"content-type", b"application/json")
        return Encoded(
            digest=digest,
            body=body,
            gzipped=gzipped,
            identity_headers=[json_type, (b"content-length", str(len(body)).encode()), *common],
            gzip_headers=[
                json_type,
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(gzipped)).encode()),
                *common,
            ],
            not_modified_headers=common,
        )

    def choose(self, accepts_gzip: bool) -> tuple[bytes, Headers]:
        if accepts_gzip:
            return self.gzipped, self.gzip_headers
        return self.body, self.identity_headers


def cached(snapshot: Snapshot, key: Hashable, build: Callable[[], Encoded]) -> Encoded:
    """The encoding `key` of a snapshot, built on first use."""
    found: Encoded | None = snapshot.cache.get(key)
    if found is None:
        found = build()
        snapshot.cache[key] = found
    return found


def catalog(snapshot: Snapshot, cache_control: str) -> Encoded:
    def build() -> Encoded:
        return Encoded.build(
            {
                "object": "catalog",
                "engine": snapshot.engine,
                "engine_name": snapshot.engine_name,
                "engine_version": snapshot.version,
                "digest": snapshot.digest,
                "revision": snapshot.revision,
                "provider_count": len(snapshot.providers),
                "model_count": snapshot.model_count,
                "providers": snapshot.providers,
            },
            snapshot.digest,
            cache_control,
        )

    return cached(snapshot, "catalog", build)


def litellm_map(snapshot: Snapshot, cache_control: str) -> Encoded:
    """The version in LiteLLM's own model-map format: model key -> original entry."""

    def build() -> Encoded:
        entries = {
            model["uri"]: model["source_entry"]
            for provider in snapshot.providers
            for model in provider["models"]
        }
        return Encoded.build(dict(sorted(entries.items())), snapshot.digest, cache_control)

    return cached(snapshot, "litellm_map", build)


def compat_content(snapshots: list[Snapshot], page: int, limit: int, single: bool) -> JSONObject:
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


class BodyCache(LRU[Hashable, Encoded]):
    """Encodings requested by URL (compatible-models pages, diffs), bounded in bytes.

    Catalogs and LiteLLM maps live with their snapshot (one each per digest); pages and diffs
    multiply with query parameters, so they live here, where any number of distinct URLs
    costs at most `max_bytes`.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 256 * 1024 * 1024) -> None:
        super().__init__(
            max_entries, max_weight=max_bytes, weigh=lambda e: len(e.body) + len(e.gzipped)
        )


def etag_matches(if_none_match: str, digest: str) -> bool:
    """Weak comparison (RFC 9110, 13.1.2) of an If-None-Match list against `digest`."""
    candidates = if_none_match.split(",")
    for candidate in candidates:
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == f'"{digest}"':
            return True
    return False


def accepts_gzip(accept_encoding: str) -> bool:
    """True when gzip is acceptable (RFC 9110 12.5.3): a `gzip` entry decides, else `*` does."""
    wildcard = False
    for part in accept_encoding.lower().split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        if coding in ("gzip", "x-gzip"):  # x-gzip: the old name, still to be honoured
            return _weight(params) > 0
        if coding == "*":
            wildcard = _weight(params) > 0
    return wildcard


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                break
            # A malformed weight (nan included) is no reason to refuse, nor to fail.
            return weight if math.isfinite(weight) else 1.0
    return 1.0
