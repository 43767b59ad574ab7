"""The read side: which engines and versions exist, their snapshots, changes and diffs.

A process keeps a small view of every engine version and its content digest. The server
refreshes it in the background once per `check_interval` seconds (see `budconnect.api.app`),
and the poll fast path answers from it without touching the database; so after a seed
commits, every worker serves the new digest within about one interval. Snapshots are immutable
and keyed by digest, so a cached one is always right for the digest it carries.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from budconnect.domain.documents import model_document, provider_document
from budconnect.domain.records import JSONObject
from budconnect.domain.versions import is_final, sort_versions, version_key
from budconnect.errors import DatabaseUnavailable, Gone, UnknownEngine, UnknownVersion
from budconnect.services.lru import LRU
from budconnect.services.snapshots import Snapshot, build_snapshot
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.repository import VersionRow

__all__ = ["Catalog", "ChangeSet", "RegistryView", "VersionRow", "combined_digest"]

LATEST = "latest"


@dataclass(frozen=True, slots=True)
class EngineView:
    key: str
    name: str
    versions: tuple[repo.VersionRow, ...]  # oldest first
    by_version: dict[str, repo.VersionRow] = field(default_factory=dict)

    @property
    def latest(self) -> repo.VersionRow | None:
        """The newest final release: never a pre-release or a local version."""
        return next((row for row in reversed(self.versions) if is_final(row.version)), None)

    def version(self, version: str) -> repo.VersionRow | None:
        if version == LATEST:
            return self.latest
        return self.by_version.get(version)


@dataclass(frozen=True, slots=True)
class RegistryView:
    """Every engine and version with its digest, as of one read of the database."""

    engines: dict[str, EngineView]
    # Digest of "the newest version of every engine", what a request without engine serves.
    everything_digest: str
    # The registry revision, and the oldest revision the change feed can answer from.
    revision: int = 0
    history_floor: int = 0

    @staticmethod
    def load(db: Database) -> RegistryView:
        with db.read() as conn:
            engines = repo.list_engines(conn)
            versions = repo.list_versions(conn)
            revision, floor = repo.registry_state(conn)
        by_engine: dict[int, list[repo.VersionRow]] = {}
        for row in versions:
            by_engine.setdefault(row.engine_id, []).append(row)
        views = {}
        for e in sorted(engines, key=lambda e: e.key):
            rows = tuple(sorted(by_engine.get(e.id, []), key=lambda r: version_key(r.version)))
            views[e.key] = EngineView(e.key, e.name, rows, {r.version: r for r in rows})
        return RegistryView(
            engines=views,
            everything_digest=_everything_digest(views),
            revision=revision,
            history_floor=floor,
        )

    def check_since(self, since: int) -> None:
        """Raise Gone when the change feed cannot answer from revision `since`: older than
        the kept history, or newer than the registry (a restored database)."""
        if since < self.history_floor or since > self.revision:
            raise Gone(
                f"revision {since} cannot be answered (this registry answers changes since "
                f"{self.history_floor} up to {self.revision}); fetch the whole catalog instead",
                oldest_revision=self.history_floor,
                current_revision=self.revision,
            )

    def engine(self, key: str) -> EngineView:
        found = self.engines.get(key)
        if found is None:
            known = list(self.engines)
            raise UnknownEngine(
                f"unknown engine {key!r}; known engines: {', '.join(known) or 'none'}",
                known_engines=known,
            )
        return found

    def resolve(self, engine: str, version: str | None) -> repo.VersionRow:
        found = self.engine(engine)
        row = found.version(version or LATEST)
        if row is not None:
            return row
        available = sort_versions(r.version for r in found.versions)[::-1]
        if version is None or version == LATEST:
            raise UnknownVersion(
                f"engine {engine!r} has no final release yet; available versions: "
                f"{', '.join(available) or 'none'}",
                available_versions=available,
            )
        raise UnknownVersion(
            f"unknown version {version!r} of engine {engine!r}; available versions: "
            f"{', '.join(available) or 'none'}",
            available_versions=available,
        )


def _everything_digest(engines: dict[str, EngineView]) -> str:
    return combined_digest(
        (v.key, v.latest.version, v.latest.content_digest)
        for v in engines.values()
        if v.latest is not None
    )


def combined_digest(parts: Iterable[tuple[str, str, str]]) -> str:
    """The digest of several engines' snapshots served together: (engine, version, digest)."""
    hasher = hashlib.sha256(b"budconnect-everything")
    for engine, version, digest in parts:
        hasher.update(f"\0{engine}\0{version}\0{digest}".encode())
    return hasher.hexdigest()


@dataclass(slots=True)
class ChangeSet:
    """What changed in one engine version since a revision: removals first, then upserts."""

    engine: str
    version: str
    since: int
    revision: int
    digest: str
    providers_upserted: list[JSONObject]
    providers_removed: list[JSONObject]
    models_upserted: list[JSONObject]
    models_removed: list[JSONObject]
    extras: JSONObject


class Catalog:
    """Engines, versions and snapshots as served; safe to share between threads."""

    def __init__(self, db: Database, *, check_interval: float = 1.0, max_snapshots: int = 16):
        self.db = db
        self.check_interval = check_interval
        self._view: RegistryView | None = None
        self._view_loaded_at = float("-inf")
        self._view_lock = threading.Lock()
        self._refresh_failing = False
        self._refresh_failed_at = float("-inf")
        self._snapshots: LRU[str, Snapshot] = LRU(max_snapshots)
        self._build_locks: dict[tuple[str, str], threading.Lock] = {}
        self._build_locks_lock = threading.Lock()

    # --- the view of engines and versions ---------------------------------------------------

    def view(self) -> RegistryView:
        """The current view, reloaded when older than the check interval.

        While the database cannot be read, the last view stays in use, and while one thread
        reads the database the others keep using it rather than queue (a hung database would
        hold each of them for a whole connect timeout). So snapshots already in memory stay
        servable: a client that read page 1 of a sweep can read the other pages too, which
        matters because deployed BudServe clients take a failed page 2 for an empty one and
        delete what it held.
        """
        view = self._view
        if view is not None:
            now = time.monotonic()
            if now - self._view_loaded_at < self.check_interval:
                return view
            if self._refresh_failing and now - self._refresh_failed_at < self.check_interval:
                return view  # the database failed a moment ago: try it again next interval
            if self._view_lock.locked():
                return view  # another thread is reading it now
        try:
            return self.refresh()
        except DatabaseUnavailable:
            if view is None:
                raise
            return view

    def refresh(self) -> RegistryView:
        """Reload the view from the database now (unless a read began since this call)."""
        requested = time.monotonic()
        with self._view_lock:
            if self._view is not None and self._view_loaded_at >= requested:
                return self._view
            started = time.monotonic()
            try:
                view = RegistryView.load(self.db)
            except Exception:
                self._refresh_failing = True
                self._refresh_failed_at = time.monotonic()
                raise
            self._refresh_failing = False
            self._view, self._view_loaded_at = view, started
            return view

    def fresh_view(self, max_age: float) -> RegistryView | None:
        """The view if read at most `max_age` seconds ago, without touching the database.

        While the database cannot be read, the last view read stays in use: what it says was
        true when the database last answered, and a poller is better served by that (the
        responses say `stale-if-error`) than by an error.
        """
        if time.monotonic() - self._view_loaded_at <= max_age or self._refresh_failing:
            return self._view
        return None

    def engine(self, key: str) -> EngineView:
        return self.view().engine(key)

    def resolve(self, engine: str, version: str | None) -> repo.VersionRow:
        """The version row for `engine` at `version`; None or 'latest' means the newest."""
        return self.view().resolve(engine, version)

    # --- snapshots ----------------------------------------------------------------------------

    def snapshot(self, engine: str, version: str | None) -> Snapshot:
        row = self.resolve(engine, version)
        cached = self.cached_snapshot(row.content_digest)
        if cached is not None:
            return cached
        key = (row.engine_key, row.version)
        with self._build_locks_lock:
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        # One thread builds a given version; the others wait for it rather than repeat it.
        with build_lock:
            cached = self.cached_snapshot(row.content_digest)
            if cached is not None:
                return cached
            snapshot = self._load(row)
            self._snapshots.put(snapshot.digest, snapshot)
            if snapshot.digest != row.content_digest:
                # A seed committed after the view was read: read the view again next time.
                self._view_loaded_at = float("-inf")
            return snapshot

    def cached_snapshot(self, digest: str) -> Snapshot | None:
        return self._snapshots.get(digest)

    def _load(self, row: repo.VersionRow) -> Snapshot:
        # One read transaction: providers and models come from the same committed state.
        with self.db.read() as conn:
            current = repo.get_version(conn, engine_key=row.engine_key, version=row.version)
            if current is None:
                raise UnknownVersion(f"version {row.version!r} of {row.engine_key!r} was removed")
            engine_row = repo.get_engine(conn, key=row.engine_key)
            providers = repo.load_providers(conn, version_id=current.id)
            models = repo.load_models(conn, version_id=current.id)
            extras = repo.get_version_extras(conn, version_id=current.id)
        return build_snapshot(
            engine=row.engine_key,
            engine_name=engine_row.name if engine_row else row.engine_key,
            version=row.version,
            revision=current.revision,
            providers=providers,
            models=models,
            extras=extras,
        )

    # --- changes --------------------------------------------------------------------------

    def changes(self, engine: str, version: str | None, since: int) -> ChangeSet:
        """What changed in a version after revision `since`, read in one transaction.

        Raises Gone when `since` is older than the kept history or newer than the registry
        (a restored database): the client must fetch the whole catalog instead.
        """
        resolved = self.resolve(engine, version)
        with self.db.read() as conn:
            row = repo.get_version(conn, engine_key=resolved.engine_key, version=resolved.version)
            if row is None:
                raise UnknownVersion(f"version {resolved.version!r} was removed")
            current, floor = repo.registry_state(conn)
            RegistryView({}, "", current, floor).check_since(since)
            extras = repo.get_version_extras(conn, version_id=row.id)
            if since >= row.revision:
                providers, models, removals = [], [], []
            else:
                providers = repo.load_providers(conn, version_id=row.id, since=since)
                models = repo.load_models(conn, version_id=row.id, since=since)
                removals = repo.removals_since(conn, version_id=row.id, since=since)
        return ChangeSet(
            engine=row.engine_key,
            version=row.version,
            since=since,
            revision=row.revision,
            digest=row.content_digest,
            providers_upserted=[
                provider_document(p.record, p.id)
                for p in sorted(providers, key=lambda p: p.record.key)
            ],
            providers_removed=[
                {"id": str(r.row_id), "provider_type": r.key}
                for r in removals
                if r.kind == "provider"
            ],
            models_upserted=[
                model_document(m.record, m.id, m.provider_id)
                for m in sorted(models, key=lambda m: m.record.key)
            ],
            models_removed=[
                {"id": str(r.row_id), "uri": r.key} for r in removals if r.kind == "model"
            ],
            extras=extras,
        )
