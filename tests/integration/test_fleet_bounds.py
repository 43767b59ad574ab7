"""The fleet table and each worker's pending reports are bounded: anyone who can poll can name
a deployment, and a flood of names must grow neither without end."""

from __future__ import annotations

import datetime as dt

from budconnect.api.fleet import FleetRecorder
from budconnect.services.fleet import deployments, record_reports
from budconnect.storage.database import Database

DAY = 86400.0


def report(name: str, seen: dt.datetime) -> dict[str, object]:
    return {
        "name": f"sync:{name}", "kind": "sync", "address": "10.0.0.1", "user_agent": "ua",
        "engine_key": "litellm", "follows": "latest", "version": None, "digest": None,
        "revision": None, "applied": None, "first_seen": seen, "last_seen": seen, "polls": 1,
    }  # fmt: skip


def test_deployments_not_seen_for_the_forget_interval_are_forgotten(db: Database) -> None:
    now = dt.datetime.now(dt.UTC)
    record_reports(db, [report("old", now - dt.timedelta(days=40)),
                        report("recent", now - dt.timedelta(days=2))], 30 * DAY)  # fmt: skip
    assert [row.name for row in deployments(db)] == ["sync:recent"]
    # Seen again in time, a deployment stays.
    record_reports(db, [report("recent", now)], 30 * DAY)
    assert [row.name for row in deployments(db)] == ["sync:recent"]
    assert deployments(db)[0].polls == 2


def test_beyond_the_most_held_the_least_recently_seen_are_forgotten(db: Database) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [report(f"d{i}", now - dt.timedelta(minutes=i)) for i in range(6)]
    record_reports(db, rows, 30 * DAY, keep=4)
    assert sorted(row.name for row in deployments(db)) == ["sync:d0", "sync:d1", "sync:d2",
                                                           "sync:d3"]  # fmt: skip


def test_a_worker_keeps_reports_of_at_most_so_many_deployments_between_writes() -> None:
    fleet = FleetRecorder(max_pending=3)

    def poll(name: str) -> None:
        fleet.saw([(b"x-budconnect-deployment", name.encode())], "10.0.0.1", "ua", "litellm",
                  "latest", None, first_page=False)  # fmt: skip

    for name in ("a", "b", "c", "d", "e"):
        poll(name)
    poll("a")  # a name already held still counts
    rows = {row["name"]: row["polls"] for row in fleet.drain()}
    assert rows == {"sync:a": 2, "sync:b": 1, "sync:c": 1}
    assert fleet.dropped == 2
    fleet.restore([report(n, dt.datetime.now(dt.UTC)) for n in "wxyz"])  # type: ignore[misc]
    assert len(fleet.drain()) == 3
    assert fleet.dropped == 3
