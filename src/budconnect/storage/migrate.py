"""Schema upgrades through Alembic, run from code (no alembic.ini needed)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from budconnect.errors import InvalidInput, SchemaOutOfDate
from budconnect.storage.database import unavailable_as_error

_SCRIPTS = Path(__file__).parent / "migrations"
# PostgreSQL: one process migrates at a time; others wait, then find nothing to do.
_MIGRATION_LOCK_KEY = 0x42554444


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


@functools.cache  # the scripts ship with the code: read once, not on every readiness probe
def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with unavailable_as_error(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (`base`: no schema at all)."""
    _run(engine, command.downgrade, revision)


def migrate_to(engine: Engine, revision: str) -> str:
    """Move the schema forward or back to `revision` (`head`, `base`, or a revision id);
    returns "upgrade", "downgrade" or "unchanged".

    Raises InvalidInput for a revision the migrations do not know."""
    script = ScriptDirectory.from_config(_config())
    wanted: str | None  # None: base, no schema
    if revision == "head":
        wanted = head_revision()
    elif revision == "base":
        wanted = None
    else:
        try:
            # Alembic reads "" as no revision at all (and asserts on it).
            found = script.get_revision(revision) if revision.strip() else None
        except (CommandError, ResolutionError):
            found = None
        if found is None:
            known = ", ".join(r.revision for r in reversed(list(script.walk_revisions())))
            raise InvalidInput(f"unknown revision {revision!r}: use head, base or one of {known}")
        wanted = found.revision
    current = current_revision(engine)
    if wanted == current:
        return "unchanged"
    # Back when the target is base or an ancestor of the current revision, else forward.
    if current is not None and (
        wanted is None
        or any(r.revision == wanted for r in script.iterate_revisions(current, "base"))
    ):
        downgrade(engine, wanted or "base")
        return "downgrade"
    upgrade(engine, wanted or "head")
    return "upgrade"


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = _config()
    # A migration writes, so it takes the write lock up front (SQLite: BEGIN IMMEDIATE), and
    # PostgreSQL migrators queue on an advisory lock: two processes starting on an empty
    # database wait for each other instead of failing.
    with unavailable_as_error(), engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one; with foreign keys
            # on, the drop cascades to every row that refers to it (all the models, when
            # `engine_version` is rebuilt). Off during the migration, outside its
            # transaction (SQLite ignores the pragma inside one), and checked before commit.
            _driver(conn).execute("PRAGMA foreign_keys=OFF")
        try:
            conn = conn.execution_options(budconnect_write=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
                config.attributes["connection"] = conn
                step(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"migration left rows without their parent: {broken[:5]}"
                        )
        finally:
            if sqlite:
                _driver(conn).execute("PRAGMA foreign_keys=ON")


def _driver(conn: Connection) -> Any:
    """The DBAPI connection under `conn`, for what must run outside any transaction."""
    return conn.connection.driver_connection


def ensure_schema(engine: Engine) -> bool:
    """Migrate an empty database; refuse one whose schema is at another revision.

    Upgrading a database that already holds data is an operator's decision (`budconnect
    migrate`), not a side effect of starting a server. Returns True when it migrated.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return False
    if current is None:
        upgrade(engine)
        return True
    raise SchemaOutOfDate(
        f"database schema is at revision {current}, this version of BudConnect needs {head}; "
        "run `budconnect migrate`"
    )
