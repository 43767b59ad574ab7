"""Tracking an engine's releases on a package index: every release ingested, by itself.

One run: list the releases the index has, keep those the registry does not hold yet (or
holds without knowing they are a release), and ingest each, oldest first, one transaction
each: fetch a wheel (streamed to disk, checked against the index's sha256), take the data
file out of it, and seed it with its provenance through the same gates as `seed`. A crash
leaves every version ingested before it in place, so the next run resumes; two trackers at
once ingest each version once (seeding is idempotent under the write lock). Releases that
cannot be ingested (no data file, a hash mismatch, held back) are noted, not fetched again
at every run, unless asked to retry (or, for what the gates held back, to force).

The registry follows the index's yanks: a release yanked there is ingested yanked (never
`latest`, still served by its exact name), and a version held whose release is yanked later
is yanked at the next run, through the same service (and audit log) as `POST .../yank`. An
operator has the last word: a version someone unyanked is never yanked again by the tracker,
and the tracker never unyanks (an index that stops saying a release is yanked, such as a
mirror that drops the flag, must not bring a withdrawn version back as `latest`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
from sqlalchemy import Connection

from budconnect.domain.records import Provenance
from budconnect.domain.versions import validate_version, version_key
from budconnect.errors import (
    HeldBack,
    InvalidIdentifier,
    InvalidInput,
    SourceTooLarge,
    UnsupportedEngine,
)
from budconnect.releases.index import Release, SimpleIndex, public_url
from budconnect.releases.wheels import WheelMissing, WheelRefused, download, read_member
from budconnect.seeders import engine_format
from budconnect.services.publishing import Actor, record_audit_in, yank_in
from budconnect.services.seeding import DEFAULT_HISTORY, DEFAULT_MAX_SOURCE_BYTES, SeedResult, seed
from budconnect.storage import repository as repo
from budconnect.storage.database import Database

Outcome = Literal[
    "ingested",
    "provenance-recorded",
    "unchanged",
    "yanked",
    "held-back",
    "refused",
    "kept",
    "unavailable",
    "skipped",
]
# Versions an operator put there (`seed --file`, `PUT .../source`): the tracker records the
# release's provenance on one that holds the release's very map, and never replaces one that
# holds another (bundled versions are LiteLLM's own maps: the release's wheel is the truth).
OPERATORS_ORIGINS = ("file", "publish")

# The audit log's name for the tracker's own writes (yanks that follow the index).
TRACKER = "tracker"
# How a note of a release the gates held back starts: `--force` tries those again, not
# those refused for another reason (forcing changes nothing for a hash mismatch).
HELD_BACK = "held back"


@dataclass(frozen=True, slots=True)
class Tracked:
    """What a run did with one release."""

    version: str
    outcome: Outcome
    detail: str = ""
    result: SeedResult | None = None
    # Why the version is yanked in the registry, when this run yanked it (or found it so)
    # because its release is yanked on the index.
    yanked: str | None = None


@dataclass(slots=True)
class TrackReport:
    engine: str
    index_url: str
    releases_listed: int = 0
    pending: list[str] = field(default_factory=list)
    tracked: list[Tracked] = field(default_factory=list)

    @property
    def not_ingested(self) -> list[Tracked]:
        return [t for t in self.tracked if t.outcome in ("held-back", "refused", "unavailable")]


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
    actor = Actor(TRACKER, public_url(index.index_url))

    def tracked(item: Tracked) -> None:
        report.tracked.append(item)
        if on_tracked is not None:
            on_tracked(item)

    # Withdrawn first: a version yanked on the index stops being `latest` before anything
    # else of this run is fetched.
    for item in follow_yanks(db, engine, releases, actor, force=options.force):
        tracked(item)
    # A release the registry cannot name (a version longer than any it holds) can be neither
    # ingested nor noted: said at every run, not counted against it (nothing can be done).
    holdable = []
    for release in releases:
        try:
            validate_version(release.version)
        except InvalidIdentifier as exc:
            tracked(Tracked(release.version, "skipped", f"the registry cannot hold it: {exc}"))
        else:
            holdable.append(release)
    releases = holdable
    pending = pending_releases(db, engine, releases, options)
    report.pending = [r.version for r in pending]
    if on_pending is not None:
        on_pending(pending)
    for release in pending:
        tracked(_ingest(db, engine, fmt.data_member, release, client, options, actor))
    return report


def follow_yanks(
    db: Database, engine: str, releases: list[Release], actor: Actor, *, force: bool = False
) -> list[Tracked]:
    """Yank every version held whose release the index yanked since it was ingested (or that
    came from a file or the bundled data), unless someone unyanked it; oldest first. The
    engine's last final release not yanked is held back (reported), unless `force`."""
    yanked = sorted((r for r in releases if r.yanked), key=lambda r: version_key(r.version))
    if not yanked:
        return []
    with db.read() as conn:
        held = {row.version: row for row in repo.list_versions(conn, engine_key=engine)}
        unyanked = repo.unyanked_versions(conn, engine_key=engine)
    done = []
    for release in yanked:
        row = held.get(release.version)
        if row is None or row.yanked_at is not None or release.version in unyanked:
            continue
        try:
            reason = _yank(db, engine, release, actor, force)
        except HeldBack as exc:
            hint = f"; `budconnect track {engine} --force` yanks it anyway"
            done.append(Tracked(release.version, "held-back", exc.detail + hint))
            continue
        done.append(Tracked(release.version, "yanked", reason, yanked=reason))
    return done


def pending_releases(
    db: Database, engine: str, releases: list[Release], options: TrackOptions
) -> list[Release]:
    """The releases a run ingests, oldest first: not held yet, or held without being known as
    a release (seeded from a file or bundled), and not noted as refused before (with
    `force`, those the gates held back are tried again: forcing is what they wait for)."""
    with db.read() as conn:
        held = {row.version: row for row in repo.list_versions(conn, engine_key=engine)}
        noted = {} if options.retry_noted else repo.release_notes(conn, engine_key=engine)
    if options.force:
        noted = {v: why for v, why in noted.items() if not why.startswith(HELD_BACK)}
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
    actor: Actor,
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
    except WheelMissing as exc:
        # Not noted: a mirror catching up serves it at a later run. The rest of the run goes on.
        return Tracked(release.version, "unavailable", f"{exc}; asked again at the next run")
    map_sha256 = hashlib.sha256(raw).hexdigest()
    with db.read() as conn:
        held = repo.get_version(conn, engine_key=engine, version=release.version)
    if held is not None and _operators(held, map_sha256):
        return _kept(db, engine, held, wheel.filename, now)
    provenance = Provenance(
        origin="index",
        released_at=wheel.uploaded_at or now,
        released_at_source="index" if wheel.uploaded_at else "first-seen",
        wheel_filename=wheel.filename,
        wheel_sha256=sha256,
    )
    yanked: list[str] = []

    def in_the_seed(conn: Connection, result: SeedResult, before: str | None) -> None:
        # In the seed's own transaction: the version is never served unyanked (as `latest`)
        # before the yank of its release is applied, and its note goes with it.
        if before is not None and result.changed:
            if held is None or before != held.content_digest:
                # Written since the check above: whoever wrote it, this run replaces nothing.
                raise _OperatorsVersion
            if held.source_digest != map_sha256:
                # Only a bundled map gets here (an operator's was kept above): replaced by the
                # release's, a publish by the tracker in the audit log. (The same map read
                # by a newer parser is no replacement.)
                record_audit_in(conn, actor, "publish", engine, release.version, before,
                                result.content_digest, options.force,
                                {"replaced": held.origin, "wheel": wheel.filename})  # fmt: skip
        repo.forget_release_note(conn, engine_key=engine, version=release.version)
        if release.yanked and release.version not in repo.unyanked_versions(
            conn, engine_key=engine
        ):
            # A version new to the registry, yanked as it comes in, was never served: no
            # answer loses it, so the last-final-release guard has nothing to protect.
            yanked.append(
                _yank_in(conn, engine, release, actor, options.force, guarded=held is not None)
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
            on_applied=in_the_seed,
        )
    except _OperatorsVersion:
        with db.read() as conn:
            now_held = repo.get_version(conn, engine_key=engine, version=release.version)
        assert now_held is not None
        return _kept(db, engine, now_held, wheel.filename, now)
    except HeldBack as exc:
        reason = exc.detail if exc.detail.startswith(HELD_BACK) else f"{HELD_BACK}: {exc.detail}"
        _noted(db, engine, release.version, wheel.filename, "held-back", reason, now)
        # The operator's next step, in the words of the command line.
        hint = f"; `budconnect track {engine} --force` ingests it anyway"
        return Tracked(release.version, "held-back", reason + hint)
    except (InvalidInput, SourceTooLarge) as exc:
        # A map that does not parse, or a version the registry cannot hold under that name
        # (another spelling of one held, a label too long): that release is refused and
        # noted; the releases after it are still ingested.
        return _noted(db, engine, release.version, wheel.filename, "refused", exc.detail, now)
    yank_reason = yanked[0] if yanked else None
    if result.changed:
        return Tracked(release.version, "ingested", wheel.filename, result, yank_reason)
    if result.provenance_added:
        detail = (
            f"{wheel.filename} holds the very map already held; "
            f"recorded as its release ({provenance.released_at_source} "
            f"{provenance.released_at:%Y-%m-%d %H:%M} UTC)"
        )
        return Tracked(release.version, "provenance-recorded", detail, result, yank_reason)
    return Tracked(release.version, "unchanged", wheel.filename, result, yank_reason)


def _yank(db: Database, engine: str, release: Release, actor: Actor, force: bool) -> str:
    """Yank the version of `release` as `POST .../yank` does, saying it was yanked on the
    index (and why, if the index says); the reason it is yanked for now (an earlier yank's,
    if it was yanked already)."""
    with db.write() as conn:
        return _yank_in(conn, engine, release, actor, force)


def _yank_in(
    conn: Connection,
    engine: str,
    release: Release,
    actor: Actor,
    force: bool = False,
    *,
    guarded: bool = True,
) -> str:
    why = release.yanked_reason
    reason = f"yanked on the package index: {why}" if why else "yanked on the package index"
    row = yank_in(
        conn, engine=engine, version=release.version, yanked=True, reason=reason, actor=actor,
        force=force, guarded=guarded,
    )  # fmt: skip
    return row.yank_reason or "yanked (no reason given)"


class _OperatorsVersion(Exception):
    """Raised in the seed's transaction to roll it back: the version is not what this run
    checked it was (an operator wrote it since), so it is kept."""


def _operators(held: repo.VersionRow, map_sha256: str) -> bool:
    """An operator's version holding another map than the release's. One whose map is not
    known (a schema downgrade forgets it, and provenance with it: every version comes back
    as `file`) is not taken for an operator's: the release's map is the one known truth."""
    return held.origin in OPERATORS_ORIGINS and held.source_digest not in ("", map_sha256)


def _kept(
    db: Database, engine: str, held: repo.VersionRow, wheel: str, now: dt.datetime
) -> Tracked:
    how = {"publish": "published over HTTP", "file": "seeded from a file"}.get(
        held.origin, f"written ({held.origin}) while this run fetched it"
    )
    reason = (
        f"{engine} {held.version} was {how} with another map than the release's; "
        "the tracker does not replace an operator's version (seed or publish the release's "
        "map to replace it)"
    )
    return _noted(db, engine, held.version, wheel, "kept", reason, now)


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
