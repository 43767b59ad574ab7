"""Fleet status: what every deployment reports holding, gathered from its polls.

The sync client sends, with every poll, its deployment name and what it holds (engine
version, digest, revision, whether its last apply succeeded) in `X-BudConnect-*` headers.
Deployed BudServe clients send no identity: their sweeps (page 1 of compatible-models) are
counted by address and User-Agent instead. Each worker aggregates in memory and writes one
batch per `BUDCONNECT_FLEET_FLUSH_SECONDS`: no database write per poll.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from budconnect.api.negotiation import Headers, digest_of_etag
from budconnect.domain.records import JSONObject
from budconnect.errors import BudConnectError
from budconnect.metrics import FLEET_REPORTS_DROPPED
from budconnect.services.catalog import RegistryView
from budconnect.services.fleet import record_reports
from budconnect.storage.database import Database

DEPLOYMENT = b"x-budconnect-deployment"
FOLLOWS = b"x-budconnect-follows"
HELD_VERSION = b"x-budconnect-engine-version"
HELD_DIGEST = b"x-budconnect-digest"
HELD_REVISION = b"x-budconnect-revision"
APPLIED = b"x-budconnect-applied"
_WANTED = frozenset({DEPLOYMENT, FOLLOWS, HELD_VERSION, HELD_DIGEST, HELD_REVISION, APPLIED})


def _is_revision(text: str) -> bool:
    """Decimal digits that fit the column (a header is anyone's to write: `²` is a digit to
    `str.isdigit`, and 20 digits overflow a BIGINT and would fail the whole batch)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _text(value: bytes, limit: int) -> str:
    return value.decode("latin-1")[:limit]


# The most deployments one worker holds reports of between two flushes (and while the
# database is down): a flood of made-up names is dropped beyond it, known names still count.
MAX_PENDING = 10_000


class FleetRecorder:
    """Reports of this worker not written yet, one per deployment (the latest wins)."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._pending: dict[str, JSONObject] = {}
        self._lock = threading.Lock()
        self.max_pending = max_pending
        self.dropped = 0  # reports of new names refused for room

    def saw(
        self,
        request_headers: list[tuple[bytes, bytes]],
        address: str,
        user_agent: str,
        engine: str | None,
        version: str | None,
        answer_headers: Headers | None,
        first_page: bool,
    ) -> None:
        """Note one poll: a sync client's report, or a BudServe sweep's first page."""
        if not first_page and not any(name == DEPLOYMENT for name, _ in request_headers):
            return  # most polls: nothing to note
        found = {name: value for name, value in request_headers if name in _WANTED}
        now = dt.datetime.now(dt.UTC)
        if DEPLOYMENT in found:
            revision = _text(found.get(HELD_REVISION, b""), 20)
            applied = _text(found.get(APPLIED, b""), 10).lower()
            self._put(
                {
                    "name": "sync:" + _text(found[DEPLOYMENT], 190),
                    "kind": "sync",
                    "address": address[:128],
                    "user_agent": user_agent[:300],
                    "engine_key": engine,
                    "follows": _text(found.get(FOLLOWS, b""), 64) or version or "latest",
                    "version": _text(found.get(HELD_VERSION, b""), 64) or None,
                    "digest": _text(found.get(HELD_DIGEST, b""), 64) or None,
                    "revision": int(revision) if _is_revision(revision) else None,
                    "applied": {"ok": True, "failed": False}.get(applied),
                    "first_seen": now,
                    "last_seen": now,
                    "polls": 1,
                }
            )
        elif first_page and answer_headers is not None:
            etag = next((v for n, v in answer_headers if n == b"etag"), b"")
            self._put(
                {
                    "name": f"budserve:{address}:{user_agent}"[:200],
                    "kind": "budserve",
                    "address": address[:128],
                    "user_agent": user_agent[:300],
                    "engine_key": engine,
                    "follows": version,
                    "version": None,
                    "digest": digest_of_etag(etag.decode("latin-1")) or None,
                    "revision": None,
                    "applied": None,
                    "first_seen": now,
                    "last_seen": now,
                    "polls": 1,
                }
            )

    def _put(self, row: JSONObject) -> None:
        with self._lock:
            previous = self._pending.get(row["name"])
            if previous is not None:
                row["polls"] += previous["polls"]
                row["first_seen"] = previous["first_seen"]
            elif len(self._pending) >= self.max_pending:
                self.dropped += 1
                FLEET_REPORTS_DROPPED.inc()
                return
            self._pending[row["name"]] = row

    def drain(self) -> list[JSONObject]:
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
        return rows

    def restore(self, rows: list[JSONObject]) -> None:
        """Put back rows a flush could not write (the database is down): not lost."""
        with self._lock:
            for row in rows:
                newer = self._pending.get(row["name"])
                if newer is not None:
                    newer["polls"] += row["polls"]
                    newer["first_seen"] = row["first_seen"]
                elif len(self._pending) < self.max_pending:
                    self._pending[row["name"]] = row
                else:
                    self.dropped += 1
                    FLEET_REPORTS_DROPPED.inc()


def fleet_entries(rows: list[Any], view: RegistryView, stale_after: float) -> list[JSONObject]:
    """Every deployment as `GET /v1/fleet` shows it, against the registry's `view`."""
    items = []
    for row in rows:
        current = None
        try:
            if row.engine_key is None:
                current = {"digest": view.everything_digest, "revision": view.revision,
                           "seeded_at": None}  # fmt: skip
            else:
                found = view.resolve(row.engine_key, row.follows)
                current = {
                    "digest": found.content_digest,
                    "revision": found.revision,
                    "seeded_at": found.seeded_at.isoformat(),
                }
        except BudConnectError:
            current = None  # it follows something this registry does not hold
        items.append(fleet_entry(row, current, stale_after))
    return items


def fleet_summary(items: list[JSONObject]) -> dict[str, int]:
    """How many deployments there are, and how many are current, behind, stale, failing."""
    return {
        "deployments": len(items),
        "current": sum(1 for i in items if i["current"]),
        "behind": sum(1 for i in items if i["behind"]),
        "stale": sum(1 for i in items if i["stale"]),
        "failing": sum(1 for i in items if i["last_apply_ok"] is False),
    }


def fleet_entry(row: Any, current: JSONObject | None, stale_after: float) -> JSONObject:
    """One deployment as `GET /v1/fleet` shows it. `current`: its version's state now."""
    now = dt.datetime.now(dt.UTC)
    seen_ago = (now - row.last_seen).total_seconds()
    current_digest = current["digest"] if current else None
    entry: JSONObject = {
        "name": row.name.split(":", 1)[1] if row.kind == "sync" else row.name,
        "kind": row.kind,
        "address": row.address,
        "user_agent": row.user_agent,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "seconds_since_seen": round(seen_ago),
        "stale": seen_ago > stale_after,
        "polls": row.polls,
        "engine": row.engine_key,
        "follows": row.follows,
        "engine_version": row.version,
        "digest": row.digest,
        "last_apply_ok": row.applied,
        "current_digest": current_digest,
        "current": row.digest is not None and row.digest == current_digest,
        "behind": None,
    }
    if current and row.digest is not None and row.digest != current_digest:
        entry["behind"] = {
            "revisions": current["revision"] - row.revision if row.revision is not None else None,
            "since": current["seeded_at"],
        }
    return entry


def flush_fleet(fleet: FleetRecorder, database: Database, forget_after: float) -> None:
    """Write what this worker heard from pollers since the last flush, in one transaction
    (which forgets deployments not seen for `forget_after` seconds)."""
    rows = fleet.drain()
    if not rows:
        return
    try:
        record_reports(database, rows, forget_after)
    except Exception:
        fleet.restore(rows)
        raise
