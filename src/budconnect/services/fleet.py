"""The fleet of deployments: what each reported holding, and how that compares with now."""

from __future__ import annotations

from budconnect.domain.records import JSONObject
from budconnect.storage import repository as repo
from budconnect.storage.database import Database


def record_reports(db: Database, rows: list[JSONObject]) -> None:
    with db.write() as conn:
        repo.upsert_deployments(conn, rows)


def deployments(db: Database) -> list[repo.DeploymentRow]:
    with db.read() as conn:
        return repo.list_deployments(conn)
