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
from collections.abc import Callable
from dataclasses import dataclass

from budconnect.api import bodies
from budconnect.api.negotiation import Headers, etag_matches, validators
from budconnect.api.queries import Poll, PollKind
from budconnect.domain.records import JSONObject
from budconnect.services.catalog import Catalog, RegistryView, combined_digest
from budconnect.services.snapshots import Snapshot

Answer = tuple[int, Headers, bytes]


@dataclass(frozen=True, slots=True)
class _Target:
    digest: str  # what the ETag names
    key: bodies.BodyKey
    build: Callable[[], bodies.Encoded]
    keep: bool = True


class Polls:
    """Answers polls from a Catalog through one BodyCache; safe to share between threads."""

    def __init__(self, catalog: Catalog, cache: bodies.BodyCache, cache_control: str) -> None:
        self.catalog = catalog
        self.cache = cache
        self.cache_control = cache_control
        # Answers by poll kind and status, per path: what tests and metrics read.
        self.answered: Counter[tuple[str, str, int]] = Counter()
        self._count_lock = threading.Lock()

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
        target = self._target(poll, view)
        if if_none_match and etag_matches(if_none_match, target.digest):
            return self._count(poll, block, 304, validators(target.digest, self.cache_control,
                                                            gzip_ok), b"")  # fmt: skip
        if block:
            encoded = self.cache.get_or_build(target.key, target.build, keep=target.keep)
        else:
            found = self.cache.get(target.key)
            if found is None:
                return None
            encoded = found
        body, headers = encoded.choose(gzip_ok)
        return self._count(poll, block, 200, headers, body)

    def _count(self, poll: Poll, block: bool, status: int, headers: Headers, body: bytes) -> Answer:
        with self._count_lock:
            self.answered["routes" if block else "fast", poll.kind.value, status] += 1
        return status, headers, body

    def _target(self, poll: Poll, view: RegistryView) -> _Target:
        catalog, control = self.catalog, self.cache_control
        if poll.kind is PollKind.COMPAT and poll.engine is None:
            digest = view.everything_digest

            def build_all() -> bodies.Encoded:
                snapshots = [
                    catalog.snapshot(engine.key, engine.latest.version)
                    for engine in view.engines.values()
                    if engine.latest is not None
                ]
                # The snapshots must be those the digest names; a seed in between gives
                # another digest, which the next view carries.
                actual = combined_digest((s.engine, s.version, s.digest) for s in snapshots)
                content = bodies.page_content(snapshots, poll.page, poll.limit, single=False)
                return bodies.Encoded.build(content, actual, control)

            page_key = bodies.PageKey(digest, poll.page, poll.limit)
            return _Target(digest, page_key, build_all, keep=self._keeps_page(poll, view, None))

        assert poll.engine is not None
        row = view.resolve(poll.engine, poll.version)
        digest = row.content_digest

        def snapshot() -> Snapshot:
            return catalog.snapshot(row.engine_key, row.version)

        if poll.kind is PollKind.CATALOG:
            return _Target(
                digest,
                bodies.CatalogKey(digest),
                lambda: _encode(bodies.catalog_content(snap := snapshot()), snap.digest, control),
            )
        if poll.kind is PollKind.LITELLM_MAP:
            return _Target(
                digest,
                bodies.LiteLLMMapKey(digest),
                lambda: _encode(bodies.litellm_map_content(s := snapshot()), s.digest, control),
            )
        if poll.kind is PollKind.CHANGES:
            view.check_since(poll.since)

            def build_changes() -> bodies.Encoded:
                changes = catalog.changes(row.engine_key, row.version, poll.since)
                return _encode(bodies.changes_content(changes), changes.digest, control)

            return _Target(
                digest, bodies.ChangesKey(digest, row.revision, poll.since), build_changes
            )

        def build_page() -> bodies.Encoded:
            snap = snapshot()
            content = bodies.page_content([snap], poll.page, poll.limit, single=True)
            return _encode(content, snap.digest, control)

        keep = self._keeps_page(poll, view, row.provider_count)
        return _Target(digest, bodies.PageKey(digest, poll.page, poll.limit), build_page, keep=keep)

    @staticmethod
    def _keeps_page(poll: Poll, view: RegistryView, providers: int | None) -> bool:
        """Pages past the end are all alike and any number of them can be asked for: they
        are built when asked, never kept."""
        if providers is None:
            providers = sum(e.latest.provider_count for e in view.engines.values() if e.latest)
        return (poll.page - 1) * poll.limit < providers


def _encode(content: JSONObject, digest: str, control: str) -> bodies.Encoded:
    return bodies.Encoded.build(content, digest, control)
