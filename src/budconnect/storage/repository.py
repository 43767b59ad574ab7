"""Every SQL statement of BudConnect. Functions take a Connection and never commit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, delete, insert, select, update

from budconnect.domain.records import (
    EntryIssue,
    IdentifiedModel,
    IdentifiedProvider,
    JSONObject,
    ModelRecord,
    ProviderRecord,
)
from budconnect.storage.database import json_dumps
from budconnect.storage.tables import (
    engine,
    engine_version,
    model_info,
    provider,
    registry,
    removal,
)

_MODEL_FIELDS = (
    "alias_of", "mode", "modality", "endpoints", "deprecation_date", "input_cost",
    "output_cost", "cache_cost", "search_context_cost_per_query", "tokens", "rate_limits",
    "media_limits", "features", "source_entry",
)  # fmt: skip
_PROVIDER_FIELDS = ("name", "description", "icon", "capabilities", "credentials")
_MODEL_COLUMNS = (
    "id", "engine_version_id", "provider_id", "key", "digest", "revision", *_MODEL_FIELDS,
)  # fmt: skip
_JSON_FIELDS = frozenset(n for n in _MODEL_FIELDS if isinstance(model_info.c[n].type, JSON))


@dataclass(frozen=True, slots=True)
class EngineRow:
    id: int
    key: str
    name: str


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


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What a seed compares against: a stored row's id and content digest."""

    id: uuid.UUID
    digest: str


@dataclass(frozen=True, slots=True)
class Removal:
    kind: str
    row_id: uuid.UUID
    key: str
    revision: int


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no zone; every timestamp BudConnect writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


_VERSION_COLUMNS = (
    engine_version.c.id, engine_version.c.engine_id, engine.c.key.label("engine_key"),
    engine_version.c.version, engine_version.c.created_at, engine_version.c.seeded_at,
    engine_version.c.source_digest, engine_version.c.parser_revision,
    engine_version.c.content_digest, engine_version.c.provider_count,
    engine_version.c.model_count, engine_version.c.revision,
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
    )


# --- engines -----------------------------------------------------------------------------


def get_engine(conn: Connection, *, key: str) -> EngineRow | None:
    row = conn.execute(
        select(engine.c.id, engine.c.key, engine.c.name).where(engine.c.key == key)
    ).one_or_none()
    return EngineRow(row.id, row.key, row.name) if row else None


def create_engine_row(conn: Connection, *, key: str, name: str, now: dt.datetime) -> EngineRow:
    engine_id = conn.execute(
        insert(engine).values(key=key, name=name, created_at=now).returning(engine.c.id)
    ).scalar_one()
    return EngineRow(engine_id, key, name)


def list_engines(conn: Connection) -> list[EngineRow]:
    rows = conn.execute(select(engine.c.id, engine.c.key, engine.c.name))
    return [EngineRow(row.id, row.key, row.name) for row in rows]


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


def get_version_extras(conn: Connection, *, version_id: int) -> JSONObject:
    extras: JSONObject = conn.execute(
        select(engine_version.c.extras).where(engine_version.c.id == version_id)
    ).scalar_one()
    return extras


def get_version_issues(conn: Connection, *, version_id: int) -> list[EntryIssue]:
    issues = conn.execute(
        select(engine_version.c.issues).where(engine_version.c.id == version_id)
    ).scalar_one()
    return [EntryIssue(item["key"], item["action"], item["reason"]) for item in issues]


def create_version(
    conn: Connection,
    *,
    engine_id: int,
    version: str,
    now: dt.datetime,
    source_digest: str,
    parser_revision: int,
) -> int:
    """A version row with empty content; the seed fills in counts and digest in the same txn."""
    version_id: int = conn.execute(
        insert(engine_version)
        .values(
            engine_id=engine_id,
            version=version,
            created_at=now,
            seeded_at=now,
            source_digest=source_digest,
            parser_revision=parser_revision,
            content_digest="",
            provider_count=0,
            model_count=0,
            issues=[],
            revision=0,
            extras={},
        )
        .returning(engine_version.c.id)
    ).scalar_one()
    return version_id


def update_version(conn: Connection, *, version_id: int, **values: Any) -> None:
    if "issues" in values:
        values["issues"] = [
            {"key": i.key, "action": i.action, "reason": i.reason} for i in values["issues"]
        ]
    conn.execute(update(engine_version).where(engine_version.c.id == version_id).values(**values))


# --- the registry revision -----------------------------------------------------------------


def registry_state(conn: Connection) -> tuple[int, int]:
    """(current revision, oldest revision the change feed can answer from)."""
    row = conn.execute(select(registry.c.revision, registry.c.history_floor)).one()
    return row.revision, row.history_floor


def next_revision(conn: Connection) -> int:
    """Raise the registry revision by one. Only seeds call it, under the write lock."""
    conn.execute(update(registry).values(revision=registry.c.revision + 1))
    revision: int = conn.execute(select(registry.c.revision)).scalar_one()
    return revision


def prune_removals(conn: Connection, *, up_to: int) -> None:
    """Forget removals at or before revision `up_to`; the change feed answers from there on."""
    conn.execute(delete(removal).where(removal.c.revision <= up_to))
    conn.execute(
        update(registry).where(registry.c.history_floor < up_to).values(history_floor=up_to)
    )


def record_removals(
    conn: Connection, *, version_id: int, revision: int, rows: Sequence[tuple[str, uuid.UUID, str]]
) -> None:
    """Remember (kind, id, key) of rows a seed removed, for the change feed."""
    if rows:
        conn.execute(
            insert(removal),
            [
                {
                    "engine_version_id": version_id,
                    "revision": revision,
                    "kind": kind,
                    "row_id": row_id,
                    "key": key,
                }
                for kind, row_id, key in rows
            ],
        )


def removals_since(conn: Connection, *, version_id: int, since: int) -> list[Removal]:
    rows = conn.execute(
        select(removal.c.kind, removal.c.row_id, removal.c.key, removal.c.revision)
        .where(removal.c.engine_version_id == version_id, removal.c.revision > since)
        .order_by(removal.c.revision, removal.c.id)
    )
    return [Removal(row.kind, row.row_id, row.key, row.revision) for row in rows]


# --- providers and models: writing ---------------------------------------------------------


def stored_providers(conn: Connection, *, version_id: int) -> dict[str, StoredRow]:
    rows = conn.execute(
        select(provider.c.key, provider.c.id, provider.c.digest).where(
            provider.c.engine_version_id == version_id
        )
    )
    return {row.key: StoredRow(row.id, row.digest) for row in rows}


def stored_models(conn: Connection, *, version_id: int) -> dict[str, StoredRow]:
    rows = conn.execute(
        select(model_info.c.key, model_info.c.id, model_info.c.digest).where(
            model_info.c.engine_version_id == version_id
        )
    )
    return {row.key: StoredRow(row.id, row.digest) for row in rows}


def _provider_values(record: ProviderRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _PROVIDER_FIELDS}


def insert_providers(
    conn: Connection, *, version_id: int, revision: int, rows: Sequence[IdentifiedProvider]
) -> None:
    if rows:
        conn.execute(
            insert(provider),
            [
                {
                    "id": row.id,
                    "engine_version_id": version_id,
                    "key": row.record.key,
                    "digest": row.digest,
                    "revision": revision,
                    **_provider_values(row.record),
                }
                for row in rows
            ],
        )


def update_providers(
    conn: Connection, *, revision: int, rows: Sequence[IdentifiedProvider]
) -> None:
    if rows:
        names = (*_PROVIDER_FIELDS, "digest", "revision")
        statement = (
            update(provider)
            .where(provider.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in names})
        )
        conn.execute(
            statement,
            [
                {
                    "b_id": row.id,
                    "b_digest": row.digest,
                    "b_revision": revision,
                    **{f"b_{k}": v for k, v in _provider_values(row.record).items()},
                }
                for row in rows
            ],
        )


def insert_models(
    conn: Connection, *, version_id: int, revision: int, rows: Sequence[IdentifiedModel]
) -> None:
    if not rows:
        return
    values = (
        (row.id, version_id, row.provider_id, row.record.key, row.digest, revision,
         *(getattr(row.record, name) for name in _MODEL_FIELDS))
        for row in rows
    )  # fmt: skip
    if conn.dialect.name == "postgresql":
        _copy_models(conn, values)
    else:
        _executemany_models(conn, values)


def _copy_models(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    # COPY streams every row in one round trip: several times faster than INSERTs for the
    # thousands of models a LiteLLM release holds.
    json_positions = [i for i, name in enumerate(_MODEL_COLUMNS) if name in _JSON_FIELDS]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY model_info ({', '.join(_MODEL_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            values = list(row)
            for position in json_positions:
                if values[position] is not None:
                    values[position] = json_dumps(values[position])
            copy.write_row(values)


def _executemany_models(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    # The driver's executemany, with values converted column by column: JSON by the engine's
    # own serializer, the rest by each column's bind processor. What is stored is exactly what
    # SQLAlchemy would store, without its per-row parameter bookkeeping (a third of a seed).
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for index, name in enumerate(_MODEL_COLUMNS):
        process = (
            json_dumps
            if name in _JSON_FIELDS
            else model_info.c[name].type.bind_processor(conn.dialect)
        )
        if process is not None:
            columns[index] = [None if v is None else process(v) for v in columns[index]]
    placeholders = ", ".join("?" for _ in _MODEL_COLUMNS)
    statement = f"INSERT INTO model_info ({', '.join(_MODEL_COLUMNS)}) VALUES ({placeholders})"
    conn.exec_driver_sql(statement, list(zip(*columns, strict=True)))


def update_models(conn: Connection, *, revision: int, rows: Sequence[IdentifiedModel]) -> None:
    if rows:
        names = (*_MODEL_FIELDS, "digest", "provider_id", "revision")
        statement = (
            update(model_info)
            .where(model_info.c.id == bindparam("b_id"))
            .values({name: bindparam(f"b_{name}") for name in names})
        )
        conn.execute(
            statement,
            [
                {
                    "b_id": row.id,
                    "b_provider_id": row.provider_id,
                    "b_digest": row.digest,
                    "b_revision": revision,
                    **{f"b_{name}": getattr(row.record, name) for name in _MODEL_FIELDS},
                }
                for row in rows
            ],
        )


def delete_models(conn: Connection, *, ids: Iterable[uuid.UUID]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 500):
        conn.execute(delete(model_info).where(model_info.c.id.in_(ids[start : start + 500])))


def delete_providers(conn: Connection, *, ids: Iterable[uuid.UUID]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 500):
        conn.execute(delete(provider).where(provider.c.id.in_(ids[start : start + 500])))


# --- providers and models: reading ---------------------------------------------------------


def load_providers(
    conn: Connection, *, version_id: int, since: int | None = None
) -> list[IdentifiedProvider]:
    """Providers of a version; with `since`, only those written after that revision."""
    query = select(
        provider.c.id, provider.c.key, provider.c.digest, *(provider.c[n] for n in _PROVIDER_FIELDS)
    ).where(provider.c.engine_version_id == version_id)
    if since is not None:
        query = query.where(provider.c.revision > since)
    return [
        IdentifiedProvider(
            id=row.id,
            record=ProviderRecord(key=row.key, **{n: getattr(row, n) for n in _PROVIDER_FIELDS}),
            digest=row.digest,
        )
        for row in conn.execute(query)
    ]


def load_models(
    conn: Connection, *, version_id: int, since: int | None = None
) -> list[IdentifiedModel]:
    """Models of a version; with `since`, only those written after that revision."""
    query = (
        select(
            model_info.c.id, model_info.c.provider_id, model_info.c.key, model_info.c.digest,
            provider.c.key.label("provider_key"), *(model_info.c[n] for n in _MODEL_FIELDS),
        )
        .join(provider, provider.c.id == model_info.c.provider_id)
        .where(model_info.c.engine_version_id == version_id)
    )  # fmt: skip
    if since is not None:
        query = query.where(model_info.c.revision > since)
    return [
        IdentifiedModel(
            id=row.id,
            provider_id=row.provider_id,
            record=ModelRecord(
                key=row.key,
                provider_key=row.provider_key,
                **{name: getattr(row, name) for name in _MODEL_FIELDS},
            ),
            digest=row.digest,
        )
        for row in conn.execute(query)
    ]


def load_source_document(conn: Connection, *, version_id: int) -> JSONObject:
    """The source file of a version as stored: each model's original entry, then the extras
    (which hold the file's form of entries a model was read from, such as pointers)."""
    rows = conn.execute(
        select(model_info.c.key, model_info.c.source_entry).where(
            model_info.c.engine_version_id == version_id
        )
    )
    document: JSONObject = {row.key: row.source_entry for row in rows}
    document.update(get_version_extras(conn, version_id=version_id))
    return document
