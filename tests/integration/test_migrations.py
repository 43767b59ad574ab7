"""Migrations build the schema, and every one of them can be reverted."""

from __future__ import annotations

from sqlalchemy import inspect

from budconnect.storage.database import Database
from budconnect.storage.migrate import current_revision, downgrade, head_revision, upgrade
from budconnect.storage.tables import metadata


def test_upgrade_builds_every_table_and_downgrade_removes_them(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()
    assert set(metadata.tables) <= set(inspect(db.engine).get_table_names())

    downgrade(db.engine, "base")
    assert current_revision(db.engine) is None
    assert not set(metadata.tables) & set(inspect(db.engine).get_table_names())

    upgrade(db.engine)  # and back again: the downgrade left nothing behind that blocks it
    assert current_revision(db.engine) == head_revision()
    db.dispose()


def test_the_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    inspector = inspect(db.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint":
                assert tuple(c.name for c in constraint.columns) in uniques
    db.dispose()
