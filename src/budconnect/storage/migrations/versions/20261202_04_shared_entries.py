"""Storage that grows with change: content-addressed entries shared by versions.

Providers and models become entries stored once per distinct content (`provider_entry`,
`model_entry`); a version holds packed sets of entry ids, and its extras and issue list are
documents stored once by digest. The change feed answers from `version_state`, what each
version held after each seed that changed it. Versions also record where they came from
(origin, release time, wheel) and whether they are yanked; `release_note` remembers releases
the tracker looked at and did not ingest.

Every version serves the same bytes, ids and digests after the upgrade as before it. The
history of per-row revisions and removals cannot be carried over (the content rows had
before their last change is not stored), so the change feed restarts at the current
revision: a client holding an older revision gets 410 and fetches the catalog once.

This migration uses BudConnect's own entry digests and membership encoding
(`budconnect.storage.entries`, `budconnect.storage.membership`); those must keep reading
what they wrote.

Revision ID: 20261202_04
Revises: 20261202_03
Create Date: 2026-12-02
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from budconnect.domain import identity
from budconnect.domain.documents import document_digest, model_document, provider_document
from budconnect.domain.records import ModelRecord, ProviderRecord
from budconnect.storage import entries
from budconnect.storage.membership import pack, unpack

revision = "20261202_04"
down_revision = "20261202_03"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BUCKETS = (
    "input_cost", "output_cost", "cache_cost", "search_context_cost_per_query", "tokens",
    "rate_limits", "media_limits", "features",
)  # fmt: skip


def _json(value: Any) -> Any:
    # Raw SQL hands JSON back as text on SQLite, parsed on PostgreSQL.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "document",
        sa.Column("id", _ID, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_document"),
        sa.UniqueConstraint("digest", name="uq_document_digest"),
    )
    op.create_table(
        "provider_entry",
        sa.Column("id", _ID, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon", sa.String(300), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_entry"),
        sa.UniqueConstraint("digest", name="uq_provider_entry_digest"),
    )
    op.create_table(
        "model_entry",
        sa.Column("id", _ID, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("provider_key", sa.String(128), nullable=False),
        sa.Column("alias_of", sa.String(512), nullable=True),
        sa.Column("mode", sa.String(64), nullable=True),
        sa.Column("modality", sa.JSON(), nullable=False),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        *(sa.Column(name, sa.JSON(), nullable=True) for name in _BUCKETS),
        sa.Column("source_entry", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_entry"),
        sa.UniqueConstraint("digest", name="uq_model_entry_digest"),
    )
    op.create_index("ix_model_entry_key", "model_entry", ["key"])
    with op.batch_alter_table("engine_version") as batch:
        batch.add_column(sa.Column("providers", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("models", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("extras_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("issues_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="file"))
        batch.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("released_at_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("wheel_filename", sa.String(300), nullable=True))
        batch.add_column(sa.Column("wheel_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("yanked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "release_note",
        sa.Column("engine_key", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("wheel_filename", sa.String(300), nullable=True),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("engine_key", "version", name="pk_release_note"),
    )

    states = _move_rows_to_entries(bind)

    op.drop_table("removal")
    op.drop_table("model_info")
    op.drop_table("provider")
    with op.batch_alter_table("engine_version") as batch:
        batch.drop_column("extras")
        batch.drop_column("issues")
        batch.alter_column("providers", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("models", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("extras_id", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("issues_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_foreign_key(
            "fk_engine_version_extras_id_document", "document", ["extras_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_engine_version_issues_id_document", "document", ["issues_id"], ["id"]
        )
        batch.create_check_constraint(
            "ck_engine_version_released_at_source",
            "released_at_source IS NULL OR released_at_source IN ('index', 'first-seen')",
        )
    # Created only now: on SQLite, reshaping engine_version above recreates it, and dropping
    # the old table would cascade to rows that point at it.
    op.create_table(
        "version_state",
        sa.Column("id", _ID, nullable=False),
        sa.Column("engine_version_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("providers", sa.LargeBinary(), nullable=False),
        sa.Column("models", sa.LargeBinary(), nullable=False),
        sa.Column("extras_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["engine_version_id"],
            ["engine_version.id"],
            name="fk_version_state_engine_version_id_engine_version",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["extras_id"], ["document.id"], name="fk_version_state_extras_id_document"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_version_state"),
    )
    op.create_index(
        "ix_version_state_engine_version_id_revision",
        "version_state",
        ["engine_version_id", "revision"],
    )

    if states:
        bind.execute(
            sa.text(
                "INSERT INTO version_state (engine_version_id, revision, providers, models, "
                "extras_id) VALUES (:v, :r, :p, :m, :x)"
            ),
            states,
        )
    op.execute("UPDATE registry SET history_floor = revision")


def _document_id(bind: sa.Connection, body: Any) -> int:
    digest = entries.digest_of(body)
    found = bind.execute(
        sa.text("SELECT id FROM document WHERE digest = :d"), {"d": digest}
    ).scalar()
    if found is None:
        bind.execute(
            sa.text("INSERT INTO document (digest, body) VALUES (:d, :b)"),
            {"d": digest, "b": orjson.dumps(body).decode()},
        )
        found = bind.execute(
            sa.text("SELECT id FROM document WHERE digest = :d"), {"d": digest}
        ).scalar_one()
    return int(found)


def _entry_id(bind: sa.Connection, table: str, digest: str, values: dict[str, Any]) -> int:
    found = bind.execute(
        sa.text(f"SELECT id FROM {table} WHERE digest = :digest"), {"digest": digest}
    ).scalar()
    if found is not None:
        return int(found)
    stored = {
        name: orjson.dumps(value).decode()
        if name in entries.JSON_MODEL_FIELDS or name in ("capabilities", "credentials")
        else value
        for name, value in values.items()
    }
    columns = ", ".join(["digest", *stored])
    params = ", ".join([":digest", *(f":{name}" for name in stored)])
    bind.execute(
        sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), {"digest": digest, **stored}
    )
    return int(
        bind.execute(
            sa.text(f"SELECT id FROM {table} WHERE digest = :digest"), {"digest": digest}
        ).scalar_one()
    )


def _move_rows_to_entries(bind: sa.Connection) -> list[dict[str, Any]]:
    """Store every version's rows as entries; returns the version states to record."""
    states = []
    versions = bind.execute(
        sa.text("SELECT id, revision, extras, issues FROM engine_version ORDER BY id")
    ).all()
    for version in versions:
        provider_ids = []
        for row in bind.execute(
            sa.text(
                "SELECT key, name, description, icon, capabilities, credentials FROM provider "
                "WHERE engine_version_id = :v"
            ),
            {"v": version.id},
        ):
            record = ProviderRecord(
                key=row.key,
                name=row.name,
                description=row.description,
                icon=row.icon,
                capabilities=_json(row.capabilities),
                credentials=_json(row.credentials),
            )
            values = entries.provider_values(record)
            provider_ids.append(
                _entry_id(bind, "provider_entry", entries.provider_digest(record), values)
            )
        model_ids = []
        for row in bind.execute(
            sa.text(
                "SELECT m.key, p.key AS provider_key, m.alias_of, m.mode, m.modality, "
                "m.endpoints, m.deprecation_date, m.input_cost, m.output_cost, m.cache_cost, "
                "m.search_context_cost_per_query, m.tokens, m.rate_limits, m.media_limits, "
                "m.features, m.source_entry FROM model_info m JOIN provider p "
                "ON p.id = m.provider_id WHERE m.engine_version_id = :v"
            ),
            {"v": version.id},
        ):
            model = ModelRecord(
                key=row.key,
                provider_key=row.provider_key,
                alias_of=row.alias_of,
                mode=row.mode,
                modality=_json(row.modality),
                endpoints=_json(row.endpoints),
                deprecation_date=_date(row.deprecation_date),
                **{name: _json(getattr(row, name)) for name in _BUCKETS},
                source_entry=_json(row.source_entry),
            )
            values = entries.model_values(model)
            model_ids.append(_entry_id(bind, "model_entry", entries.model_digest(model), values))
        extras_id = _document_id(bind, _json(version.extras))
        issues_id = _document_id(bind, _json(version.issues))
        providers, models = pack(provider_ids), pack(model_ids)
        bind.execute(
            sa.text(
                "UPDATE engine_version SET providers = :p, models = :m, extras_id = :x, "
                "issues_id = :i WHERE id = :v"
            ),
            {"p": providers, "m": models, "x": extras_id, "i": issues_id, "v": version.id},
        )
        states.append(
            {"v": version.id, "r": version.revision, "p": providers, "m": models, "x": extras_id}
        )
    return states


def downgrade() -> None:
    bind = op.get_bind()
    # Read everything first: on SQLite, reshaping engine_version recreates it, and dropping
    # the old table would cascade to rows that point at it.
    rows = _entries_as_rows(bind)
    op.drop_index("ix_version_state_engine_version_id_revision", table_name="version_state")
    op.drop_table("version_state")
    with op.batch_alter_table("engine_version") as batch:
        batch.drop_constraint("ck_engine_version_released_at_source", type_="check")
        batch.drop_constraint("fk_engine_version_extras_id_document", type_="foreignkey")
        batch.drop_constraint("fk_engine_version_issues_id_document", type_="foreignkey")
        for name in (
            "providers", "models", "extras_id", "issues_id", "origin", "released_at",
            "released_at_source", "wheel_filename", "wheel_sha256", "yanked_at",
        ):  # fmt: skip
            batch.drop_column(name)
        batch.add_column(sa.Column("extras", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("issues", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "provider",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("engine_version_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon", sa.String(300), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["engine_version_id"],
            ["engine_version.id"],
            name="fk_provider_engine_version_id_engine_version",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_provider"),
        sa.UniqueConstraint("engine_version_id", "key", name="uq_provider_engine_version_id_key"),
    )
    op.create_index(
        "ix_provider_engine_version_id_revision", "provider", ["engine_version_id", "revision"]
    )
    op.create_table(
        "model_info",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("engine_version_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("mode", sa.String(64), nullable=True),
        sa.Column("modality", sa.JSON(), nullable=False),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        *(sa.Column(name, sa.JSON(), nullable=True) for name in _BUCKETS),
        sa.Column("source_entry", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("alias_of", sa.String(512), nullable=True),
        sa.ForeignKeyConstraint(
            ["engine_version_id"],
            ["engine_version.id"],
            name="fk_model_info_engine_version_id_engine_version",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name="fk_model_info_provider_id_provider",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_info"),
        sa.UniqueConstraint("engine_version_id", "key", name="uq_model_info_engine_version_id_key"),
    )
    op.create_index("ix_model_info_provider_id", "model_info", ["provider_id"])
    op.create_index(
        "ix_model_info_engine_version_id_revision", "model_info", ["engine_version_id", "revision"]
    )
    op.create_table(
        "removal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("engine_version_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("row_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.ForeignKeyConstraint(
            ["engine_version_id"],
            ["engine_version.id"],
            name="fk_removal_engine_version_id_engine_version",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_removal"),
        sa.CheckConstraint("kind IN ('provider', 'model')", name="ck_removal_kind"),
    )
    op.create_index(
        "ix_removal_engine_version_id_revision", "removal", ["engine_version_id", "revision"]
    )
    _insert_rows(bind, rows)
    op.drop_table("release_note")
    op.drop_index("ix_model_entry_key", table_name="model_entry")
    op.drop_table("model_entry")
    op.drop_table("provider_entry")
    op.drop_table("document")
    op.execute("UPDATE registry SET history_floor = revision")


class _Rows:
    # A plain class: Alembic loads this module outside sys.modules, where dataclasses fail.
    def __init__(self) -> None:
        self.providers: list[dict[str, Any]] = []
        self.models: list[dict[str, Any]] = []
        self.documents: dict[int, tuple[Any, Any]] = {}  # version id -> (extras, issues)


def _entries_as_rows(bind: sa.Connection) -> _Rows:
    """Every version's entries as the rows of the previous schema (ids and digests derived)."""
    rows = _Rows()
    versions = bind.execute(
        sa.text(
            "SELECT v.id, v.version, v.revision, v.providers, v.models, v.extras_id, "
            "v.issues_id, e.key AS engine FROM engine_version v JOIN engine e "
            "ON e.id = v.engine_id"
        )
    ).all()
    for version in versions:
        pids: dict[str, uuid.UUID] = {}
        for provider_id in unpack(bytes(version.providers)):
            row = bind.execute(
                sa.text("SELECT * FROM provider_entry WHERE id = :i"), {"i": provider_id}
            ).one()
            record = ProviderRecord(
                key=row.key,
                name=row.name,
                description=row.description,
                icon=row.icon,
                capabilities=_json(row.capabilities),
                credentials=_json(row.credentials),
            )
            pid = pids[record.key] = identity.provider_id(version.engine, version.version, row.key)
            rows.providers.append(
                {
                    "id": pid,
                    "engine_version_id": version.id,
                    "digest": document_digest(provider_document(record, pid)),
                    "revision": version.revision,
                    **entries.provider_values(record),
                }
            )
        for model_id in unpack(bytes(version.models)):
            row = bind.execute(
                sa.text("SELECT * FROM model_entry WHERE id = :i"), {"i": model_id}
            ).one()
            model = ModelRecord(
                key=row.key,
                provider_key=row.provider_key,
                alias_of=row.alias_of,
                mode=row.mode,
                modality=_json(row.modality),
                endpoints=_json(row.endpoints),
                deprecation_date=_date(row.deprecation_date),
                **{name: _json(getattr(row, name)) for name in _BUCKETS},
                source_entry=_json(row.source_entry),
            )
            mid = identity.model_id(version.engine, version.version, model.key)
            pid = pids[model.provider_key]
            values = entries.model_values(model)
            del values["provider_key"]
            rows.models.append(
                {
                    "id": mid,
                    "engine_version_id": version.id,
                    "provider_id": pid,
                    "digest": document_digest(model_document(model, mid, pid)),
                    "revision": version.revision,
                    **values,
                }
            )
        bodies = [
            _json(
                bind.execute(
                    sa.text("SELECT body FROM document WHERE id = :i"), {"i": document_id}
                ).scalar_one()
            )
            for document_id in (version.extras_id, version.issues_id)
        ]
        rows.documents[version.id] = (bodies[0], bodies[1])
    return rows


def _insert_rows(bind: sa.Connection, rows: _Rows) -> None:
    provider_table = sa.table(
        "provider",
        sa.column("id", sa.Uuid()),
        *(sa.column(n) for n in ("engine_version_id", "digest", "revision")),
        *(sa.column(n) for n in ("key", "name", "description", "icon")),
        sa.column("capabilities", sa.JSON()),
        sa.column("credentials", sa.JSON()),
    )
    model_table = sa.table(
        "model_info",
        sa.column("id", sa.Uuid()),
        sa.column("provider_id", sa.Uuid()),
        *(sa.column(n) for n in ("engine_version_id", "digest")),
        *(sa.column(n) for n in ("revision", "key", "alias_of", "mode")),
        sa.column("deprecation_date", sa.Date()),
        *(sa.column(n, sa.JSON()) for n in ("modality", "endpoints", "source_entry", *_BUCKETS)),
    )
    if rows.providers:
        bind.execute(sa.insert(provider_table), rows.providers)
    if rows.models:
        bind.execute(sa.insert(model_table), rows.models)
    for version_id, (extras, issues) in rows.documents.items():
        bind.execute(
            sa.text("UPDATE engine_version SET extras = :x, issues = :i WHERE id = :v"),
            {
                "x": orjson.dumps(extras).decode(),
                "i": orjson.dumps(issues).decode(),
                "v": version_id,
            },
        )
