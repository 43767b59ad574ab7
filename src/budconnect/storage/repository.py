"""Every SQL statement of BudConnect. Functions take a Connection and never commit."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, func, insert, select, text, update

from budconnect.domain.records import EntryIssue, JSONObject, ModelRecord, ProviderRecord
from budconnect.domain.versions import newest
from budconnect.storage import entries
from budconnect.storage.database import json_dumps
from budconnect.storage.known_entries import VersionEntries
from budconnect.storage.tables import (
    audit_log,
    deployment,
    document,
    engine,
    engine_version,
    model_entry,
    provider_entry,
    registry,
    release_note,
    version_state,
)

_CHUNK = 900  # bound parameters per statement: under every backend's limit


@dataclass(frozen=True, slots=True)
class EngineRow:
    id: int
    key: str
    name: str
    latest_version: str | None = None
    latest_since: int = 0  # the registry revision at which `latest` came to name it


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    engine_id: int
    engine_key: str
    version: str
    created_at: dt.datetime
    seeded_at: dt.datetime
    source_digest: str
    parser_revision: int
    content_digest: str
    provider_count: int
    model_count: int
    revision: int
    origin: str = "file"
    released_at: dt.datetime | None = None
    released_at_source: str | None = None
    wheel_filename: str | None = None
    wheel_sha256: str | None = None
    yanked_at: dt.datetime | None = None
    yank_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    client: str
    action: str
    engine_key: str
    version: str
    digest_before: str | None
    digest_after: str | None
    forced: bool
    detail: JSONObject


@dataclass(frozen=True, slots=True)
class Membership:
    """What a version holds (or held, at a revision): packed entry ids and its extras."""

    providers: bytes
    models: bytes
    extras_id: int


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no zone; every timestamp BudConnect writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _utc(value)


_VERSION_COLUMNS = (
    engine_version.c.id, engine_version.c.engine_id, engine.c.key.label("engine_key"),
    engine_version.c.version, engine_version.c.created_at, engine_version.c.seeded_at,
    engine_version.c.source_digest, engine_version.c.parser_revision,
    engine_version.c.content_digest, engine_version.c.provider_count,
    engine_version.c.model_count, engine_version.c.revision, engine_version.c.origin,
    engine_version.c.released_at, engine_version.c.released_at_source,
    engine_version.c.wheel_filename, engine_version.c.wheel_sha256, engine_version.c.yanked_at,
    engine_version.c.yank_reason,
)  # fmt: skip


def _version(row: Any) -> VersionRow:
    return VersionRow(
        id=row.id,
        engine_id=row.engine_id,
        engine_key=row.engine_key,
        version=row.version,
        created_at=_utc(row.created_at),
        seeded_at=_utc(row.seeded_at),
        source_digest=row.source_digest,
        parser_revision=row.parser_revision,
        content_digest=row.content_digest,
        provider_count=row.provider_count,
        model_count=row.model_count,
        revision=row.revision,
        origin=row.origin,
        released_at=_utc_or_none(row.released_at),
        released_at_source=row.released_at_source,
        wheel_filename=row.wheel_filename,
        wheel_sha256=row.wheel_sha256,
        yanked_at=_utc_or_none(row.yanked_at),
        yank_reason=row.yank_reason,
    )


# SQLite has its JSON functions built in from 3.38 on.
_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# --- engines -----------------------------------------------------------------------------


_ENGINE_COLUMNS = (
    engine.c.id,
    engine.c.key,
    engine.c.name,
    engine.c.latest_version,
    engine.c.latest_since,
)


def get_engine(conn: Connection, *, key: str) -> EngineRow | None:
    row = conn.execute(select(*_ENGINE_COLUMNS).where(engine.c.key == key)).one_or_none()
    return EngineRow(*row) if row else None


def create_engine_row(conn: Connection, *, key: str, name: str, now: dt.datetime) -> EngineRow:
    engine_id = conn.execute(
        insert(engine).values(key=key, name=name, created_at=now).returning(engine.c.id)
    ).scalar_one()
    return EngineRow(engine_id, key, name)


def list_engines(conn: Connection) -> list[EngineRow]:
    return [EngineRow(*row) for row in conn.execute(select(*_ENGINE_COLUMNS))]


def note_latest(conn: Connection, *, engine_key: str, revision: int) -> None:
    """After a write at registry `revision` that may move the engine's `latest` (a new
    version, a yank, an unyank): record when `latest` came to name another version."""
    row = conn.execute(
        select(engine.c.id, engine.c.latest_version).where(engine.c.key == engine_key)
    ).one()
    names = conn.execute(
        select(engine_version.c.version).where(
            engine_version.c.engine_id == row.id, engine_version.c.yanked_at.is_(None)
        )
    ).scalars()
    latest = newest(names)
    if latest != row.latest_version:
        conn.execute(
            update(engine)
            .where(engine.c.id == row.id)
            .values(latest_version=latest, latest_since=revision)
        )


# --- engine versions ---------------------------------------------------------------------


def get_version(conn: Connection, *, engine_key: str, version: str) -> VersionRow | None:
    row = conn.execute(
        select(*_VERSION_COLUMNS)
        .join(engine, engine.c.id == engine_version.c.engine_id)
        .where(engine.c.key == engine_key, engine_version.c.version == version)
    ).one_or_none()
    return _version(row) if row else None


def list_versions(conn: Connection, *, engine_key: str | None = None) -> list[VersionRow]:
    query = select(*_VERSION_COLUMNS).join(engine, engine.c.id == engine_version.c.engine_id)
    if engine_key is not None:
        query = query.where(engine.c.key == engine_key)
    return [_version(row) for row in conn.execute(query)]


def model_counts(conn: Connection, *, engine_key: str) -> list[tuple[str, int]]:
    """(version, model count) of every version of an engine."""
    rows = conn.execute(
        select(engine_version.c.version, engine_version.c.model_count)
        .join(engine, engine.c.id == engine_version.c.engine_id)
        .where(engine.c.key == engine_key)
    )
    # Every seed reads this for every version held: unpacked, not read by attribute.
    return [(version, count) for version, count in rows]


def get_membership(conn: Connection, *, version_id: int) -> Membership:
    row = conn.execute(
        select(engine_version.c.providers, engine_version.c.models, engine_version.c.extras_id)
        .where(engine_version.c.id == version_id)
    ).one()  # fmt: skip
    return Membership(bytes(row.providers), bytes(row.models), row.extras_id)


def version_entries(conn: Connection, *, version_id: int) -> VersionEntries | None:
    """The registry's instance and what the version holds (None if it is gone)."""
    row = conn.execute(
        select(
            registry.c.instance,
            engine_version.c.content_digest,
            engine_version.c.providers,
            engine_version.c.models,
            registry.c.revision,
            engine_version.c.engine_id,
        )
        .join(registry, registry.c.id == 1)  # the registry's one row
        .where(engine_version.c.id == version_id)
    ).one_or_none()
    if row is None:
        return None
    return VersionEntries(
        row.instance,
        row.content_digest,
        bytes(row.providers),
        bytes(row.models),
        row.revision,
        row.engine_id,
    )


def registry_instance(conn: Connection) -> str:
    instance: str = conn.execute(select(registry.c.instance)).scalar_one()
    return instance


def get_version_issues(conn: Connection, *, version_id: int) -> list[EntryIssue]:
    issues = conn.execute(
        select(document.c.body)
        .join(engine_version, engine_version.c.issues_id == document.c.id)
        .where(engine_version.c.id == version_id)
    ).scalar_one()
    return [EntryIssue(item["key"], item["action"], item["reason"]) for item in issues]


def issues_body(issues: Iterable[EntryIssue]) -> list[JSONObject]:
    return [{"key": i.key, "action": i.action, "reason": i.reason} for i in issues]


def create_version(conn: Connection, **values: Any) -> int:
    """A version row; the caller gives every column but the id."""
    version_id: int = conn.execute(
        insert(engine_version).values(**values).returning(engine_version.c.id)
    ).scalar_one()
    return version_id


def update_version(conn: Connection, *, version_id: int, **values: Any) -> None:
    conn.execute(update(engine_version).where(engine_version.c.id == version_id).values(**values))


# --- documents -----------------------------------------------------------------------------


def put_documents(conn: Connection, bodies: Sequence[Any]) -> list[int]:
    """The id of the document holding each of `bodies`, stored now if no version has it yet
    (one look-up for all of them: a seed stores two, and both are nearly always held)."""
    digests = [entries.digest_of(body) for body in bodies]
    held = select(document.c.digest, document.c.id).where(document.c.digest.in_(set(digests)))
    found: dict[str, int] = {row[0]: row[1] for row in conn.execute(held)}
    for digest, body in zip(digests, bodies, strict=True):
        if digest not in found:
            found[digest] = conn.execute(
                insert(document).values(digest=digest, body=body).returning(document.c.id)
            ).scalar_one()
    return [found[digest] for digest in digests]


def get_document(conn: Connection, *, document_id: int) -> Any:
    return conn.execute(select(document.c.body).where(document.c.id == document_id)).scalar_one()


# --- entries -------------------------------------------------------------------------------


def entry_ids(conn: Connection, table: Table, digests: Sequence[str]) -> dict[str, int]:
    """Ids of the entries of `table` (provider_entry or model_entry) with these digests."""
    # Every seed looks up thousands of digests: one statement with one text parameter,
    # answering the ids in the order asked (null where none), costs a third of what chunks of
    # bound parameters do. Digests are hex, so a comma can separate them. On PostgreSQL a
    # join, not `= ANY(...)`: once the statement is prepared, the generic plan for that scans
    # the table testing each row against the whole list (50 ms instead of 5).
    ids: Sequence[int | None]
    if conn.dialect.name == "postgresql":
        query = text(
            "SELECT array_agg(e.id ORDER BY wanted.n) FROM unnest(string_to_array(:digests, ','))"
            f" WITH ORDINALITY AS wanted(digest, n) LEFT JOIN {table.name} AS e"
            " ON e.digest = wanted.digest"
        )
        ids = conn.execute(query, {"digests": ",".join(digests)}).scalar_one() or []
    elif _SQLITE_JSON:
        query = text(
            f"SELECT e.id FROM json_each(:digests) AS wanted LEFT JOIN {table.name} AS e"
            " ON e.digest = wanted.value ORDER BY wanted.key"
        )
        ids = conn.execute(query, {"digests": json_dumps(list(digests))}).scalars().all()
    else:
        return _entry_ids_in_chunks(conn, table, digests)
    return {digest: id_ for digest, id_ in zip(digests, ids, strict=True) if id_ is not None}


def _entry_ids_in_chunks(conn: Connection, table: Table, digests: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(digests):
        rows = conn.execute(select(table.c.digest, table.c.id).where(table.c.digest.in_(chunk)))
        found.update((row.digest, row.id) for row in rows)
    return found


def entry_keys(conn: Connection, table: Table, ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(select(table.c.id, table.c.key).where(table.c.id.in_(chunk)))
        found.update((row.id, row.key) for row in rows)
    return found


def insert_provider_entries(
    conn: Connection, rows: Sequence[tuple[str, ProviderRecord]]
) -> dict[str, int]:
    if rows:
        conn.execute(
            insert(provider_entry),
            [{"digest": digest, **entries.provider_values(record)} for digest, record in rows],
        )
    return entry_ids(conn, provider_entry, [digest for digest, _ in rows])


def insert_model_entries(
    conn: Connection, rows: Sequence[tuple[str, ModelRecord]]
) -> dict[str, int]:
    if not rows:
        return {}
    columns = ("digest", *entries.MODEL_FIELDS)
    fields = entries.model_fields
    values = [(digest, *fields(record)) for digest, record in rows]
    if conn.dialect.name == "postgresql":
        _copy(conn, "model_entry", columns, values)
    else:
        _executemany(conn, "model_entry", columns, values)
    return entry_ids(conn, model_entry, [digest for digest, _ in rows])


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    # COPY streams every row in one round trip: several times faster than INSERTs for the
    # thousands of models a LiteLLM release holds.
    positions = [i for i, name in enumerate(columns) if name in entries.JSON_MODEL_FIELDS]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            values = list(row)
            for position in positions:
                if values[position] is not None:
                    values[position] = json_dumps(values[position])
            copy.write_row(values)


def _executemany(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    # The driver's executemany, with values converted column by column: JSON by the engine's
    # own serializer, the rest by each column's bind processor. What is stored is exactly what
    # SQLAlchemy would store, without its per-row parameter bookkeeping.
    by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
    dumps = orjson.dumps  # `json_dumps`, inlined: a fresh seed converts 40,000 values
    for index, name in enumerate(columns):
        if name in entries.JSON_MODEL_FIELDS:
            by_column[index] = [None if v is None else dumps(v).decode() for v in by_column[index]]
            continue
        process = model_entry.c[name].type.bind_processor(conn.dialect)
        if process is not None:
            by_column[index] = [None if v is None else process(v) for v in by_column[index]]
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    conn.exec_driver_sql(statement, list(zip(*by_column, strict=True)))


def load_provider_entries(conn: Connection, ids: Sequence[int]) -> dict[int, ProviderRecord]:
    found: dict[int, ProviderRecord] = {}
    columns = [provider_entry.c[name] for name in entries.PROVIDER_FIELDS]
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(provider_entry.c.id, *columns).where(provider_entry.c.id.in_(chunk))
        )
        found.update((row.id, entries.provider_record(row)) for row in rows)
    return found


def load_model_entries(conn: Connection, ids: Sequence[int]) -> dict[int, ModelRecord]:
    found: dict[int, ModelRecord] = {}
    columns = [model_entry.c[name] for name in entries.MODEL_FIELDS]
    for chunk in _chunks(ids):
        rows = conn.execute(select(model_entry.c.id, *columns).where(model_entry.c.id.in_(chunk)))
        found.update((row.id, entries.model_record(row)) for row in rows)
    return found


def load_source_entries(conn: Connection, ids: Sequence[int]) -> dict[str, JSONObject]:
    """Model key -> original entry, for the entries with these ids."""
    found: dict[str, JSONObject] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(model_entry.c.key, model_entry.c.source_entry).where(model_entry.c.id.in_(chunk))
        )
        found.update((row.key, row.source_entry) for row in rows)
    return found


# --- the registry revision and version history ------------------------------------------------


def registry_state(conn: Connection) -> tuple[int, int]:
    """(current revision, oldest revision the change feed can answer from)."""
    row = conn.execute(select(registry.c.revision, registry.c.history_floor)).one()
    return row.revision, row.history_floor


def next_revision(conn: Connection) -> int:
    """Raise the registry revision by one, under the write lock: every write that changes what
    servers show of a version (its entries, a yank, its provenance) calls it."""
    raised = update(registry).values(revision=registry.c.revision + 1)
    revision: int = conn.execute(raised.returning(registry.c.revision)).scalar_one()
    return revision


def record_state(
    conn: Connection, *, version_id: int, revision: int, membership: Membership
) -> None:
    conn.execute(
        insert(version_state).values(
            engine_version_id=version_id,
            revision=revision,
            providers=membership.providers,
            models=membership.models,
            extras_id=membership.extras_id,
        )
    )


def state_at(conn: Connection, *, version_id: int, revision: int) -> Membership | None:
    """What the version held at registry revision `revision` (None: it did not exist)."""
    row = conn.execute(
        select(version_state.c.providers, version_state.c.models, version_state.c.extras_id)
        .where(
            version_state.c.engine_version_id == version_id, version_state.c.revision <= revision
        )
        .order_by(version_state.c.revision.desc())
        .limit(1)
    ).one_or_none()
    return Membership(bytes(row.providers), bytes(row.models), row.extras_id) if row else None


def prune_history(conn: Connection, *, floor: int) -> None:
    """Forget states the change feed no longer needs to answer from revision `floor` on: all
    before it, but the newest one of each version (what it held at `floor`)."""
    newest_before = (
        select(func.max(version_state.c.id))
        .where(version_state.c.revision <= floor)
        .group_by(version_state.c.engine_version_id)
    )
    conn.execute(
        delete(version_state).where(
            version_state.c.revision < floor, version_state.c.id.not_in(newest_before)
        )
    )
    conn.execute(
        update(registry).where(registry.c.history_floor < floor).values(history_floor=floor)
    )


# --- releases the tracker did not ingest -----------------------------------------------------


def release_notes(conn: Connection, *, engine_key: str) -> dict[str, str]:
    rows = conn.execute(
        select(release_note.c.version, release_note.c.reason).where(
            release_note.c.engine_key == engine_key
        )
    )
    return {row.version: row.reason for row in rows}


def note_release(
    conn: Connection,
    *,
    engine_key: str,
    version: str,
    reason: str,
    wheel_filename: str | None,
    now: dt.datetime,
) -> None:
    conn.execute(
        delete(release_note).where(
            release_note.c.engine_key == engine_key, release_note.c.version == version
        )
    )
    conn.execute(
        insert(release_note).values(
            engine_key=engine_key,
            version=version,
            reason=reason,
            wheel_filename=wheel_filename,
            noted_at=now,
        )
    )


def forget_release_note(conn: Connection, *, engine_key: str, version: str) -> None:
    conn.execute(
        delete(release_note).where(
            release_note.c.engine_key == engine_key, release_note.c.version == version
        )
    )


# --- the audit log ----------------------------------------------------------------------------


def record_audit(conn: Connection, **values: Any) -> None:
    conn.execute(insert(audit_log).values(**values))


def list_audit(conn: Connection, *, limit: int, before: int | None = None) -> list[AuditEntry]:
    """The newest entries first; `before` pages on (entries with a smaller id)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    return [
        AuditEntry(
            id=row.id,
            at=_utc(row.at),
            actor=row.actor,
            client=row.client,
            action=row.action,
            engine_key=row.engine_key,
            version=row.version,
            digest_before=row.digest_before,
            digest_after=row.digest_after,
            forced=row.forced,
            detail=row.detail,
        )
        for row in conn.execute(query)
    ]


def unyanked_versions(conn: Connection, *, engine_key: str) -> set[str]:
    """The versions of `engine_key` someone unyanked at least once (the audit log says so)."""
    query = (
        select(audit_log.c.version)
        .where(audit_log.c.engine_key == engine_key, audit_log.c.action == "unyank")
        .distinct()
    )
    return set(conn.execute(query).scalars())


# --- the fleet -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    name: str
    kind: str
    address: str
    user_agent: str
    engine_key: str | None
    follows: str | None
    version: str | None
    digest: str | None
    revision: int | None
    applied: bool | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    polls: int


def upsert_deployments(conn: Connection, rows: Sequence[JSONObject]) -> None:
    """Record what pollers reported: one row per deployment, polls added up."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    statement = dialect_insert(deployment)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[deployment.c.name],
        set_={
            "kind": excluded.kind,
            "address": excluded.address,
            "user_agent": excluded.user_agent,
            "engine_key": excluded.engine_key,
            "follows": excluded.follows,
            "version": excluded.version,
            "digest": excluded.digest,
            "revision": excluded.revision,
            "applied": excluded.applied,
            "last_seen": func.max(deployment.c.last_seen, excluded.last_seen)
            if conn.dialect.name == "sqlite"
            else func.greatest(deployment.c.last_seen, excluded.last_seen),
            "polls": deployment.c.polls + excluded.polls,
        },
    )
    conn.execute(statement, list(rows))


def forget_deployments(conn: Connection, *, seen_before: dt.datetime, keep: int) -> int:
    """Delete deployments last seen before `seen_before`, and beyond the `keep` most recently
    seen; how many were deleted."""
    deleted = conn.execute(delete(deployment).where(deployment.c.last_seen < seen_before))
    count = deleted.rowcount or 0
    held = conn.execute(select(func.count()).select_from(deployment)).scalar_one()
    if held > keep:
        oldest = (
            select(deployment.c.name)
            .order_by(deployment.c.last_seen.desc(), deployment.c.name)
            .offset(keep)
            .scalar_subquery()
        )
        count += conn.execute(delete(deployment).where(deployment.c.name.in_(oldest))).rowcount or 0
    return count


def list_deployments(conn: Connection) -> list[DeploymentRow]:
    rows = conn.execute(select(deployment).order_by(deployment.c.name))
    return [
        DeploymentRow(
            name=row.name,
            kind=row.kind,
            address=row.address,
            user_agent=row.user_agent,
            engine_key=row.engine_key,
            follows=row.follows,
            version=row.version,
            digest=row.digest,
            revision=row.revision,
            applied=row.applied,
            first_seen=_utc(row.first_seen),
            last_seen=_utc(row.last_seen),
            polls=row.polls,
        )
        for row in rows
    ]


# --- history of a model -------------------------------------------------------------------------


def model_entries_by_key(conn: Connection, *, key: str) -> dict[int, ModelRecord]:
    """Every stored entry of a model key, in any version of any engine, by entry id."""
    columns = [model_entry.c[name] for name in entries.MODEL_FIELDS]
    rows = conn.execute(select(model_entry.c.id, *columns).where(model_entry.c.key == key))
    return {row.id: entries.model_record(row) for row in rows}


def model_memberships(conn: Connection, *, engine_key: str) -> dict[str, bytes]:
    """Each version of an engine: its packed model entry ids."""
    rows = conn.execute(
        select(engine_version.c.version, engine_version.c.models)
        .join(engine, engine.c.id == engine_version.c.engine_id)
        .where(engine.c.key == engine_key)
    )
    return {row.version: bytes(row.models) for row in rows}
