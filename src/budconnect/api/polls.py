"""Answering polls: the one implementation behind both request paths.

A poll (see `budconnect.api.queries`) is answered in four steps, each written once here:
resolve the version it names in a registry view, answer 304 when `If-None-Match` names the
snapshot, else find the encoded body in the cache, else build it. The poll fast path calls
`answer` with `block=False`: it uses only the view and bodies in memory, and hands the
request on (None) when anything is missing. The routes call it with `block=True`, in a
worker thread, and may read the database and build. So both paths give the same status,
body and validators for the same request, by construction.
"""

from __future__ import annotations

import threading
from collections import Counter

from budconnect.api import bodies
from budconnect.api.negotiation import Headers, etag_matches, validators
from budconnect.api.queries import Poll, PollKind
from budconnect.services.catalog import Catalog, RegistryView, VersionRow, combined_digest
from budconnect.services.snapshots import Snapshot

Answer = tuple[int, Headers, bytes]


class Polls:
    """Answers polls from a Catalog through one BodyCache; safe to share between threads."""

    def __init__(self, catalog: Catalog, cache: bodies.BodyCache, cache_control: str) -> None:
        self.catalog = catalog
        self.cache = cache
        self.cache_control = cache_control
        # Answers by poll kind and status, per path: what tests and metrics read.
        self.answered: Counter[tuple[str, str, int]] = Counter()
        self._count_lock = threading.Lock()
        self._not_modified: dict[tuple[str, bool], Headers] = {}

    def answer(
        self,
        poll: Poll,
        if_none_match: str | None,
        gzip_ok: bool,
        *,
        block: bool,
        view: RegistryView | None = None,
    ) -> Answer | None:
        """The answer to `poll`; with `block=False`, None when it is not ready in memory.

        Raises the registry's errors (unknown engine or version, Gone, ...) for the caller
        to turn into problem details.
        """
        if view is None:
            view = self.catalog.view()
        row = None
        if poll.kind is PollKind.COMPAT and poll.engine is None:
            digest = view.everything_digest
        else:
            assert poll.engine is not None
            row = view.resolve(poll.engine, poll.version)
            digest = row.content_digest
            if poll.kind is PollKind.CHANGES:
                view.check_since(poll.since)
        if if_none_match and etag_matches(if_none_match, digest):
            return self._count(poll, block, 304, self._validators(digest, gzip_ok), b"")
        key = _key(poll, digest, row)
        encoded = self.cache.get(key)
        if encoded is None:
            if not block:
                return None
            encoded = self.cache.get_or_build(
                key, lambda: self._build(poll, view, row), keep=_keeps(poll, view, row)
            )
        body, headers = encoded.choose(gzip_ok)
        return self._count(poll, block, 200, headers, body)

    def _validators(self, digest: str, gzip_ok: bool) -> Headers:
        found = self._not_modified.get((digest, gzip_ok))
        if found is None:
            if len(self._not_modified) > 4096:  # digests of versions long gone
                self._not_modified.clear()
            found = self._not_modified[digest, gzip_ok] = validators(
                digest, self.cache_control, gzip_ok
            )
        return found

    def _count(self, poll: Poll, block: bool, status: int, headers: Headers, body: bytes) -> Answer:
        with self._count_lock:
            self.answered["routes" if block else "fast", poll.kind.value, status] += 1
        return status, headers, body

    def _build(self, poll: Poll, view: RegistryView, row: VersionRow | None) -> bodies.Encoded:
        """Build the body of `poll` (reads the database when the snapshot is not in memory).

        Its digest is that of the snapshot read, which a seed since the view may have moved
        on; the cache then serves it once but does not keep it under the older key.
        """
        catalog, control = self.catalog, self.cache_control
        if row is None:  # compatible models without engine: the newest of every engine
            snapshots = [
                catalog.snapshot(engine.key, engine.latest.version)
                for engine in view.engines.values()
                if engine.latest is not None
            ]
            digest = combined_digest((s.engine, s.version, s.digest) for s in snapshots)
            content = bodies.page_content(snapshots, poll.page, poll.limit, single=False)
            return bodies.Encoded.build(content, digest, control)
        if poll.kind is PollKind.CHANGES:
            changes = catalog.changes(row.engine_key, row.version, poll.since)
            return bodies.Encoded.build(bodies.changes_content(changes), changes.digest, control)
        snapshot: Snapshot = catalog.snapshot(row.engine_key, row.version)
        if poll.kind is PollKind.CATALOG:
            content = bodies.catalog_content(snapshot)
        elif poll.kind is PollKind.LITELLM_MAP:
            content = bodies.litellm_map_content(snapshot)
        else:
            content = bodies.page_content([snapshot], poll.page, poll.limit, single=True)
        return bodies.Encoded.build(content, snapshot.digest, control)


def _key(poll: Poll, digest: str, row: VersionRow | None) -> bodies.BodyKey:
    if poll.kind is PollKind.CATALOG:
        return bodies.CatalogKey(digest)
    if poll.kind is PollKind.LITELLM_MAP:
        return bodies.LiteLLMMapKey(digest)
    if poll.kind is PollKind.CHANGES:
        assert row is not None
        return bodies.ChangesKey(digest, row.revision, poll.since)
    return bodies.PageKey(digest, poll.page, poll.limit)


def _keeps(poll: Poll, view: RegistryView, row: VersionRow | None) -> bool:
    """Pages past the end are all alike and any number of them can be asked for: they are
    built when asked, never kept. Every other body is kept."""
    if poll.kind is not PollKind.COMPAT:
        return True
    if row is not None:
        providers = row.provider_count
    else:
        providers = sum(e.latest.provider_count for e in view.engines.values() if e.latest)
    return (poll.page - 1) * poll.limit < providers
