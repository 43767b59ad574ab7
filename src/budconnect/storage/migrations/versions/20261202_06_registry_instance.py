"""The registry's instance: a random name given to each database when it is made.

Seeding keeps the entry ids of the version it wrote last (see `storage.known_entries`); the
instance tells it whether a database is the one those ids came from, or another one (made
again, or restored from elsewhere) at the same address.

Revision ID: 20261202_06
Revises: 20261202_05
Create Date: 2026-12-02
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "20261202_06"
down_revision = "20261202_05"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry") as batch:
        batch.add_column(sa.Column("instance", sa.String(32), nullable=True))
    op.get_bind().execute(
        sa.text("UPDATE registry SET instance = :instance"), {"instance": uuid.uuid4().hex}
    )
    with op.batch_alter_table("registry") as batch:
        batch.alter_column("instance", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("registry") as batch:
        batch.drop_column("instance")
