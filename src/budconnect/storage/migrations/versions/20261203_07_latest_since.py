"""When each engine's `latest` came to name its version: the change feed of `latest` must not
answer a delta from before then (it would be a delta of another version).

Where no version of an engine was ever yanked or unyanked, `latest` moved only when a newer
release came: it names its version since that version's own revision at the latest, and every
served byte stays as it was. Otherwise the move cannot be dated: the current registry revision
is taken, and a client following `latest` from an older revision gets 410 once and fetches
the catalog, as after any history the feed cannot answer from.

Revision ID: 20261203_07
Revises: 20261202_06
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from budconnect.domain.versions import newest

revision = "20261203_07"
down_revision = "20261202_06"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both backends: a batch (copy) of `engine` on SQLite would drop the
    # old table, and with it, by cascade, every version.
    op.add_column("engine", sa.Column("latest_version", sa.String(64), nullable=True))
    op.add_column(
        "engine", sa.Column("latest_since", sa.BigInteger(), nullable=False, server_default="0")
    )
    bind = op.get_bind()
    revision_now = bind.execute(sa.text("SELECT revision FROM registry")).scalar() or 0
    for engine_id, key in bind.execute(sa.text("SELECT id, key FROM engine")).all():
        rows = bind.execute(
            sa.text(
                "SELECT version, revision FROM engine_version "
                "WHERE engine_id = :id AND yanked_at IS NULL"
            ),
            {"id": engine_id},
        ).all()
        revisions = {row.version: row.revision for row in rows}
        latest = newest(revisions)
        yanks = bind.execute(
            sa.text(
                "SELECT count(*) FROM audit_log "
                "WHERE engine_key = :key AND action IN ('yank', 'unyank')"
            ),
            {"key": key},
        ).scalar()
        since = revision_now if yanks or latest is None else revisions[latest]
        bind.execute(
            sa.text(
                "UPDATE engine SET latest_version = :latest, latest_since = :since WHERE id = :id"
            ),
            {"latest": latest, "since": since, "id": engine_id},
        )


def downgrade() -> None:
    op.drop_column("engine", "latest_since")  # SQLite: ALTER TABLE DROP COLUMN (3.35+)
    op.drop_column("engine", "latest_version")
