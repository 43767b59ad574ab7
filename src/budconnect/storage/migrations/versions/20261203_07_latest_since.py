"""When each engine's `latest` came to name its version: the change feed of `latest` must not
answer a delta from before then (it would be a delta of another version).

Existing databases start from the current registry revision: a client following `latest`
with an older revision gets 410 once and fetches the catalog, as after any history it cannot
answer from.

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
    for (engine_id,) in bind.execute(sa.text("SELECT id FROM engine")).all():
        names = bind.execute(
            sa.text(
                "SELECT version FROM engine_version WHERE engine_id = :id AND yanked_at IS NULL"
            ),
            {"id": engine_id},
        ).scalars()
        bind.execute(
            sa.text(
                "UPDATE engine SET latest_version = :latest, latest_since = :revision "
                "WHERE id = :id"
            ),
            {"latest": newest(names), "revision": revision_now, "id": engine_id},
        )


def downgrade() -> None:
    op.drop_column("engine", "latest_since")  # SQLite: ALTER TABLE DROP COLUMN (3.35+)
    op.drop_column("engine", "latest_version")
