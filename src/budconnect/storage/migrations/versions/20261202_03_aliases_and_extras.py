"""Alias rows and extra top-level entries; scalar copies of model fields dropped.

A model names the key it is an alias of; a version keeps the source file's top-level entries
that are not models (documentation, metadata, unresolved aliases), so the engine's own format
is served back whole. The five scalar model columns copied fields that the row digest did not
cover; they are dropped rather than kept in step.

Rows written before this revision are re-derived from their stored source entries by the next
`budconnect migrate` or `budconnect serve` (the parser fingerprint no longer matches).

Revision ID: 20261202_03
Revises: 20261126_02
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261202_03"
down_revision = "20261126_02"
branch_labels = None
depends_on = None

_SCALARS = (
    ("max_input_tokens", sa.BigInteger()),
    ("max_output_tokens", sa.BigInteger()),
    ("max_tokens", sa.BigInteger()),
    ("input_cost_per_token", sa.Float()),
    ("output_cost_per_token", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("model_info") as batch:
        batch.add_column(sa.Column("alias_of", sa.String(512), nullable=True))
        for name, _ in _SCALARS:
            batch.drop_column(name)
    with op.batch_alter_table("engine_version") as batch:
        batch.add_column(sa.Column("extras", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("engine_version") as batch:
        batch.drop_column("extras")
    with op.batch_alter_table("model_info") as batch:
        batch.drop_column("alias_of")
        for name, type_ in _SCALARS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    # The older code reads those columns; its next seed of each version fills them again.
    op.execute("UPDATE engine_version SET source_digest = '', parser_revision = 0")
