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
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from budconnect.api import bodies
from budconnect.api.negotiation import Headers, etag_matches, validators
from budconnect.api.queries import Poll, PollKind
from budconnect.metrics import BODIES_BUILT
from budconnect.services.catalog import Catalog, RegistryView, VersionRow, combined_digest
from budconnect.services.snapshots import Snapshot

Answer = tuple[int, Headers, bytes]
T = TypeVar("T")

# Compatible-models pages are for one client's sweep, pinned to the snapshot its page 1 came
# from (SweepPins): a shared cache must not keep them (it would mix snapshots across one
# sweep, and serve every client's pages as one's). A client may keep them and revalidate.
PAGE_CACHE_CONTROL = "private, no-cache"
# Who is sweeping compatible-models pages: the client's address and its User-Agent (deployed
# BudServe clients send no other identity).
Client = tuple[str, str]
# Engine names deployed clients send for "the models this registry has": BudServe's Helm chart
# configures `tensorzero` (its gateway), not an engine of the registry. Compatible-models
# serves it as no engine (the newest version of every engine), unless an engine of that name
# is ever held.
CLIENT_ENGINE_NAMES = frozenset({"tensorzero"})


@dataclass(frozen=True, slots=True)
class _Pin:
    digest: str
    snapshots: tuple[Snapshot, ...]
    at: float


class SweepPins:
    """The snapshot each client's last page 1 came from, kept for `ttl` seconds.

    Deployed BudServe clients read page 1, then pages 2..total_pages, and delete whatever
    the joined pages lack; pages cut from two snapshots (a seed between two pages) lose and
    duplicate providers. So pages after the first are served from the snapshot that client's
    page 1 came from, for as long as a sweep takes. The pins hold the snapshots themselves
    (shared with the caches): at most `max_entries` clients, at most `per_address` pins of
    one address, and at most `max_bytes` of distinct snapshots held by pins (a version's
    snapshot is 20 MB: a client asking page 1 of every version under many user agents would
    otherwise hold them all outside every cache's bound). The oldest pins go first; the
    many clients sweeping the current snapshot share it, and count it once.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int = 4096,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        per_address: int = 8,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.per_address = per_address
        self._pins: OrderedDict[tuple[object, ...], _Pin] = OrderedDict()
        # Pins per held snapshot (by digest), and the bytes of the snapshots held.
        self._holders: Counter[str] = Counter()
        self._sizes: dict[str, int] = {}
        self.bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> _Pin | None:
        with self._lock:
            pin = self._pins.get(key)
            if pin is not None and time.monotonic() - pin.at > self.ttl:
                self._drop(key)
                return None
            return pin

    def put(self, key: tuple[object, ...], pin: _Pin) -> None:
        with self._lock:
            # Expired pins first: a snapshot only dead sweeps hold must not outweigh a live
            # one (a pin is otherwise dropped only when its own key is asked again).
            now = time.monotonic()
            for old in [k for k, p in self._pins.items() if now - p.at > self.ttl]:
                self._drop(old)
            self._drop(key)
            self._pins[key] = pin
            for snapshot in pin.snapshots:
                if self._holders[snapshot.digest] == 0:
                    self._sizes[snapshot.digest] = snapshot.size
                    self.bytes += snapshot.size
                self._holders[snapshot.digest] += 1
            same_address = [k for k in self._pins if k[0] == key[0]]
            for old in same_address[: max(0, len(same_address) - self.per_address)]:
                self._drop(old)
            while len(self._pins) > self.max_entries:
                self._drop(next(iter(self._pins)))
            while self.bytes > self.max_bytes and len(self._holders) > 1:
                self._drop_least_shared()

    def _drop_least_shared(self) -> None:
        """Free the bytes of the snapshot the fewest pins hold (of those, the one whose last
        pin is oldest): its pins go, the one just made perhaps (its page 1 is served, only
        not pinned). The snapshot a fleet sweeps is the last to go, whoever pins old
        versions under many names."""
        last_pinned = {digest: n for n, digest in enumerate(
            d for pin in self._pins.values() for d in (s.digest for s in pin.snapshots)
        )}  # fmt: skip
        victim = min(self._holders, key=lambda d: (self._holders[d], last_pinned.get(d, 0)))
        for key in [k for k, pin in self._pins.items()
                    if any(s.digest == victim for s in pin.snapshots)]:  # fmt: skip
            self._drop(key)

    def discard(self, key: tuple[object, ...]) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: tuple[object, ...]) -> None:
        pin = self._pins.pop(key, None)
        if pin is None:
            return
        for snapshot in pin.snapshots:
            self._holders[snapshot.digest] -= 1
            if self._holders[snapshot.digest] <= 0:
                del self._holders[snapshot.digest]
                self.bytes -= self._sizes.pop(snapshot.digest)

    def __len__(self) -> int:
        return len(self._pins)


class Polls:
    """Answers polls from a Catalog through one BodyCache; safe to share between threads."""

    def __init__(
        self,
        catalog: Catalog,
        cache: bodies.BodyCache,
        cache_control: str,
        *,
        sweep_pin_seconds: float = 120.0,
        sweep_pin_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.catalog = catalog
        self.cache = cache
        self.cache_control = cache_control
        self.pins = SweepPins(sweep_pin_seconds, max_bytes=sweep_pin_bytes)
        # Answers by poll kind and status, per path: what tests and metrics read.
        self.answered: Counter[tuple[str, str, int]] = Counter()
        self._count_lock = threading.Lock()
        self._not_modified: dict[tuple[str, bool, str], Headers] = {}
        # The snapshots (engine, version, digest) behind each combined digest of pages
        # without an engine that a build cut, for pinning a sweep to them.
        self._parts: dict[str, tuple[tuple[str, str, str], ...]] = {}

    def answer(
        self,
        poll: Poll,
        if_none_match: str | None,
        gzip_ok: bool,
        *,
        block: bool,
        view: RegistryView | None = None,
        client: Client | None = None,
        charge: Callable[[], None] | None = None,
    ) -> Answer | None:
        """The answer to `poll`; with `block=False`, None when it is not ready in memory.

        Raises the registry's errors (unknown engine or version, Gone, ...) for the caller
        to turn into problem details. `client` identifies a sweep of compatible-models pages
        (see SweepPins). `charge` runs (and may raise) only when this request builds the
        body: a request served from memory, answered 304 or joining a build under way costs
        nothing more and is not charged.
        """
        if view is None:
            view = self.catalog.view()
        poll = _as_client_meant(poll, view)
        row = None
        if poll.kind is PollKind.COMPAT and poll.engine is None:
            digest = view.everything_digest
        else:
            assert poll.engine is not None
            row = view.resolve(poll.engine, poll.version)
            digest = row.content_digest
            if poll.kind is PollKind.CHANGES:
                view.check_since(poll.since)
        sweep = pin = None
        if poll.kind is PollKind.COMPAT and client is not None:
            sweep = (*client, poll.engine, poll.version, poll.limit)
            if poll.page > 1:
                pin = self.pins.get(sweep)
                if pin is not None and pin.digest != digest:
                    digest = pin.digest  # the snapshot this client's sweep began on
                else:
                    pin = None
        if if_none_match and etag_matches(if_none_match, digest):
            validators_304 = _marked(self._validators(digest, gzip_ok, self._control(poll)), row)
            return self._count(poll, block, 304, validators_304, b"")
        if poll.kind is PollKind.CHANGES and poll.engine is not None:
            # After the 304: a client holding what `latest` now is needs nothing, whichever
            # version it had asked about; without it, no delta from before the move applies.
            view.check_latest_since(poll.engine, poll.version, poll.since)
        key = _key(poll, digest, row, view)
        encoded = self.cache.get(key)
        if encoded is None:
            if not block:
                return None
            build = charged(self._builder(poll, view, row, pin), charge)
            encoded = self.cache.get_or_build(key, build, keep=_keeps(poll, view, row))
        if (
            sweep is not None
            and poll.page == 1
            and not self._pin(sweep, encoded.digest, view, row, block)
        ):
            return None  # the snapshot to pin is not in memory: the routes load it
        body, headers = encoded.choose(gzip_ok)
        return self._count(poll, block, 200, _marked(headers, row), body)

    def _builder(
        self, poll: Poll, view: RegistryView, row: VersionRow | None, pin: _Pin | None
    ) -> Callable[[], bodies.Encoded]:
        BODIES_BUILT.labels(poll.kind.value).inc()  # built, or joined a build under way
        if pin is None:
            return lambda: self._build(poll, view, row)

        def from_pin() -> bodies.Encoded:
            content = bodies.page_content(
                list(pin.snapshots), poll.page, poll.limit, single=poll.engine is not None
            )
            return bodies.Encoded.build(content, pin.digest, PAGE_CACHE_CONTROL)

        return from_pin

    def _pin(
        self,
        sweep: tuple[object, ...],
        digest: str,
        view: RegistryView,
        row: VersionRow | None,
        block: bool,
    ) -> bool:
        """Remember the snapshot(s) page 1 was cut from for this client's sweep: `digest` is
        the served body's, which is the view's unless a seed committed since the view was
        read (the body then comes from the newer snapshot). False when a snapshot is not in
        memory and `block` is false. When the snapshots cannot be found, the client's earlier
        pin is dropped: pages 2.. must never come from a sweep before this page 1."""
        if row is not None:
            parts: tuple[tuple[str, str, str], ...] | None = (
                (row.engine_key, row.version, digest),
            )
        else:
            # The view already names its combined digest: no hash per page 1.
            parts = _view_parts(view) if digest == view.everything_digest else None
            parts = parts or self._parts.get(digest)
        snapshots = []
        for engine, version, part in parts or ():
            found = self.catalog.cached_snapshot(part)
            if found is None:
                if not block:
                    return False
                found = self.catalog.snapshot(engine, version)
            if found.digest != part:
                break  # a seed came in between and the snapshot is gone
            snapshots.append(found)
        else:
            if parts:
                self.pins.put(sweep, _Pin(digest, tuple(snapshots), time.monotonic()))
                return True
        self.pins.discard(sweep)
        return True

    def _control(self, poll: Poll) -> str:
        return PAGE_CACHE_CONTROL if poll.kind is PollKind.COMPAT else self.cache_control

    def _validators(self, digest: str, gzip_ok: bool, control: str) -> Headers:
        found = self._not_modified.get((digest, gzip_ok, control))
        if found is None:
            if len(self._not_modified) > 4096:  # digests of versions long gone
                self._not_modified.clear()
            found = self._not_modified[digest, gzip_ok, control] = validators(
                digest, control, gzip_ok
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
        catalog, control = self.catalog, self._control(poll)
        if row is None:  # compatible models without engine: the newest of every engine
            snapshots = [
                catalog.snapshot(engine.key, engine.latest.version)
                for engine in view.engines.values()
                if engine.latest is not None
            ]
            parts = tuple((s.engine, s.version, s.digest) for s in snapshots)
            digest = combined_digest(parts)
            if len(self._parts) > 4096:  # combinations long gone
                self._parts.clear()
            self._parts[digest] = parts
            content = bodies.page_content(snapshots, poll.page, poll.limit, single=False)
            return bodies.Encoded.build(content, digest, control)
        if poll.kind is PollKind.CHANGES:
            # Asked as it was (`latest`, or a version): a delta of `latest` has rules of its own.
            changes = catalog.changes(row.engine_key, poll.version, poll.since)
            return bodies.Encoded.build(bodies.changes_content(changes), changes.digest, control)
        snapshot: Snapshot = catalog.snapshot(row.engine_key, row.version)
        if poll.kind is PollKind.CATALOG:
            content = bodies.catalog_content(snapshot, view.served_revision(row, poll.version))
        elif poll.kind is PollKind.LITELLM_MAP:
            content = bodies.litellm_map_content(snapshot)
        else:
            content = bodies.page_content([snapshot], poll.page, poll.limit, single=True)
        return bodies.Encoded.build(content, snapshot.digest, control)


YANKED = b"x-budconnect-yanked"


def _as_client_meant(poll: Poll, view: RegistryView) -> Poll:
    """A compatible-models poll naming a client's engine (CLIENT_ENGINE_NAMES) rather than one
    the registry holds, as the poll without an engine."""
    if (
        poll.kind is PollKind.COMPAT
        and poll.engine in CLIENT_ENGINE_NAMES
        and poll.version is None
        and poll.engine not in view.engines
    ):
        return replace(poll, engine=None)
    return poll


def _marked(headers: Headers, row: VersionRow | None) -> Headers:
    """`headers`, and for a yanked version (served by its exact name) a header saying so and
    why: a deployment pinned to it learns at its next poll, 304 or not. Added per answer, not
    kept with the body: a yank changes no digest."""
    if row is None or row.yanked_at is None:
        return headers
    reason = (row.yank_reason or "yanked").encode("ascii", "replace")[:200]
    return [*headers, (YANKED, bytes(c if 32 <= c < 127 else 63 for c in reason))]


def _view_parts(view: RegistryView) -> tuple[tuple[str, str, str], ...]:
    """(engine, version, digest) of the newest version of every engine, as served together."""
    return tuple(
        (e.key, e.latest.version, e.latest.content_digest)
        for e in view.engines.values()
        if e.latest is not None
    )


def charged(build: Callable[[], T], charge: Callable[[], None] | None) -> Callable[[], T]:
    """`build`, preceded by `charge` (a rate limit's take) when there is one."""
    if charge is None:
        return build

    def build_charged() -> T:
        charge()
        return build()

    return build_charged


def _key(poll: Poll, digest: str, row: VersionRow | None, view: RegistryView) -> bodies.BodyKey:
    if poll.kind is PollKind.CATALOG:
        assert row is not None
        return bodies.CatalogKey(digest, view.served_revision(row, poll.version))
    if poll.kind is PollKind.LITELLM_MAP:
        return bodies.LiteLLMMapKey(digest)
    if poll.kind is PollKind.CHANGES:
        assert row is not None
        return bodies.ChangesKey(digest, view.served_revision(row, poll.version), poll.since)
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
