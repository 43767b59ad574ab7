"""The relational schema. Migrations create it; this module describes it for queries."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    # The version `latest` names, and the registry revision at which it came to name it (a
    # publish of a newer release, a yank or an unyank): the change feed of `latest` cannot
    # answer a delta from before then, which would be a delta of another version.
    Column("latest_version", String(64), nullable=True),
    Column("latest_since", BigInteger, nullable=False, server_default="0"),
)

# Row ids that count up on every backend (SQLite's INTEGER PRIMARY KEY is its rowid).
_ID = BigInteger().with_variant(Integer(), "sqlite")

engine_version = Table(
    "engine_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("engine_id", ForeignKey("engine.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(64), nullable=False),
    # When BudConnect first ingested the version.
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Changes only when a seed changes what the version serves.
    Column("seeded_at", DateTime(timezone=True), nullable=False),
    # sha256 of the source file's bytes (the model map), and a fingerprint of the parser
    # revision, provider metadata and wire format that turned them into entries: together they
    # let an unchanged re-seed stop before touching anything.
    Column("source_digest", String(64), nullable=False),
    Column("parser_revision", Integer, nullable=False),
    # sha256 of the canonical catalog this version serves; the ETag of its responses.
    Column("content_digest", String(64), nullable=False),
    Column("provider_count", Integer, nullable=False),
    Column("model_count", Integer, nullable=False),
    # The registry revision of the last seed that changed this version.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    # What the version holds: packed sets of entry ids (see storage/membership.py).
    Column("providers", LargeBinary, nullable=False),
    Column("models", LargeBinary, nullable=False),
    # The source file's top-level entries that are not models, and the entries the parser
    # skipped or repaired with the reasons: documents shared by every version that has them.
    Column("extras_id", ForeignKey("document.id"), nullable=False),
    Column("issues_id", ForeignKey("document.id"), nullable=False),
    # Where the version came from: "bundled", "file", "index" (a release on a package index)
    # or "publish" (PUT over HTTP); for a release, when the index says it was uploaded (or,
    # marked "first-seen", when BudConnect first saw it), and the wheel it came in.
    Column("origin", String(16), nullable=False, server_default="file"),
    Column("released_at", DateTime(timezone=True)),
    Column("released_at_source", String(16)),
    Column("wheel_filename", String(300)),
    Column("wheel_sha256", String(64)),
    # Withdrawn versions are never `latest` but stay fetchable by name.
    Column("yanked_at", DateTime(timezone=True)),
    Column("yank_reason", Text),
    UniqueConstraint("engine_id", "version"),
    CheckConstraint(
        "released_at_source IS NULL OR released_at_source IN ('index', 'first-seen')",
        name="released_at_source",
    ),
)

# Content-addressed entries: one row per distinct content, shared by every version holding
# it, so a version costs only what changed in it. Ids are per engine version by design
# (UUIDv5 of engine, version and key) and are derived when a version is read, not stored.
provider_entry = Table(
    "provider_entry",
    metadata,
    Column("id", _ID, primary_key=True),
    # sha256 of the canonical JSON of the entry's content (storage/entries.py).
    Column("digest", String(64), nullable=False, unique=True),
    Column("key", String(128), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("icon", String(300), nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("credentials", JSON, nullable=False),
)

model_entry = Table(
    "model_entry",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    # The model key exactly as in the source file; case-sensitive.
    Column("key", String(512), nullable=False),
    Column("provider_key", String(128), nullable=False),
    # The key an alias row names; the entry's fields are those of the model it resolves to.
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
    Index(None, "key"),
)

# Any JSON value stored once by digest: a version's extras and its issue list.
document = Table(
    "document",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("body", JSON, nullable=False),
)

# One row: the registry-wide revision, raised by every seed that changes anything, and the
# oldest revision the change feed can still answer from (older states are pruned).
registry = Table(
    "registry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("history_floor", BigInteger, nullable=False),
    # A random name per database, given when it is made (see storage.known_entries).
    Column("instance", String(32), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# What a version held after each seed that changed it: the change feed answers "since R"
# by comparing the version's state at R with its state now.
version_state = Table(
    "version_state",
    metadata,
    Column("id", _ID, primary_key=True),
    Column(
        "engine_version_id",
        ForeignKey("engine_version.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("revision", BigInteger, nullable=False),
    Column("providers", LargeBinary, nullable=False),
    Column("models", LargeBinary, nullable=False),
    Column("extras_id", ForeignKey("document.id"), nullable=False),
    Index(None, "engine_version_id", "revision"),
)

# Releases the tracker looked at and did not ingest (no model map, a hash mismatch, held back
# by the gates), so that it does not fetch them again at every poll.
release_note = Table(
    "release_note",
    metadata,
    Column("engine_key", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("wheel_filename", String(300)),
    Column("noted_at", DateTime(timezone=True), nullable=False),
)

# Every write over HTTP: who (the admin token's name), when, what, the digest before and
# after, and whether the gates were overridden.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("client", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("engine_key", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("digest_before", String(64)),
    Column("digest_after", String(64)),
    Column("forced", Boolean, nullable=False),
    Column("detail", JSON, nullable=False),
    CheckConstraint("action IN ('publish', 'yank', 'unyank')", name="action"),
    Index(None, "at"),
)

# What each deployment last reported holding (sync clients send it with their polls) or, for
# deployed BudServe clients, which send no identity, what each address and user agent swept.
deployment = Table(
    "deployment",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("address", String(128), nullable=False),
    Column("user_agent", String(300), nullable=False),
    Column("engine_key", String(64)),
    # What it follows ("latest", a version, or null: the newest of every engine) and holds.
    Column("follows", String(64)),
    Column("version", String(64)),
    Column("digest", String(64)),
    Column("revision", BigInteger),
    Column("applied", Boolean),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("polls", BigInteger, nullable=False),
    CheckConstraint("kind IN ('sync', 'budserve')", name="kind"),
)
