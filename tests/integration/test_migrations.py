"""Migrations build the schema, and every one of them can be reverted."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect

from budconnect.services.seeding import rederive_stale, seed, seed_bundled
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.migrate import current_revision, downgrade, head_revision, upgrade
from budconnect.storage.tables import metadata
from tests.conftest import InProcess, source_bytes, source_models


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


# --- upgrading a database written by the previous schema ------------------------------------

FIXTURE = Path(__file__).parent.parent / "data" / "registry_at_schema_03.json.gz"
_UUID = {
    ("provider", "id"),
    ("model_info", "id"),
    ("model_info", "provider_id"),
    ("removal", "row_id"),
}
_TIMES = {"created_at", "seeded_at"}
_DATES = {"deprecation_date"}
_JSON = {
    "issues", "extras", "capabilities", "credentials", "modality", "endpoints", "input_cost",
    "output_cost", "cache_cost", "search_context_cost_per_query", "tokens", "rate_limits",
    "media_limits", "features", "source_entry",
}  # fmt: skip


def _typed(table: str, name: str) -> Any:
    if (table, name) in _UUID:
        return sa.column(name, sa.Uuid())
    if name in _TIMES:
        return sa.column(name, sa.DateTime(timezone=True))
    if name in _DATES:
        return sa.column(name, sa.Date())
    if name in _JSON:
        return sa.column(name, sa.JSON())
    return sa.column(name)


def _value(table: str, name: str, value: Any) -> Any:
    if value is None:
        return None
    if (table, name) in _UUID:
        return uuid.UUID(value)
    if name in _TIMES:
        return dt.datetime.fromisoformat(value)
    if name in _DATES:
        return dt.date.fromisoformat(value)
    return value


def test_a_database_written_at_schema_03_serves_every_byte_as_before(database_url: str) -> None:
    """The fixture holds every row of a registry seeded by BudConnect at schema 03 (bundled
    and changed versions, an alias version, a pre-release, a removal) and the sha256 and
    ETag of every body that BudConnect served from it. Upgraded, it serves the same bytes."""
    fixture = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    db = Database(database_url)
    upgrade(db.engine, "20261202_03")
    with db.engine.begin() as conn:
        for name in ("engine", "engine_version", "provider", "model_info", "removal"):
            rows = fixture["tables"][name]
            table = sa.table(name, *(_typed(name, column) for column in rows[0]))
            conn.execute(
                sa.insert(table), [{k: _value(name, k, v) for k, v in row.items()} for row in rows]
            )
        [state] = fixture["tables"]["registry"]
        conn.execute(
            sa.text("UPDATE registry SET revision = :r, history_floor = :f"),
            {"r": state["revision"], "f": state["history_floor"]},
        )
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()
    db.dispose()

    with InProcess(database_url) as app:
        for path, expected in fixture["served"].items():
            answer = app.get(path, headers={"accept-encoding": "identity"})
            assert answer.status_code == 200, path
            assert hashlib.sha256(answer.content).hexdigest() == expected["sha256"], path
            assert answer.headers["etag"] == expected["etag"], path
        # The change feed restarts at the current revision: older ones fetch the catalog.
        revision = fixture["tables"]["registry"][0]["revision"]
        changes = "/v1/engines/litellm/versions/1.14.4/changes?since={}"
        assert app.get(changes.format(revision)).json()["models"]["upserted"] == []
        assert app.get(changes.format(revision - 1)).status_code == 410
        # What each version held at the upgrade is known: the next change is a proper delta.
        document = json.loads(
            app.get(
                "/v1/engines/litellm/versions/1.14.4/model_prices_and_context_window.json"
            ).content
        )
        gone = next(key for key in document if key != "sample_spec")
        del document[gone]
        db = Database(database_url)
        seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
        db.dispose()
        app.polls.catalog.refresh()
        delta = app.get(changes.format(revision)).json()
        assert [m["uri"] for m in delta["models"]["removed"]] == [gone]
        assert delta["models"]["upserted"] == []


def test_the_upgrade_reverts_and_reapplies_without_changing_a_byte(db: Database) -> None:
    for version in ("1.14.4", "1.60.9"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    paths = [
        f"/v1/engines/litellm/versions/{v}/{leaf}"
        for v in ("1.14.4", "1.60.9")
        for leaf in ("catalog", "model_prices_and_context_window.json")
    ]

    def served() -> list[bytes]:
        with InProcess(db.url) as app:
            return [app.get(path).content for path in paths]

    before = served()
    for target in ("20261202_04", "20261202_03"):
        downgrade(db.engine, target)
        upgrade(db.engine)
        assert served() == before
    # The version states came through too: a change gives a proper delta.
    with db.read() as conn:
        revision = repo.registry_state(conn)[0]
    document = json.loads(source_bytes("1.60.9"))
    del document["gpt-4"]
    seed(db, engine="litellm", version="1.60.9", raw=json.dumps(document).encode())
    with InProcess(db.url) as app:
        delta = app.get(f"/v1/engines/litellm/versions/1.60.9/changes?since={revision}").json()
    assert [m["uri"] for m in delta["models"]["removed"]] == ["gpt-4"]


@pytest.mark.parametrize("target", ["20261202_03", "20261126_02"])
def test_bundled_versions_get_their_release_dates_back_after_a_schema_without_them(
    db: Database, target: str
) -> None:
    """A schema without provenance forgets it: going back and forward again leaves every
    version `file`, with no date. A seed of the bundled files gives them back, so histories
    at a date answer again."""
    versions = ["1.14.4", "1.60.9"]
    seed_bundled(db, engine="litellm", versions=versions)

    def provenance() -> dict[str, tuple[str, Any, Any]]:
        with db.read() as conn:
            rows = repo.list_versions(conn, engine_key="litellm")
        return {r.version: (r.origin, r.released_at, r.released_at_source) for r in rows}

    before = provenance()
    assert {origin for origin, *_ in before.values()} == {"bundled"}
    assert all(released is not None for _, released, _ in before.values())
    downgrade(db.engine, target)
    upgrade(db.engine)
    rederive_stale(db)
    assert {origin for origin, *_ in provenance().values()} == {"file"}
    seed_bundled(db, engine="litellm", versions=versions)
    assert provenance() == before
    with InProcess(db.url) as app:
        at = app.get("/v1/engines/litellm/models/gpt-4/history", params={"at": "2025-03-01"})
    assert (at.status_code, at.json()["engine_version"]) == (200, "1.60.9"), at.text


@pytest.mark.parametrize("target", ["20261126_02", "20261126_01"])
def test_going_back_to_the_oldest_schemas_keeps_every_model(db: Database, target: str) -> None:
    """SQLite rebuilds a table to drop a column; with foreign keys on, dropping the old
    `engine_version` took every provider and model along. (What the older schema has no
    column for, extras and revisions, is gone: a seed of the file brings extras back.)"""
    for version in ("1.14.4", "1.60.9"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    path = "/v1/engines/litellm/versions/1.60.9/catalog"
    with InProcess(db.url) as app:
        before = app.get(path).json()
    downgrade(db.engine, target)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM model_info").scalar_one() == sum(
            len(source_models(v)) for v in ("1.14.4", "1.60.9")
        )
    upgrade(db.engine)
    rederive_stale(db)
    with InProcess(db.url) as app:
        after = app.get(path).json()
    for name in ("providers", "model_count", "provider_count"):
        assert after[name] == before[name], name


def test_the_latest_move_is_dated_by_the_release_unless_a_yank_may_have_moved_it(
    db: Database,
) -> None:
    """Migration 07 dates when `latest` came to name its version: by that version's own
    revision where only new releases could have moved it (every served byte stays), by the
    registry's revision where a yank or unyank may have (410 once, then the catalog)."""
    from budconnect.services.publishing import Actor, set_yanked

    for version in ("1.14.4", "1.60.9"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    downgrade(db.engine, "20261202_06")
    upgrade(db.engine)
    with db.read() as conn:
        found = repo.get_engine(conn, key="litellm")
        newest = repo.get_version(conn, engine_key="litellm", version="1.60.9")
    assert found is not None
    assert newest is not None
    assert (found.latest_version, found.latest_since) == ("1.60.9", newest.revision)

    set_yanked(db, engine="litellm", version="1.60.9", yanked=True, reason=None,
               actor=Actor("ops", "127.0.0.1"))  # fmt: skip
    set_yanked(db, engine="litellm", version="1.60.9", yanked=False, reason=None,
               actor=Actor("ops", "127.0.0.1"))  # fmt: skip
    downgrade(db.engine, "20261202_06")
    upgrade(db.engine)
    with db.read() as conn:
        found = repo.get_engine(conn, key="litellm")
        registry_revision, _ = repo.registry_state(conn)
    assert found is not None
    assert (found.latest_version, found.latest_since) == ("1.60.9", registry_revision)
    assert registry_revision > newest.revision
