"""`latest` names the newest final release: never a pre-release or a local version."""

from __future__ import annotations

import hashlib

from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import InProcess, source_bytes


def test_pre_releases_and_local_versions_are_held_but_never_latest(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    for version in ("1.15.0rc1", "1.14.4+test", "1.15.0.dev2"):
        seed(db, engine="litellm", version=version, raw=source_bytes("1.14.4"))
    with InProcess(db.url) as app:
        assert app.get("/v1/engines/litellm/versions/latest/catalog").json()["engine_version"] == (
            "1.14.4"
        )
        page = app.get("/model/get-compatible-models").json()  # no engine: newest of each
        assert {m["uri"] for p in page["items"] for m in p["models"]}
        assert app.get("/engines").json()["items"][0]["latest_version"] == "1.14.4"
        listed = app.get("/engines/litellm/versions").json()["items"]
        assert [v["version"] for v in listed] == [
            "1.15.0rc1",
            "1.15.0.dev2",
            "1.14.4+test",
            "1.14.4",
        ]
        assert [v["version"] for v in listed if v["latest"]] == ["1.14.4"]
        # Each stays fetchable by its exact name.
        for version in ("1.15.0rc1", "1.14.4+test"):
            answer = app.get(f"/v1/engines/litellm/versions/{version}/catalog")
            assert answer.json()["engine_version"] == version


def test_an_engine_with_only_pre_releases_has_no_latest(db: Database) -> None:
    seed(db, engine="litellm", version="2.0.0rc1", raw=source_bytes("1.14.4"))
    with InProcess(db.url) as app:
        answer = app.get("/v1/engines/litellm/versions/latest/catalog")
        assert answer.status_code == 404
        assert "no final release" in answer.json()["detail"]
        assert answer.json()["available_versions"] == ["2.0.0rc1"]


def test_versions_are_listed_with_where_they_came_from(db: Database) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    with InProcess(db.url) as app:
        listed = app.get("/v1/engines/litellm/versions").json()["items"]
        one = app.get("/v1/engines/litellm/versions/latest").json()
        assert listed == [one] == app.get("/engines/litellm/versions").json()["items"]
        assert one["version"] == "1.14.4"
        assert one["latest"] is True
        assert one["yanked"] is False
        assert one["provenance"]["origin"] == "file"
        assert one["provenance"]["released_at"] is None
        assert one["provenance"]["map_sha256"] == hashlib.sha256(source_bytes("1.14.4")).hexdigest()
        assert app.get("/v1/engines/litellm/versions/9.9.9").status_code == 404
