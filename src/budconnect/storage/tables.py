"""The relational schema. Migrations create it; this module describes it for queries."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

# Named constraints make migrations reversible and diffs readable on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

engine = Table(
    "engine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

engine_version = Table(
    "engine_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("engine_id", ForeignKey("engine.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Changes only when a seed changes what the version serves.
    Column("seeded_at", DateTime(timezone=True), nullable=False),
    # sha256 of the source file's bytes, and a fingerprint of the parser revision, provider
    # metadata and wire format that turned them into rows: together they
    # let an unchanged re-seed stop before touching any row.
    Column("source_digest", String(64), nullable=False),
    Column("parser_revision", Integer, nullable=False),
    # sha256 of the canonical catalog this version serves; the ETag of its responses.
    Column("content_digest", String(64), nullable=False),
    Column("provider_count", Integer, nullable=False),
    Column("model_count", Integer, nullable=False),
    # Entries of the source file that were skipped or repaired, with the reasons.
    Column("issues", JSON, nullable=False),
    # The registry revision of the last seed that changed this version.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    # The source file's top-level entries that are not models, by key.
    Column("extras", JSON, nullable=False, server_default="{}"),
    UniqueConstraint("engine_id", "version"),
)

provider = Table(
    "provider",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "engine_version_id",
        ForeignKey("engine_version.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(128), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("icon", String(300), nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("credentials", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("engine_version_id", "key"),
    Index(None, "engine_version_id", "revision"),
)

model_info = Table(
    "model_info",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "engine_version_id",
        ForeignKey("engine_version.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("provider_id", ForeignKey("provider.id", ondelete="CASCADE"), nullable=False),
    # The model key exactly as in the source file; case-sensitive.
    Column("key", String(512), nullable=False),
    # The key an alias row names; the row's fields are those of the model it resolves to.
    Column("alias_of", String(512)),
    Column("mode", String(64)),
    Column("modality", JSON, nullable=False),
    Column("endpoints", JSON, nullable=False),
    Column("deprecation_date", Date),
    Column("input_cost", JSON),
    Column("output_cost", JSON),
    Column("cache_cost", JSON),
    Column("search_context_cost_per_query", JSON),
    Column("tokens", JSON),
    Column("rate_limits", JSON),
    Column("media_limits", JSON),
    Column("features", JSON),
    # The complete entry of the source file, so nothing the engine published is lost.
    Column("source_entry", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("engine_version_id", "key"),
    Index(None, "provider_id"),
    Index(None, "engine_version_id", "revision"),
)

# One row: the registry-wide revision, raised by every seed that changes anything, and the
# oldest revision the change feed can still answer from (removals before it are pruned).
registry = Table(
    "registry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("history_floor", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# What the change feed needs to tell clients that a row is gone.
removal = Table(
    "removal",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column(
        "engine_version_id",
        ForeignKey("engine_version.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("revision", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("row_id", Uuid, nullable=False),
    Column("key", String(512), nullable=False),
    CheckConstraint("kind IN ('provider', 'model')", name="kind"),
    Index(None, "engine_version_id", "revision"),
)
