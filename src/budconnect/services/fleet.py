"""The fleet of deployments: what each reported holding, and how that compares with now."""

from __future__ import annotations

import datetime as dt

from budconnect.domain.records import JSONObject
from budconnect.storage import repository as repo
from budconnect.storage.database import Database

# The most deployments held: beyond it, the least recently seen are forgotten (anyone who can
# poll can name a deployment; a flood of names must not grow the table without end).
MAX_DEPLOYMENTS = 20_000


def record_reports(
    db: Database, rows: list[JSONObject], forget_after: float, keep: int = MAX_DEPLOYMENTS
) -> None:
    """Record reports, and forget deployments not seen for `forget_after` seconds (or beyond
    the `keep` most recently seen)."""
    seen_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=forget_after)
    with db.write() as conn:
        repo.upsert_deployments(conn, rows)
        repo.forget_deployments(conn, seen_before=seen_before, keep=keep)


def deployments(db: Database) -> list[repo.DeploymentRow]:
    with db.read() as conn:
        return repo.list_deployments(conn)
