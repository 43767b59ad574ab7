"""Synchronization: a registry-wide revision, per-row revisions and removal records.

Also redefines row digests as digests of the served documents; rows written before this
revision are rewritten by the next seed, which this migration forces by forgetting the
recorded source digests (re-run `budconnect seed <engine> --all` after upgrading).

Revision ID: 20261126_02
Revises: 20261126_01
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_02"
down_revision = "20261126_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("history_floor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry"),
        sa.CheckConstraint("id = 1", name="ck_registry_single_row"),
    )
    op.execute("INSERT INTO registry (id, revision, history_floor) VALUES (1, 0, 0)")
    for table in ("engine_version", "provider", "model_info"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
            )
    op.create_index(
        "ix_provider_engine_version_id_revision", "provider", ["engine_version_id", "revision"]
    )
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
    op.execute("UPDATE engine_version SET source_digest = '', parser_revision = 0")


def downgrade() -> None:
    op.drop_index("ix_removal_engine_version_id_revision", table_name="removal")
    op.drop_table("removal")
    op.drop_index("ix_model_info_engine_version_id_revision", table_name="model_info")
    op.drop_index("ix_provider_engine_version_id_revision", table_name="provider")
    for table in ("model_info", "provider", "engine_version"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("revision")
    op.drop_table("registry")
    op.execute("UPDATE engine_version SET source_digest = '', parser_revision = 0")
