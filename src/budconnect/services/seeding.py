"""Seeding: make one engine version equal one source file, in one transaction."""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from budconnect.domain.records import (
    EntryIssue,
    JSONObject,
    ParsedCatalog,
    Provenance,
    issues_of,
)
from budconnect.domain.versions import validate_engine_key, validate_version, version_key
from budconnect.errors import (
    HeldBack,
    InvalidIdentifier,
    InvalidSourceFile,
    SourceFileMissing,
    SourceTooLarge,
)
from budconnect.metrics import SEED_DURATION, SEEDS
from budconnect.seeders import (
    FORMATS,
    bundled_file,
    bundled_provenance,
    bundled_versions,
    engine_format,
    parser_fingerprint,
)
from budconnect.services.derived import DERIVATIONS
from budconnect.services.snapshots import records_digest
from budconnect.storage import entries
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.known_entries import Anchor, counts_if_current, still_holds
from budconnect.storage.membership import pack, unpack
from budconnect.storage.tables import model_entry, provider_entry

DEFAULT_HISTORY = 1000
# The largest source file accepted (LiteLLM's maps are 2 to 3 MB in 2026).
DEFAULT_MAX_SOURCE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Gates:
    """What a source must hold to be published, as LiteLLM checks a remote map before trusting
    it: at least `min_models` models, and at least `min_share` of the models of the version it
    replaces (or, for a new version, of the newest older version held)."""

    min_models: int = 50
    min_share: float = 0.5

    def check(self, models: int, previous: tuple[str, int] | None) -> None:
        if models < self.min_models:
            raise HeldBack(
                f"held back: the file has {models} models, fewer than {self.min_models}; "
                "nothing written (force it if that is really so)",
                models=models,
            )
        if previous is not None and models < previous[1] * self.min_share:
            version, count = previous
            raise HeldBack(
                f"held back: the file has {models} models, fewer than "
                f"{self.min_share:.0%} of the {count} of {version}; nothing written "
                "(force it if that is really so)",
                models=models,
                previous_version=version,
                previous_models=count,
            )


GATES = Gates()


@dataclass(slots=True)
class Counts:
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.removed)


@dataclass(slots=True)
class SeedResult:
    """What one seed did to one engine version."""

    engine: str
    version: str
    created: bool
    providers: Counts = field(default_factory=Counts)
    models: Counts = field(default_factory=Counts)
    issues: list[EntryIssue] = field(default_factory=list)
    content_digest: str = ""
    revision: int = 0
    # The source file's top-level entries that are not models changed (see ParsedCatalog).
    extras_changed: bool = False
    # Same entries, served in another wire format (re-derived after an upgrade).
    format_changed: bool = False
    # The gates were overridden.
    forced: bool = False
    # The source was already held; only where it came from (a release) was recorded.
    provenance_added: bool = False

    @property
    def changed(self) -> bool:
        return (
            self.created
            or self.providers.changed
            or self.models.changed
            or self.extras_changed
            or self.format_changed
        )

    @property
    def skipped(self) -> list[EntryIssue]:
        return issues_of(self.issues, "skipped")

    @property
    def repaired(self) -> list[EntryIssue]:
        return issues_of(self.issues, "repaired")


def seed(
    db: Database,
    *,
    engine: str,
    version: str,
    raw: bytes,
    now: dt.datetime | None = None,
    history: int = DEFAULT_HISTORY,
    source_digest: str | None = None,
    force: bool = False,
    max_bytes: int = DEFAULT_MAX_SOURCE_BYTES,
    provenance: Provenance | None = None,
    dry_run: bool = False,
    on_applied: Callable[[Connection, SeedResult, str | None], None] | None = None,
    allow_empty: bool = False,
) -> SeedResult:
    """Make `engine` `version` serve exactly what `raw` holds.

    Idempotent: when the same bytes were already seeded by the same parser revision, nothing
    is written at all. A file that cannot be parsed is refused before any transaction starts.
    Version states older than `history` registry revisions are pruned; the change feed
    answers `410 Gone` for revisions before that. `source_digest` (default: that of `raw`)
    names the file the version came from, when `raw` is a copy rebuilt from the database.

    A source larger than `max_bytes` is refused before it is parsed; one the gates refuse
    (see `Gates`) is refused before anything is written, unless `force`; one without a single
    model is refused even then (`allow_empty` only re-reads what was admitted before the rule
    existed): deployed clients delete whatever a sweep lacks. `provenance` says
    where the source came from (recorded for a version that lacks it). With `dry_run`, the
    whole seed runs and is rolled back: the result says what it would do. `on_applied` runs
    in the seed's own transaction, with the digest the version had before (an audit record
    is written with the data it describes, or not at all).
    """
    started = time.perf_counter()
    outcome = "refused"
    try:
        result = _seed(
            db, engine, version, raw, now, history, source_digest, force, max_bytes, provenance,
            dry_run, on_applied, allow_empty,
        )  # fmt: skip
        outcome = "created" if result.created else "updated" if result.changed else "unchanged"
        return result
    except HeldBack:
        outcome = "held-back"
        raise
    finally:
        if not dry_run and engine in FORMATS:
            SEEDS.labels(engine, outcome).inc()
            SEED_DURATION.labels(engine).observe(time.perf_counter() - started)


def _seed(
    db: Database,
    engine: str,
    version: str,
    raw: bytes,
    now: dt.datetime | None,
    history: int,
    source_digest: str | None,
    force: bool,
    max_bytes: int,
    provenance: Provenance | None,
    dry_run: bool,
    on_applied: Callable[[Connection, SeedResult, str | None], None] | None,
    allow_empty: bool,
) -> SeedResult:
    validate_engine_key(engine)
    validate_version(version)
    if len(raw) > max_bytes:
        raise SourceTooLarge(
            f"the source is {len(raw):,} bytes, more than the limit of {max_bytes:,}",
            limit=max_bytes,
        )
    parser = engine_format(engine).parse
    file_digest = _digest_of(raw, source_digest)
    parser_revision = parser_fingerprint(engine)
    # Given: where this source came from, recorded on a version it creates or changes (a seed
    # that only re-reads what is held, as re-derivation does, names none and keeps the
    # version's own).
    given = provenance
    provenance = provenance or Provenance()

    # The parse of the source this process seeded last lets the parser skip every model entry
    # that has not changed.
    previous = DERIVATIONS.previous(engine, parser_revision)

    # Cheap check first, outside the write lock: an unchanged file costs one hash and a read
    # instead of a whole parse. Against the last parse, the parse costs a few milliseconds:
    # then the write transaction's own check suffices (one transaction instead of two).
    if previous is None and not dry_run and on_applied is None:
        with db.read() as conn:
            current = repo.get_version(conn, engine_key=engine, version=version)
            # Only a version seeded by this parser can be unchanged: otherwise the parse
            # starts without waiting for the file's digest.
            maybe_same = current is not None and current.parser_revision == parser_revision
            unchanged = (
                _unchanged(conn, current, file_digest.result(), parser_revision, provenance)
                if maybe_same
                else None
            )
        if unchanged is not None and not unchanged.provenance_added:
            return unchanged

    # Pure and possibly slow: done before taking the write lock.
    parsed = parser(raw, previous=previous)
    if not parsed.models and not allow_empty:
        raise HeldBack(
            "held back: the file has no models; a version without models is never published, "
            "not even with force (every deployment syncing it would delete its whole catalog)",
            models=0,
        )
    source_digest = file_digest.result()
    now = now or dt.datetime.now(dt.UTC)
    anchor: Anchor | None = None
    try:
        with db.write() as conn:
            # Another seeder may have applied the same file while this one was parsing.
            current = repo.get_version(conn, engine_key=engine, version=version)
            unchanged = _unchanged(conn, current, source_digest, parser_revision, provenance)
            if unchanged is not None:
                if unchanged.provenance_added and current is not None:
                    _record_provenance(conn, current.id, provenance)
                result = unchanged
            else:
                known = _known(conn, db.known_entries.get(engine))
                counts = known.model_counts or _by_version(
                    repo.model_counts(conn, engine_key=engine)
                )
                if current is None:
                    _refuse_a_second_name(version, counts)
                if not force:
                    GATES.check(len(parsed.models), _previous_count(version, current, counts))
                result, anchor = _apply(
                    conn,
                    _Seed(engine, version, parsed, source_digest, parser_revision, now, history),
                    current,
                    given,
                    forced=force,
                    known=known,
                    counts=counts,
                )
            if on_applied is not None and not dry_run:
                on_applied(conn, result, current.content_digest if current else None)
            if dry_run:
                raise _DryRun(result)
    except _DryRun as done:
        return done.result
    if anchor is not None:  # committed: its entry ids are the database's for good
        db.known_entries.remember(engine, anchor)
    return result


# Hashes a source file while the seed reads and parses it: hashing a large buffer releases
# the GIL, so on a machine with a core to spare the digest costs nothing (1 ms of 25 for a
# 2 MB map otherwise). One thread: hashes are short, and seeds rarely overlap.
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budconnect-seed-digest")


def _digest_of(raw: bytes, given: str | None) -> Future[str]:
    """`given`, or the sha256 of `raw` computed in the background."""
    if given is None:
        return _HASHING.submit(_sha256_hex, raw)
    done: Future[str] = Future()
    done.set_result(given)
    return done


def _sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class _DryRun(Exception):
    """Rolls the write transaction back, carrying what it would have done."""

    def __init__(self, result: SeedResult) -> None:
        self.result = result


@dataclass(frozen=True, slots=True)
class _Seed:
    engine: str
    version: str
    parsed: ParsedCatalog
    source_digest: str
    parser_revision: int
    now: dt.datetime
    history: int


def _previous_count(
    version: str, current: repo.VersionRow | None, counts: Sequence[tuple[str, int]]
) -> tuple[str, int] | None:
    """(version, model count) the gates compare a source with: the version it replaces, else
    the newest version held that is older than it (`counts`: every version held, oldest
    first; a release newer than all is compared with the last, at once)."""
    if current is not None:
        return current.version, current.model_count
    key = version_key(version)
    for held, count in reversed(counts):
        if version_key(held) < key:
            return held, count
    return None


def _refuse_a_second_name(version: str, counts: Sequence[tuple[str, int]]) -> None:
    """A new version must not equal one held under another spelling (`1.100.5.0` is
    `1.100.5` to PEP 440): the two would tie for their place in every ordering."""
    key = version_key(version)[:2]
    held = next((v for v, _ in counts if version_key(v)[:2] == key), None)
    if held is not None:
        raise InvalidIdentifier(
            f"version {version!r} is the same version as {held!r}, held already: "
            f"publish it as {held}"
        )


def _by_version(counts: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """(version, model count) pairs, oldest version first."""
    return tuple(sorted(counts, key=lambda pair: version_key(pair[0])))


def _with_count(
    counts: Sequence[tuple[str, int]], version: str, models: int
) -> tuple[tuple[str, int], ...]:
    """`counts` (oldest first) with `version` holding `models` models, in its place."""
    kept = [pair for pair in counts if pair[0] != version]
    bisect.insort(kept, (version, models), key=lambda pair: version_key(pair[0]))
    return tuple(kept)


def _unchanged(
    conn: Connection,
    row: repo.VersionRow | None,
    source_digest: str,
    parser_revision: int,
    provenance: Provenance,
) -> SeedResult | None:
    if row is None or row.source_digest != source_digest:
        return None
    if row.parser_revision != parser_revision:
        return None
    return SeedResult(
        engine=row.engine_key,
        version=row.version,
        created=False,
        providers=Counts(unchanged=row.provider_count),
        models=Counts(unchanged=row.model_count),
        issues=repo.get_version_issues(conn, version_id=row.id),
        content_digest=row.content_digest,
        revision=row.revision,
        provenance_added=_adds_provenance(row, provenance),
    )


def _adds_provenance(row: repo.VersionRow, provenance: Provenance) -> bool:
    """Whether a seed of what `row` already serves says more of where it came from: a
    release's provenance for a version held from elsewhere, the release date of a bundled
    version seeded before the package shipped its dates, or a bundled version's provenance
    that a schema without it forgot."""
    return (
        (provenance.origin == "index" and row.origin != "index")
        or (
            provenance.origin == row.origin
            and row.released_at is None
            and provenance.released_at is not None
        )
        or _forgotten_bundled(row, provenance)
    )


def _forgotten_bundled(row: repo.VersionRow, provenance: Provenance) -> bool:
    """A bundled file's content (the caller checked it is what the version serves) held as a
    `file` version with no upload time or wheel: what a schema without provenance leaves of
    every version (going back below it and forward again). It takes the bundled provenance
    and date. A `seed --file` of that same content gets them too: it is the release's, and
    so is the date."""
    return (
        provenance.origin == "bundled"
        and row.origin == "file"
        and row.released_at is None
        and row.wheel_filename is None
        and provenance.released_at is not None
    )


def _record_provenance(conn: Connection, version_id: int, provenance: Provenance) -> None:
    repo.update_version(conn, version_id=version_id, **_provenance_values(provenance))
    # Servers read their view of the versions (provenance included) again only when the
    # registry revision moves; the digest and the version's own revision stay, as for a yank.
    repo.next_revision(conn)


def _same_content(
    conn: Connection,
    version_id: int,
    values: dict[str, object],
    provenance: Provenance | None,
    result: SeedResult,
) -> None:
    """Record a seed that serves what the version served (the source's digest and the
    parser), and the provenance it adds, if any."""
    repo.update_version(conn, version_id=version_id, **values)
    if provenance is not None:
        _record_provenance(conn, version_id, provenance)
        result.provenance_added = True


def _provenance_values(provenance: Provenance) -> dict[str, object]:
    return {
        "origin": provenance.origin,
        "released_at": provenance.released_at,
        "released_at_source": provenance.released_at_source,
        "wheel_filename": provenance.wheel_filename,
        "wheel_sha256": provenance.wheel_sha256,
    }


def _apply(
    conn: Connection,
    job: _Seed,
    current: repo.VersionRow | None,
    provenance: Provenance | None,
    *,
    forced: bool,
    known: _Known,
    counts: tuple[tuple[str, int], ...] | None,
) -> tuple[SeedResult, Anchor | None]:
    """Write `job` over `current`; the result, and the anchor to remember once committed
    (None when no membership was written). `counts`: the model count of every version before
    this seed, if read."""
    parsed = job.parsed
    result = SeedResult(
        engine=job.engine,
        version=job.version,
        created=current is None,
        issues=parsed.issues,
        forced=forced,
    )
    # Entries are stored once per distinct content: only what no version holds is written.
    provider_digests = [entries.provider_digest(record) for record in parsed.providers]
    derived = DERIVATIONS.derive(job.engine, job.parser_revision, parsed)
    model_digests = [d.digest for d in derived]
    instance = known.instance
    provider_ids_by_digest = _entry_ids(
        conn, provider_entry, provider_digests, parsed.providers, known.providers_by_digest
    )
    model_ids_by_digest = _entry_ids(
        conn, model_entry, model_digests, parsed.models, known.models_by_digest
    )
    provider_ids = _by_key(provider_digests, parsed.providers, provider_ids_by_digest)
    model_ids = _by_key(model_digests, parsed.models, model_ids_by_digest)
    extras_id, issues_id = repo.put_documents(
        conn, [parsed.extras, repo.issues_body(parsed.issues)]
    )
    membership = repo.Membership(
        providers=pack(provider_ids.values()),
        models=pack(model_ids.values()),
        extras_id=extras_id,
    )
    old = repo.get_membership(conn, version_id=current.id) if current else None

    result.providers = _counts(conn, provider_entry, old.providers if old else None, provider_ids)
    result.models = _counts(conn, model_entry, old.models if old else None, model_ids)
    result.extras_changed = old is not None and old.extras_id != membership.extras_id

    values: dict[str, object] = {
        "source_digest": job.source_digest,
        "parser_revision": job.parser_revision,
        "issues_id": issues_id,
    }
    # The same content from other bytes (a schema that forgot them, a release's map written
    # another way) may still say more of where it came from.
    adds = current is not None and provenance is not None and _adds_provenance(current, provenance)
    same_code = current is not None and current.parser_revision == job.parser_revision
    if current is not None and not result.changed and same_code:
        result.content_digest = current.content_digest
        result.revision = current.revision
        _same_content(conn, current.id, values, provenance if adds else None, result)
        return result, None

    result.content_digest = records_digest(
        engine=job.engine,
        version=job.version,
        providers=parsed.providers,
        models=parsed.models,
        extras=parsed.extras,
        templates=[d.template for d in derived],
    )
    if current is not None and not result.changed:
        # Re-derived by other code: the same entries may now be served in another wire
        # format, which the digest (it names the format) tells; clients must see it change.
        if result.content_digest == current.content_digest:
            result.revision = current.revision
            _same_content(conn, current.id, values, provenance if adds else None, result)
            return result, None
        result.format_changed = True
    result.revision = revision = repo.next_revision(conn)
    values.update(
        seeded_at=job.now,
        content_digest=result.content_digest,
        provider_count=len(parsed.providers),
        model_count=len(parsed.models),
        revision=revision,
        providers=membership.providers,
        models=membership.models,
        extras_id=membership.extras_id,
    )
    if current is None:
        engine_id = known.engine_id
        if engine_id is None:
            engine_row = repo.get_engine(conn, key=job.engine) or repo.create_engine_row(
                conn, key=job.engine, name=engine_format(job.engine).name, now=job.now
            )
            engine_id = engine_row.id
        version_id = repo.create_version(
            conn,
            engine_id=engine_id,
            version=job.version,
            created_at=job.now,
            **values,
            **_provenance_values(provenance or Provenance()),
        )
    else:
        version_id = current.id
        if provenance is not None:  # it now serves this source: say where that came from
            values.update(_provenance_values(provenance))
        repo.update_version(conn, version_id=version_id, **values)
    repo.record_state(conn, version_id=version_id, revision=revision, membership=membership)
    if current is None:  # a new version may be the new `latest`
        repo.note_latest(conn, engine_key=job.engine, revision=revision)
    if revision > job.history:
        repo.prune_history(conn, floor=revision - job.history)
    if counts is not None:
        counts = _with_count(counts, job.version, len(parsed.models))
    written = Anchor(
        instance=instance,
        version_id=version_id,
        content_digest=result.content_digest,
        providers=membership.providers,
        models=membership.models,
        provider_ids=provider_ids_by_digest,
        model_ids=model_ids_by_digest,
        revision=revision,
        model_counts=counts,
    )
    return result, written


@dataclass(frozen=True, slots=True)
class _Known:
    """What a seed may take from the last one this process committed (see `Anchor`)."""

    instance: str
    providers_by_digest: Mapping[str, int]
    models_by_digest: Mapping[str, int]
    model_counts: tuple[tuple[str, int], ...] | None
    # The engine's row (that of the anchor's version, which is of the same engine).
    engine_id: int | None


def _known(conn: Connection, anchor: Anchor | None) -> _Known:
    """The registry's instance, and what `anchor` holds that still holds in this
    transaction's database: its entry ids, and its model counts if nothing was written
    since (nothing otherwise)."""
    if anchor is not None:
        now = repo.version_entries(conn, version_id=anchor.version_id)
        if still_holds(anchor, now) and now is not None:
            counts = counts_if_current(anchor, now)
            return _Known(
                anchor.instance, anchor.provider_ids, anchor.model_ids, counts, now.engine_id
            )
    return _Known(repo.registry_instance(conn), {}, {}, None, None)


def _entry_ids(
    conn: Connection,
    table: Table,
    digests: list[str],
    records: Sequence[Any],
    known: Mapping[str, int],
) -> dict[str, int]:
    """Entry id by digest for `records`, inserting the entries no version holds yet. Ids in
    `known` (digest -> id, committed) are taken as they are; only the others are looked up."""
    found = {digest: known[digest] for digest in digests if digest in known}
    wanted = [digest for digest in digests if digest not in found]
    if wanted:
        found.update(repo.entry_ids(conn, table, wanted))
        missing = [(d, r) for d, r in zip(digests, records, strict=True) if d not in found]
        if missing:
            insert = (
                repo.insert_model_entries if table is model_entry else repo.insert_provider_entries
            )
            found.update(insert(conn, missing))
    return found


def _by_key(digests: list[str], records: Sequence[Any], ids: Mapping[str, int]) -> dict[str, int]:
    return {record.key: ids[digest] for digest, record in zip(digests, records, strict=True)}


def _counts(conn: Connection, table: Table, old: bytes | None, new: dict[str, int]) -> Counts:
    """What a seed does to one kind of entry, by key: inserted, updated, removed, unchanged."""
    if old is None:
        return Counts(inserted=len(new))
    old_ids = unpack(old)
    new_ids = set(new.values())
    if set(old_ids) == new_ids:
        return Counts(unchanged=len(new))
    # Only entries that are not in both sets can differ by key.
    gone_ids = [i for i in old_ids if i not in new_ids]
    gone = repo.entry_keys(conn, table, gone_ids)
    changed_keys = {key for key in gone.values() if key in new}
    counts = Counts()
    old_kept = len(old_ids) - len(gone_ids)
    counts.unchanged = old_kept
    counts.updated = len(changed_keys)
    counts.removed = len(gone) - len(changed_keys)
    counts.inserted = len(new) - old_kept - len(changed_keys)
    return counts


def seed_bundled(
    db: Database,
    *,
    engine: str,
    versions: list[str] | None = None,
    data_dir: Path | None = None,
    on_done: Callable[[SeedResult], None] | None = None,
    history: int = DEFAULT_HISTORY,
    max_bytes: int = DEFAULT_MAX_SOURCE_BYTES,
) -> list[SeedResult]:
    """Seed bundled files of `engine` (all of them by default), oldest version first.

    Each version is its own transaction: a failure stops the run but keeps the versions that
    were already applied, each complete. A file larger than `max_bytes` is refused before
    it is read. Every refusal names the version and its file.
    """
    results = []
    for version in versions if versions is not None else bundled_versions(engine, data_dir):
        path = bundled_file(engine, version, data_dir)
        where = f"{engine} {version} ({path})"
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise SourceTooLarge(f"{where}: {size:,} bytes, more than {max_bytes:,}")
            result = seed(
                db,
                engine=engine,
                version=version,
                raw=path.read_bytes(),
                history=history,
                max_bytes=max_bytes,
                provenance=bundled_provenance(engine, version, data_dir),
            )
        except HeldBack as exc:
            raise HeldBack(f"{where}: {exc.detail}", **exc.extra) from None
        except InvalidSourceFile as exc:
            raise InvalidSourceFile(f"{where}: {exc.detail}") from None
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def missing_bundled_versions(
    db: Database, *, engine: str, data_dir: Path | None = None
) -> list[str]:
    """Bundled versions of `engine` the registry does not hold yet, oldest first."""
    with db.read() as conn:
        held = {row.version for row in repo.list_versions(conn, engine_key=engine)}
    return [v for v in bundled_versions(engine, data_dir) if v not in held]


def rederive_stale(
    db: Database,
    *,
    data_dir: Path | None = None,
    history: int = DEFAULT_HISTORY,
    on_done: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Re-derive every version last seeded by another parser revision, wire format or
    provider metadata, so that what it serves (and its digests) is what this code serves.

    The source is the bundled file when it is the very file the version was seeded from,
    else the version's own stored source (its models' entries and extras), so versions that
    came from elsewhere are re-derived too. One transaction per version, as a seed.
    """
    with db.read() as conn:
        stale = [
            row
            for row in repo.list_versions(conn)
            if row.engine_key in FORMATS
            and row.parser_revision != parser_fingerprint(row.engine_key)
        ]
    results = []
    for row in sorted(stale, key=lambda r: (r.engine_key, version_key(r.version))):
        raw = _bundled_if_same(row, data_dir)
        if raw is None:
            with db.read() as conn:
                raw = orjson.dumps(source_document(conn, row.id))
        result = seed(
            db,
            engine=row.engine_key,
            version=row.version,
            raw=raw,
            history=history,
            # A digest a downgrade forgot stays forgotten (""), not that of this re-reading:
            # the tracker takes a version with no known map for the release's to restore.
            source_digest=row.source_digest,
            force=True,  # it was admitted once; the gates judge new sources, not re-readings
            allow_empty=True,
        )
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def _bundled_if_same(row: repo.VersionRow, data_dir: Path | None) -> bytes | None:
    try:
        raw = bundled_file(row.engine_key, row.version, data_dir).read_bytes()
    except (SourceFileMissing, OSError):
        return None
    return raw if hashlib.sha256(raw).hexdigest() == row.source_digest else None


def source_document(conn: Connection, version_id: int) -> JSONObject:
    """The source file of a version as stored: each model's original entry, then the extras
    (which hold the file's form of entries a model was read from, such as pointers)."""
    membership = repo.get_membership(conn, version_id=version_id)
    document = repo.load_source_entries(conn, unpack(membership.models))
    document.update(repo.get_document(conn, document_id=membership.extras_id))
    return document
