"""The read side: which engines and versions exist, their snapshots, changes and diffs.

A process keeps a small view of every engine version and its content digest. The server
refreshes it in the background once per `check_interval` seconds (see `budconnect.api.app`),
and the poll fast path answers from it without touching the database; so after a seed
commits, every worker serves the new digest within about one interval. Snapshots are immutable
and keyed by digest, so a cached one is always right for the digest it carries.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NoReturn

from sqlalchemy import Connection, Table

from budconnect.domain import identity
from budconnect.domain.documents import model_document, provider_document
from budconnect.domain.records import JSONObject
from budconnect.domain.versions import is_final, normal_form, sort_versions, version_key
from budconnect.errors import DatabaseUnavailable, Gone, UnknownEngine, UnknownVersion
from budconnect.metrics import SNAPSHOTS_LOADED
from budconnect.services.lru import LRU
from budconnect.services.snapshots import Snapshot, build_snapshot
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.membership import unpack
from budconnect.storage.repository import VersionRow
from budconnect.storage.tables import model_entry, provider_entry

__all__ = ["Catalog", "ChangeSet", "EngineView", "RegistryView", "VersionRow", "combined_digest"]

LATEST = "latest"


@dataclass(frozen=True)  # no slots: `latest` is computed once and kept
class EngineView:
    key: str
    name: str
    versions: tuple[repo.VersionRow, ...]  # oldest first
    by_version: dict[str, repo.VersionRow] = field(default_factory=dict)
    latest_since: int = 0  # the registry revision at which `latest` came to name its version

    @functools.cached_property
    def latest(self) -> repo.VersionRow | None:
        """The newest final release: never a pre-release, a local version or a yanked one."""
        return next(
            (r for r in reversed(self.versions) if is_final(r.version) and r.yanked_at is None),
            None,
        )

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
    def load(db: Database, previous: RegistryView | None = None) -> RegistryView:
        """Read the view; when the registry revision (raised by every change to any version)
        and history floor are those of `previous`, that view is still true: one query."""
        with db.read() as conn:
            revision, floor = repo.registry_state(conn)
            if previous is not None and (previous.revision, previous.history_floor) == (
                revision,
                floor,
            ):
                return previous
            engines = repo.list_engines(conn)
            versions = repo.list_versions(conn)
        by_engine: dict[int, list[repo.VersionRow]] = {}
        for row in versions:
            by_engine.setdefault(row.engine_id, []).append(row)
        views = {}
        for e in sorted(engines, key=lambda e: e.key):
            rows = tuple(sorted(by_engine.get(e.id, []), key=lambda r: version_key(r.version)))
            views[e.key] = EngineView(
                e.key, e.name, rows, {r.version: r for r in rows}, e.latest_since
            )
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

    def served_revision(self, row: VersionRow, version: str | None) -> int:
        """The revision a catalog or change feed of `row` names, asked for as `version`.

        For `latest`, the later of the version's own and the one at which `latest` came to
        name it: a client that fetched `latest` after a yank holds what `latest` is as of
        that move, and asking for changes since it must not be refused forever."""
        if version not in (None, LATEST):
            return row.revision
        return max(row.revision, self.engine(row.engine_key).latest_since)

    def check_latest_since(self, engine: str, version: str | None, since: int) -> None:
        """Raise Gone when a delta of `latest` from revision `since` would be a delta of
        another version: `latest` came to name its version (a newer release, a yank, an
        unyank) after `since`, so a client at `since` holds some other version."""
        if version not in (None, LATEST):
            return
        found = self.engine(engine)
        if since < found.latest_since:
            _latest_moved(found.key, found.latest.version if found.latest else None,
                          found.latest_since, since, self)  # fmt: skip

    def engine(self, key: str) -> EngineView:
        found = self.engines.get(key)
        if found is None:
            known = list(self.engines)
            # The name asked is echoed only in part: a 20 KB `engine=` is no 20 KB answer.
            raise UnknownEngine(
                f"unknown engine {key[:100]!r}; known engines: {', '.join(known) or 'none'}",
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
            finals = [r for r in found.versions if is_final(r.version)]
            why = "every final release is yanked" if finals else "it has no final release yet"
            raise UnknownVersion(
                f"engine {engine!r} has no latest version: {why}; available versions: "
                f"{', '.join(available) or 'none'}",
                available_versions=available,
            )
        normal = normal_form(version)
        if normal is not None and normal != version and found.version(normal) is not None:
            # One version, one URL: named another way it is not served, but named for what
            # it is.
            raise UnknownVersion(
                f"unknown version {version!r} of engine {engine!r}: versions are named in "
                f"their normal form, {normal!r}",
                available_versions=available,
                normal_form=normal,
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

    def __init__(
        self,
        db: Database,
        *,
        check_interval: float = 1.0,
        max_snapshot_bytes: int = 96 * 1024 * 1024,
    ) -> None:
        self.db = db
        self.check_interval = check_interval
        self._view: RegistryView | None = None
        self._view_loaded_at = float("-inf")
        self._view_lock = threading.Lock()
        self._refresh_failing = False
        self._refresh_failed_at = float("-inf")
        # Bounded by (estimated) bytes, not by count: versions differ in size by 30 times.
        self._snapshots: LRU[str, Snapshot] = LRU(
            1024, max_weight=max_snapshot_bytes, weigh=lambda s: s.size
        )
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
                view = RegistryView.load(self.db, self._view)
            except Exception:
                self._refresh_failing = True
                self._refresh_failed_at = time.monotonic()
                raise
            self._refresh_failing = False
            self._view, self._view_loaded_at = view, started
            return view

    def refresh_soon(self) -> None:
        """Read the view again at the next use (a write of this process just committed)."""
        self._view_loaded_at = float("-inf")

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

    def snapshot(
        self, engine: str, version: str | None, before_load: Callable[[], None] | None = None
    ) -> Snapshot:
        """The snapshot of `engine` at `version`, from memory or read from the database;
        `before_load` runs (and may raise, refusing the read) only when it must be read."""
        row = self.resolve(engine, version)
        cached = self.cached_snapshot(row.content_digest)
        if cached is not None:
            return cached
        if before_load is not None:
            before_load()
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

    @property
    def snapshot_cache(self) -> tuple[int, int]:
        """(bytes, entries) of the snapshots held in memory."""
        return self._snapshots.weight, len(self._snapshots)

    def _load(self, row: repo.VersionRow) -> Snapshot:
        SNAPSHOTS_LOADED.inc()
        # One read transaction: the version, its membership and its entries are one state.
        with self.db.read() as conn:
            current = repo.get_version(conn, engine_key=row.engine_key, version=row.version)
            if current is None:
                raise UnknownVersion(f"version {row.version!r} of {row.engine_key!r} was removed")
            engine_row = repo.get_engine(conn, key=row.engine_key)
            held = repo.get_membership(conn, version_id=current.id)
            providers = repo.load_provider_entries(conn, unpack(held.providers))
            models = repo.load_model_entries(conn, unpack(held.models))
            extras = repo.get_document(conn, document_id=held.extras_id)
        return build_snapshot(
            engine=row.engine_key,
            engine_name=engine_row.name if engine_row else row.engine_key,
            version=row.version,
            revision=current.revision,
            providers=providers.values(),
            models=models.values(),
            extras=extras,
            digest=current.content_digest,
        )

    # --- changes --------------------------------------------------------------------------

    def changes(self, engine: str, version: str | None, since: int) -> ChangeSet:
        """What changed in a version after revision `since`, read in one transaction: the
        difference between what it held at `since` and what it holds now.

        Raises Gone when `since` is older than the kept history or newer than the registry
        (a restored database): the client must fetch the whole catalog instead.
        """
        resolved = self.resolve(engine, version)
        with self.db.read() as conn:
            current, floor = repo.registry_state(conn)
            registry_now = RegistryView({}, "", current, floor)
            registry_now.check_since(since)
            name = resolved.version
            engine_row = None
            if version in (None, LATEST):  # what the database says `latest` is, not the view
                engine_row = repo.get_engine(conn, key=resolved.engine_key)
                if engine_row is not None and engine_row.latest_version is not None:
                    name = engine_row.latest_version
                    if since < engine_row.latest_since:
                        _latest_moved(engine_row.key, name, engine_row.latest_since, since,
                                      registry_now)  # fmt: skip
            row = repo.get_version(conn, engine_key=resolved.engine_key, version=name)
            if row is None:
                raise UnknownVersion(f"version {name!r} was removed")
            now = repo.get_membership(conn, version_id=row.id)
            then = None
            if since < row.revision:
                then = repo.state_at(conn, version_id=row.id, revision=since)
            elif since >= row.revision:
                then = now
            extras = repo.get_document(conn, document_id=now.extras_id)
            providers, providers_gone = _difference(
                conn, provider_entry, then.providers if then else None, now.providers
            )
            models, models_gone = _difference(
                conn, model_entry, then.models if then else None, now.models
            )
            provider_records = repo.load_provider_entries(conn, providers)
            model_records = repo.load_model_entries(conn, models)
        engine_key, version_name = row.engine_key, row.version
        revision = row.revision
        if version in (None, LATEST) and engine_row is not None:
            revision = max(revision, engine_row.latest_since)  # see RegistryView.served_revision

        def pid(key: str) -> uuid.UUID:
            return identity.provider_id(engine_key, version_name, key)

        return ChangeSet(
            engine=engine_key,
            version=version_name,
            since=since,
            revision=revision,
            digest=row.content_digest,
            providers_upserted=[
                provider_document(p, pid(p.key))
                for p in sorted(provider_records.values(), key=lambda p: p.key)
            ],
            providers_removed=[
                {"id": str(pid(key)), "provider_type": key} for key in sorted(providers_gone)
            ],
            models_upserted=[
                model_document(
                    m, identity.model_id(engine_key, version_name, m.key), pid(m.provider_key)
                )
                for m in sorted(model_records.values(), key=lambda m: m.key)
            ],
            models_removed=[
                {"id": str(identity.model_id(engine_key, version_name, key)), "uri": key}
                for key in sorted(models_gone)
            ],
            extras=extras,
        )


def _latest_moved(
    engine: str, latest: str | None, moved_at: int, since: int, view: RegistryView
) -> NoReturn:
    raise Gone(
        f"latest of {engine} names {latest} since revision {moved_at}: a client at revision "
        f"{since} holds another version, so no delta from it applies; fetch the catalog",
        oldest_revision=max(view.history_floor, moved_at),
        current_revision=view.revision,
    )


def _difference(
    conn: Connection, table: Table, then: bytes | None, now: bytes
) -> tuple[list[int], set[str]]:
    """Entries held now but not then (ids), and keys held then but not now."""
    now_ids = unpack(now)
    if then is None:
        return now_ids, set()
    then_ids = set(unpack(then))
    new_ids = [i for i in now_ids if i not in then_ids]
    now_set = set(now_ids)
    old_only = [i for i in then_ids if i not in now_set]
    if not old_only:
        return new_ids, set()
    old_keys = set(repo.entry_keys(conn, table, old_only).values())
    new_keys = set(repo.entry_keys(conn, table, new_ids).values())
    return new_ids, old_keys - new_keys
