"""Bundled versions: where they came from and when each release was made."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from budconnect.services.seeding import seed_bundled
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from tests.conftest import VERSIONS, source_bytes


def _versions(db: Database) -> dict[str, repo.VersionRow]:
    with db.read() as conn:
        return {r.version: r for r in repo.list_versions(conn, engine_key="litellm")}


def test_every_bundled_version_carries_the_date_its_release_was_uploaded(db: Database) -> None:
    """So that a model's history has real dates on a fresh install, not the minute it was
    installed: a bundled version without one fails here."""
    seed_bundled(db, engine="litellm")
    rows = _versions(db)
    assert sorted(rows) == sorted(VERSIONS)
    for version, row in rows.items():
        assert (row.origin, row.released_at_source) == ("bundled", "index"), version
    # LiteLLM uploads its releases in version order; the oldest bundled one is of 2023-12-14.
    dates = [rows[v].released_at for v in VERSIONS]
    assert dates == sorted(dates)
    assert rows["1.14.4"].released_at == dt.datetime(2023, 12, 14, 22, 33, 11, 172357, dt.UTC)


def test_a_date_shipped_later_fills_in_a_version_seeded_without_one(
    db: Database, tmp_path: Path
) -> None:
    data = tmp_path / "litellm"
    data.mkdir()
    (data / "1.14.4.json").write_bytes(source_bytes("1.14.4"))
    [first] = seed_bundled(db, engine="litellm", data_dir=tmp_path)
    assert _versions(db)["1.14.4"].released_at is None

    (data / "release-dates.toml").write_text(
        '"1.14.4" = 2023-12-14T22:33:11Z\n"9.9.9" = "not a date"\n'
    )
    [again] = seed_bundled(db, engine="litellm", data_dir=tmp_path)
    assert again.provenance_added
    assert not again.changed
    assert again.content_digest == first.content_digest
    row = _versions(db)["1.14.4"]
    assert (row.released_at, row.released_at_source) == (
        dt.datetime(2023, 12, 14, 22, 33, 11, tzinfo=dt.UTC),
        "index",
    )
    # Recorded once: the next seed finds nothing to do.
    assert not seed_bundled(db, engine="litellm", data_dir=tmp_path)[0].provenance_added
