"""Registry core: engines, engine versions, providers and models.

Revision ID: 20261126_01
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engine"),
        sa.UniqueConstraint("key", name="uq_engine_key"),
    )
    op.create_table(
        "engine_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engine_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seeded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_digest", sa.String(64), nullable=False),
        sa.Column("parser_revision", sa.Integer(), nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("provider_count", sa.Integer(), nullable=False),
        sa.Column("model_count", sa.Integer(), nullable=False),
        sa.Column("issues", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["engine_id"],
            ["engine.id"],
            name="fk_engine_version_engine_id_engine",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_engine_version"),
        sa.UniqueConstraint("engine_id", "version", name="uq_engine_version_engine_id_version"),
    )
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
        sa.ForeignKeyConstraint(
            ["engine_version_id"],
            ["engine_version.id"],
            name="fk_provider_engine_version_id_engine_version",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_provider"),
        sa.UniqueConstraint("engine_version_id", "key", name="uq_provider_engine_version_id_key"),
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
        sa.Column("max_input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("max_output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("max_tokens", sa.BigInteger(), nullable=True),
        sa.Column("input_cost_per_token", sa.Float(), nullable=True),
        sa.Column("output_cost_per_token", sa.Float(), nullable=True),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        sa.Column("input_cost", sa.JSON(), nullable=True),
        sa.Column("output_cost", sa.JSON(), nullable=True),
        sa.Column("cache_cost", sa.JSON(), nullable=True),
        sa.Column("search_context_cost_per_query", sa.JSON(), nullable=True),
        sa.Column("tokens", sa.JSON(), nullable=True),
        sa.Column("rate_limits", sa.JSON(), nullable=True),
        sa.Column("media_limits", sa.JSON(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=True),
        sa.Column("source_entry", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
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


def downgrade() -> None:
    op.drop_index("ix_model_info_provider_id", table_name="model_info")
    op.drop_table("model_info")
    op.drop_table("provider")
    op.drop_table("engine_version")
    op.drop_table("engine")
