"""Tracking an engine's releases on a package index: every release ingested, by itself.

One run: list the releases the index has, keep those the registry does not hold yet (or
holds without knowing they are a release), and ingest each, oldest first, one transaction
each: fetch a wheel (streamed to disk, checked against the index's sha256), take the data
file out of it, and seed it with its provenance through the same gates as `seed`. A crash
leaves every version ingested before it in place, so the next run resumes; two trackers at
once ingest each version once (seeding is idempotent under the write lock). Releases that
cannot be ingested (no data file, a hash mismatch, held back) are noted, not fetched again
at every run, unless asked to retry.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from budconnect.domain.records import Provenance
from budconnect.domain.versions import validate_version, version_key
from budconnect.errors import HeldBack, InvalidSourceFile, SourceTooLarge, UnsupportedEngine
from budconnect.releases.index import Release, SimpleIndex
from budconnect.releases.wheels import WheelRefused, download, read_member
from budconnect.seeders import engine_format
from budconnect.services.seeding import DEFAULT_HISTORY, DEFAULT_MAX_SOURCE_BYTES, SeedResult, seed
from budconnect.storage import repository as repo
from budconnect.storage.database import Database

Outcome = Literal["ingested", "unchanged", "held-back", "refused"]


@dataclass(frozen=True, slots=True)
class Tracked:
    """What a run did with one release."""

    version: str
    outcome: Outcome
    detail: str = ""
    result: SeedResult | None = None


@dataclass(slots=True)
class TrackReport:
    engine: str
    index_url: str
    releases_listed: int = 0
    pending: list[str] = field(default_factory=list)
    tracked: list[Tracked] = field(default_factory=list)

    @property
    def not_ingested(self) -> list[Tracked]:
        return [t for t in self.tracked if t.outcome in ("held-back", "refused")]


@dataclass(frozen=True, slots=True)
class TrackOptions:
    since: str | None = None
    include_prereleases: bool = False
    include_yanked: bool = False
    force: bool = False
    retry_noted: bool = False
    history: int = DEFAULT_HISTORY
    max_source_bytes: int = DEFAULT_MAX_SOURCE_BYTES


def track(
    db: Database,
    *,
    engine: str,
    index: SimpleIndex,
    client: httpx.Client,
    options: TrackOptions,
    on_pending: Callable[[list[Release]], None] | None = None,
    on_tracked: Callable[[Tracked], None] | None = None,
) -> TrackReport:
    """One run of the tracker. Raises IndexUnavailable when the index cannot be read (or a
    wheel cannot be fetched): what was ingested before stays, nothing half-written."""
    fmt = engine_format(engine)
    if fmt.package is None or fmt.data_member is None:
        raise UnsupportedEngine(f"engine {engine!r} publishes no releases on a package index")
    if options.since is not None:
        validate_version(options.since)
    report = TrackReport(engine=engine, index_url=index.index_url)
    releases = index.releases(fmt.package)
    report.releases_listed = len(releases)
    pending = pending_releases(db, engine, releases, options)
    report.pending = [r.version for r in pending]
    if on_pending is not None:
        on_pending(pending)
    for release in pending:
        tracked = _ingest(db, engine, fmt.data_member, release, client, options)
        report.tracked.append(tracked)
        if on_tracked is not None:
            on_tracked(tracked)
    return report


def pending_releases(
    db: Database, engine: str, releases: list[Release], options: TrackOptions
) -> list[Release]:
    """The releases a run ingests, oldest first: not held yet, or held without being known as
    a release (seeded from a file or bundled), and not noted as refused before."""
    with db.read() as conn:
        held = {row.version: row for row in repo.list_versions(conn, engine_key=engine)}
        noted = {} if options.retry_noted else repo.release_notes(conn, engine_key=engine)
    floor = version_key(options.since) if options.since else None
    wanted = []
    for release in releases:
        if floor is not None and version_key(release.version) < floor:
            continue
        if release.is_prerelease and not options.include_prereleases:
            continue
        if release.yanked and not options.include_yanked:
            continue
        if release.wheel() is None or release.version in noted:
            continue
        row = held.get(release.version)
        if row is not None and row.origin == "index":
            continue
        wanted.append(release)
    return sorted(wanted, key=lambda r: version_key(r.version))


def _ingest(
    db: Database,
    engine: str,
    member: str,
    release: Release,
    client: httpx.Client,
    options: TrackOptions,
) -> Tracked:
    wheel = release.wheel()
    assert wheel is not None
    now = dt.datetime.now(dt.UTC)
    try:
        with tempfile.TemporaryDirectory(prefix="budconnect-wheel-") as directory:
            path, sha256 = download(client, wheel, Path(directory))
            raw = read_member(path, member, options.max_source_bytes)
    except WheelRefused as exc:
        return _noted(db, engine, release.version, wheel.filename, "refused", str(exc), now)
    provenance = Provenance(
        origin="index",
        released_at=wheel.uploaded_at or now,
        released_at_source="index" if wheel.uploaded_at else "first-seen",
        wheel_filename=wheel.filename,
        wheel_sha256=sha256,
    )
    try:
        result = seed(
            db,
            engine=engine,
            version=release.version,
            raw=raw,
            history=options.history,
            force=options.force,
            max_bytes=options.max_source_bytes,
            provenance=provenance,
            now=now,
        )
    except HeldBack as exc:
        return _noted(db, engine, release.version, wheel.filename, "held-back", exc.detail, now)
    except (InvalidSourceFile, SourceTooLarge) as exc:
        return _noted(db, engine, release.version, wheel.filename, "refused", exc.detail, now)
    with db.write() as conn:
        repo.forget_release_note(conn, engine_key=engine, version=release.version)
    outcome: Outcome = "ingested" if result.changed or result.provenance_added else "unchanged"
    return Tracked(release.version, outcome, wheel.filename, result)


def _noted(
    db: Database,
    engine: str,
    version: str,
    wheel: str,
    outcome: Outcome,
    reason: str,
    now: dt.datetime,
) -> Tracked:
    with db.write() as conn:
        repo.note_release(
            conn, engine_key=engine, version=version, reason=reason, wheel_filename=wheel, now=now
        )
    return Tracked(version, outcome, reason)
