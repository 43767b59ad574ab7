"""Operations: an audit log of writes, yank reasons, and the fleet of deployments.

Revision ID: 20261202_05
Revises: 20261202_04
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261202_05"
down_revision = "20261202_04"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("engine_version") as batch:
        batch.add_column(sa.Column("yank_reason", sa.Text(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("engine_key", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest_before", sa.String(64), nullable=True),
        sa.Column("digest_after", sa.String(64), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint("action IN ('publish', 'yank', 'unyank')", name="ck_audit_log_action"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "deployment",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=False),
        sa.Column("engine_key", sa.String(64), nullable=True),
        sa.Column("follows", sa.String(64), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("polls", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('sync', 'budserve')", name="ck_deployment_kind"),
        sa.PrimaryKeyConstraint("name", name="pk_deployment"),
    )


def downgrade() -> None:
    op.drop_table("deployment")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    # On SQLite, dropping a column recreates engine_version, and dropping the old table
    # would cascade to version_state: its rows are kept aside and put back.
    bind = op.get_bind()
    states = [dict(row._mapping) for row in bind.execute(sa.text("SELECT * FROM version_state"))]
    bind.execute(sa.text("DELETE FROM version_state"))
    with op.batch_alter_table("engine_version") as batch:
        batch.drop_column("yank_reason")
    if states:
        table = sa.table("version_state", *(sa.column(name) for name in states[0]))
        bind.execute(sa.insert(table), states)
