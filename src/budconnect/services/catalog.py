"""The read side: which engines and versions exist, and their snapshots, cached by digest.

A process keeps a small view of every engine version and its content digest, refreshed from
the database at most once per `check_interval` seconds; that interval is the bound on how long
a worker may serve a version's previous content after a seed commits. Snapshots are immutable
and keyed by digest, so a cached one is always right for the digest it carries.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from budconnect.domain.versions import sort_versions, version_key
from budconnect.errors import InvalidInput, UnknownEngine, UnknownVersion
from budconnect.services.snapshots import Snapshot, build_snapshot
from budconnect.storage import repository as repo
from budconnect.storage.database import Database

LATEST = "latest"


@dataclass(frozen=True, slots=True)
class EngineView:
    key: str
    name: str
    versions: tuple[repo.VersionRow, ...]  # oldest first

    @property
    def latest(self) -> repo.VersionRow | None:
        return self.versions[-1] if self.versions else None

    def version(self, version: str) -> repo.VersionRow | None:
        for row in self.versions:
            if row.version == version:
                return row
        return None


@dataclass(frozen=True, slots=True)
class RegistryView:
    engines: dict[str, EngineView]

    @staticmethod
    def load(db: Database) -> RegistryView:
        with db.read() as conn:
            engines = repo.list_engines(conn)
            versions = repo.list_versions(conn)
        by_engine: dict[int, list[repo.VersionRow]] = {}
        for row in versions:
            by_engine.setdefault(row.engine_id, []).append(row)
        return RegistryView(
            engines={
                e.key: EngineView(
                    key=e.key,
                    name=e.name,
                    versions=tuple(
                        sorted(by_engine.get(e.id, []), key=lambda r: version_key(r.version))
                    ),
                )
                for e in sorted(engines, key=lambda e: e.key)
            }
        )


class Catalog:
    """Engines, versions and snapshots as served; safe to share between threads."""

    def __init__(self, db: Database, *, check_interval: float = 1.0, max_snapshots: int = 16):
        self.db = db
        self.check_interval = check_interval
        self._max_snapshots = max_snapshots
        self._view: RegistryView | None = None
        self._view_loaded_at = 0.0
        self._view_lock = threading.Lock()
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._build_locks: dict[tuple[str, str], threading.Lock] = {}
        self._snapshots_lock = threading.Lock()

    # --- the view of engines and versions ---------------------------------------------------

    def view(self) -> RegistryView:
        """The current view, reloaded when older than the check interval."""
        view = self._view
        if view is not None and time.monotonic() - self._view_loaded_at < self.check_interval:
            return view
        with self._view_lock:
            if self._view is None or time.monotonic() - self._view_loaded_at >= self.check_interval:
                self._view = RegistryView.load(self.db)
                self._view_loaded_at = time.monotonic()
            return self._view

    def cached_view(self) -> RegistryView | None:
        """The view as last loaded, however old, without touching the database."""
        return self._view

    def invalidate(self) -> None:
        """Forget the view, so the next request reads the database (after a local seed)."""
        self._view_loaded_at = float("-inf")

    def engine(self, key: str) -> EngineView:
        view = self.view()
        found = view.engines.get(key)
        if found is None:
            known = sorted(view.engines)
            raise UnknownEngine(
                f"unknown engine {key!r}; known engines: {', '.join(known) or 'none'}",
                known_engines=known,
            )
        return found

    def resolve(self, engine: str, version: str | None) -> repo.VersionRow:
        """The version row for `engine` at `version`; None or 'latest' means the newest."""
        found = self.engine(engine)
        if version is None or version == LATEST:
            if found.latest is None:
                raise UnknownVersion(
                    f"engine {engine!r} has no versions yet", available_versions=[]
                )
            return found.latest
        row = found.version(version)
        if row is None:
            available = sort_versions(r.version for r in found.versions)[::-1]
            raise UnknownVersion(
                f"unknown version {version!r} of engine {engine!r}; available versions: "
                f"{', '.join(available) or 'none'}",
                available_versions=available,
            )
        return row

    # --- snapshots ----------------------------------------------------------------------------

    def snapshot(self, engine: str, version: str | None) -> Snapshot:
        row = self.resolve(engine, version)
        cached = self.cached_snapshot(row.content_digest)
        if cached is not None:
            return cached
        key = (row.engine_key, row.version)
        with self._snapshots_lock:
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        # One thread builds a given version; the others wait for it rather than repeat it.
        with build_lock:
            cached = self.cached_snapshot(row.content_digest)
            if cached is not None:
                return cached
            snapshot = self._load(row)
            self._remember(snapshot)
            if snapshot.digest != row.content_digest:
                # A seed committed after the view was read: the view is out of date.
                self.invalidate()
            return snapshot

    def cached_snapshot(self, digest: str) -> Snapshot | None:
        with self._snapshots_lock:
            snapshot = self._snapshots.get(digest)
            if snapshot is not None:
                self._snapshots.move_to_end(digest)
            return snapshot

    def _remember(self, snapshot: Snapshot) -> None:
        with self._snapshots_lock:
            self._snapshots[snapshot.digest] = snapshot
            self._snapshots.move_to_end(snapshot.digest)
            while len(self._snapshots) > self._max_snapshots:
                self._snapshots.popitem(last=False)

    def _load(self, row: repo.VersionRow) -> Snapshot:
        # One read transaction: providers and models come from the same committed state.
        with self.db.read() as conn:
            current = repo.get_version(conn, engine_key=row.engine_key, version=row.version)
            if current is None:
                raise UnknownVersion(f"version {row.version!r} of {row.engine_key!r} was removed")
            engine_row = repo.get_engine(conn, key=row.engine_key)
            providers = repo.load_providers(conn, version_id=current.id)
            models = repo.load_models(conn, version_id=current.id)
        return build_snapshot(
            engine=row.engine_key,
            engine_name=engine_row.name if engine_row else row.engine_key,
            version=row.version,
            revision=current.revision,
            providers=providers,
            models=models,
        )


MAX_PAGE = 1_000_000


def check_page(page: int, limit: int, max_limit: int) -> None:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}, got {page}")
    if not 1 <= limit <= max_limit:
        raise InvalidInput(f"limit must be between 1 and {max_limit}, got {limit}")
