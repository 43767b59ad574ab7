"""Seeding: make one engine version equal one source file, in one transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from sqlalchemy import Connection

from budconnect.domain import identity
from budconnect.domain.documents import (
    content_digest,
    document_digest,
    model_document,
    provider_document,
)
from budconnect.domain.records import (
    EntryIssue,
    IdentifiedModel,
    IdentifiedProvider,
    JSONObject,
    ParsedCatalog,
    canonical_json,
    issues_of,
)
from budconnect.domain.versions import validate_engine_key, validate_version, version_key
from budconnect.errors import HeldBack, InvalidSourceFile, SourceFileMissing, SourceTooLarge
from budconnect.seeders import (
    FORMATS,
    bundled_file,
    bundled_versions,
    engine_format,
    parser_fingerprint,
)
from budconnect.storage import repository as repo
from budconnect.storage.database import Database

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

    @property
    def changed(self) -> bool:
        return self.created or self.providers.changed or self.models.changed or self.extras_changed

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
) -> SeedResult:
    """Make `engine` `version` serve exactly what `raw` holds.

    Idempotent: when the same bytes were already seeded by the same parser revision, nothing
    is written at all. A file that cannot be parsed is refused before any transaction starts.
    Removal records older than `history` registry revisions are pruned; the change feed
    answers `410 Gone` for revisions before that. `source_digest` (default: that of `raw`)
    names the file the version came from, when `raw` is a copy rebuilt from the database.

    A source larger than `max_bytes` is refused before it is parsed; one the gates refuse
    (see `Gates`) is refused before anything is written, unless `force`.
    """
    validate_engine_key(engine)
    validate_version(version)
    if len(raw) > max_bytes:
        raise SourceTooLarge(
            f"the source is {len(raw):,} bytes, more than the limit of {max_bytes:,}",
            limit=max_bytes,
        )
    parser = engine_format(engine).parse
    source_digest = source_digest or hashlib.sha256(raw).hexdigest()
    parser_revision = parser_fingerprint(engine)

    # Cheap check first, outside the write lock: an unchanged file costs one hash and a read.
    with db.read() as conn:
        current = repo.get_version(conn, engine_key=engine, version=version)
        unchanged = _unchanged(conn, current, source_digest, parser_revision)
    if unchanged is not None:
        return unchanged

    parsed = parser(raw)  # pure and possibly slow: done before taking the write lock
    now = now or dt.datetime.now(dt.UTC)
    with db.write() as conn:
        # Another seeder may have applied the same file while this one was parsing.
        current = repo.get_version(conn, engine_key=engine, version=version)
        unchanged = _unchanged(conn, current, source_digest, parser_revision)
        if unchanged is not None:
            return unchanged
        if not force:
            GATES.check(len(parsed.models), _previous_count(conn, engine, version, current))
        return _apply(
            conn, engine, version, current, parsed, source_digest, parser_revision, now, history
        )


def _previous_count(
    conn: Connection, engine: str, version: str, current: repo.VersionRow | None
) -> tuple[str, int] | None:
    """(version, model count) the gates compare a source with: the version it replaces, else
    the newest version held that is older than it."""
    if current is not None:
        return current.version, current.model_count
    older = [
        row
        for row in repo.list_versions(conn, engine_key=engine)
        if version_key(row.version) < version_key(version)
    ]
    if not older:
        return None
    row = max(older, key=lambda r: version_key(r.version))
    return row.version, row.model_count


def _unchanged(
    conn: Connection, row: repo.VersionRow | None, source_digest: str, parser_revision: int
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
    )


def _apply(
    conn: Connection,
    engine: str,
    version: str,
    version_row: repo.VersionRow | None,
    parsed: ParsedCatalog,
    source_digest: str,
    parser_revision: int,
    now: dt.datetime,
    history: int,
) -> SeedResult:
    created = version_row is None
    if version_row is None:
        engine_row = repo.get_engine(conn, key=engine) or repo.create_engine_row(
            conn, key=engine, name=engine_format(engine).name, now=now
        )
        version_id = repo.create_version(
            conn,
            engine_id=engine_row.id,
            version=version,
            now=now,
            source_digest=source_digest,
            parser_revision=parser_revision,
        )
        stored_providers: dict[str, repo.StoredRow] = {}
        stored_models: dict[str, repo.StoredRow] = {}
        stored_extras: JSONObject = {}
    else:
        version_id = version_row.id
        stored_providers = repo.stored_providers(conn, version_id=version_id)
        stored_models = repo.stored_models(conn, version_id=version_id)
        stored_extras = repo.get_version_extras(conn, version_id=version_id)

    result = SeedResult(engine=engine, version=version, created=created, issues=parsed.issues)
    result.extras_changed = canonical_json(stored_extras) != canonical_json(parsed.extras)

    # Ids are kept for rows that exist and derived for new ones; digests are of the documents
    # the API will serve, so "unchanged" means "serves the same bytes".
    providers: list[IdentifiedProvider] = []
    provider_ids: dict[str, uuid.UUID] = {}
    new_providers: list[IdentifiedProvider] = []
    changed_providers: list[IdentifiedProvider] = []
    for record in parsed.providers:
        stored = stored_providers.get(record.key)
        pid = stored.id if stored else identity.provider_id(engine, version, record.key)
        row = IdentifiedProvider(pid, record, document_digest(provider_document(record, pid)))
        providers.append(row)
        provider_ids[record.key] = pid
        if stored is None:
            new_providers.append(row)
        elif stored.digest != row.digest:
            changed_providers.append(row)
        else:
            result.providers.unchanged += 1
    gone_providers = [(key, r.id) for key, r in stored_providers.items() if key not in provider_ids]

    models: list[IdentifiedModel] = []
    new_models: list[IdentifiedModel] = []
    changed_models: list[IdentifiedModel] = []
    seen_models: set[str] = set()
    for model in parsed.models:
        pid = provider_ids[model.provider_key]
        stored = stored_models.get(model.key)
        mid = stored.id if stored else identity.model_id(engine, version, model.key)
        model_row = IdentifiedModel(
            mid, pid, model, document_digest(model_document(model, mid, pid))
        )
        models.append(model_row)
        seen_models.add(model.key)
        if stored is None:
            new_models.append(model_row)
        elif stored.digest != model_row.digest:
            changed_models.append(model_row)
        else:
            result.models.unchanged += 1
    gone_models = [(key, r.id) for key, r in stored_models.items() if key not in seen_models]

    result.providers.inserted = len(new_providers)
    result.providers.updated = len(changed_providers)
    result.providers.removed = len(gone_providers)
    result.models.inserted = len(new_models)
    result.models.updated = len(changed_models)
    result.models.removed = len(gone_models)
    result.content_digest = content_digest(
        engine=engine,
        version=version,
        providers=[(p.id, p.digest) for p in providers],
        models=[(m.id, m.digest) for m in models],
        extras=parsed.extras,
    )

    values: dict[str, object] = {
        "source_digest": source_digest,
        "parser_revision": parser_revision,
        "issues": parsed.issues,
    }
    if result.changed:
        revision = repo.next_revision(conn)
        result.revision = revision
        # Order matters for foreign keys: providers before the models that point at them, and
        # removed providers only after the models that pointed at them are gone or moved.
        repo.insert_providers(conn, version_id=version_id, revision=revision, rows=new_providers)
        repo.update_providers(conn, revision=revision, rows=changed_providers)
        repo.delete_models(conn, ids=[mid for _, mid in gone_models])
        repo.update_models(conn, revision=revision, rows=changed_models)
        repo.insert_models(conn, version_id=version_id, revision=revision, rows=new_models)
        repo.delete_providers(conn, ids=[pid for _, pid in gone_providers])
        if not created:
            repo.record_removals(
                conn,
                version_id=version_id,
                revision=revision,
                rows=[("model", mid, key) for key, mid in gone_models]
                + [("provider", pid, key) for key, pid in gone_providers],
            )
        if revision > history:
            repo.prune_removals(conn, up_to=revision - history)
        values.update(
            seeded_at=now,
            content_digest=result.content_digest,
            provider_count=len(parsed.providers),
            model_count=len(parsed.models),
            revision=revision,
            extras=parsed.extras,
        )
    elif version_row is not None:
        result.revision = version_row.revision
    repo.update_version(conn, version_id=version_id, **values)
    return result


def seed_bundled(
    db: Database,
    *,
    engine: str,
    versions: list[str] | None = None,
    data_dir: Path | None = None,
    on_done: Callable[[SeedResult], None] | None = None,
    history: int = DEFAULT_HISTORY,
) -> list[SeedResult]:
    """Seed bundled files of `engine` (all of them by default), oldest version first.

    Each version is its own transaction: a failure stops the run but keeps the versions that
    were already applied, each complete.
    """
    results = []
    for version in versions if versions is not None else bundled_versions(engine, data_dir):
        path = bundled_file(engine, version, data_dir)
        try:
            result = seed(
                db, engine=engine, version=version, raw=path.read_bytes(), history=history
            )
        except InvalidSourceFile as exc:
            raise InvalidSourceFile(f"{engine} {version} ({path}): {exc.detail}") from None
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
                raw = orjson.dumps(repo.load_source_document(conn, version_id=row.id))
        result = seed(
            db,
            engine=row.engine_key,
            version=row.version,
            raw=raw,
            history=history,
            source_digest=row.source_digest or None,
            force=True,  # it was admitted once; the gates judge new sources, not re-readings
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
