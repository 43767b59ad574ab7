"""A model's history across every release held: what it cost, and when that changed.

The versions that hold a key are found through their memberships (entries are shared, so a
model unchanged across releases is one entry): consecutive versions holding the same entry
form a span, and the changes between spans are field by field. A version in between that
lacks the key ends a span too, and the next span names the versions it was absent from
(a model dropped from one release and back in the next is not "unchanged" through it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection

from budconnect.domain import identity
from budconnect.domain.documents import model_document
from budconnect.domain.records import JSONObject, ModelRecord
from budconnect.domain.versions import is_final, version_key
from budconnect.errors import NotFound, UnknownEngine
from budconnect.services.catalog import VersionRow
from budconnect.services.diffs import field_changes
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from budconnect.storage.membership import unpack


class UnknownModel(NotFound):
    title = "Unknown model"


class NoReleaseByDate(NotFound):
    title = "No release by that date"


@dataclass(frozen=True, slots=True)
class Appearance:
    """One version holding the key: the version row, and the entry it holds."""

    row: VersionRow
    entry_id: int
    record: ModelRecord
    # The versions since the previous appearance that did not hold the key (none before the
    # first appearance: a model is not absent from the releases before it came).
    absent_before: tuple[str, ...] = ()


def released(row: VersionRow) -> tuple[dt.datetime, str]:
    """When a version was released: the index's upload time, else first seen, else ingested."""
    if row.released_at is not None:
        return row.released_at, row.released_at_source or "index"
    return row.created_at, "ingested"


def appearances(db: Database, engine: str, key: str) -> list[Appearance]:
    """Every version of `engine` holding `key`, oldest first."""
    with db.read() as conn:
        if repo.get_engine(conn, key=engine) is None:
            raise _unknown_engine(conn, engine)
        records = repo.model_entries_by_key(conn, key=key)
        if not records:
            raise UnknownModel(f"no version of {engine} holds a model {key!r}")
        memberships = repo.model_memberships(conn, engine_key=engine)
        rows = {row.version: row for row in repo.list_versions(conn, engine_key=engine)}
    wanted = set(records)
    found: list[Appearance] = []
    absent: list[str] = []
    for version in sorted(memberships, key=version_key):
        held = wanted.intersection(unpack(memberships[version]))
        if held:
            entry_id = held.pop()
            found.append(Appearance(rows[version], entry_id, records[entry_id], tuple(absent)))
            absent = []
        elif found:
            absent.append(version)
    if not found:
        raise UnknownModel(f"no version of {engine} holds a model {key!r}")
    return found


def _document(engine: str, appearance: Appearance) -> JSONObject:
    record = appearance.record
    version = appearance.row.version
    document = model_document(
        record,
        identity.model_id(engine, version, record.key),
        identity.provider_id(engine, version, record.provider_key),
    )
    document["provider_type"] = record.provider_key
    return document


def _version(row: VersionRow) -> JSONObject:
    when, source = released(row)
    return {
        "engine_version": row.version,
        "released_at": when.isoformat(),
        "released_at_source": source,
        "final": is_final(row.version),
        "yanked": row.yanked_at is not None,
    }


def history(
    db: Database, engine: str, key: str, found: list[Appearance] | None = None
) -> JSONObject:
    """Spans of versions where the entry did not change, and what changed between them
    (from `found`, the model's appearances, when the caller has read them already)."""
    if found is None:
        found = appearances(db, engine, key)
    spans: list[JSONObject] = []
    previous: JSONObject | None = None
    for appearance in found:
        if spans and spans[-1]["_entry"] == appearance.entry_id and not appearance.absent_before:
            spans[-1]["last"] = _version(appearance.row)
            spans[-1]["versions"].append(appearance.row.version)
            continue
        document = _document(engine, appearance)
        comparable = {k: v for k, v in document.items() if k not in ("id", "provider_id")}
        changes = []
        if previous is not None:
            # Another entry: what changed in value, else how the file now writes the same.
            changes = field_changes(previous, comparable) or field_changes(
                previous, comparable, exact=True
            )
        spans.append(
            {
                "_entry": appearance.entry_id,
                "first": _version(appearance.row),
                "last": _version(appearance.row),
                "versions": [appearance.row.version],
                "absent_before": list(appearance.absent_before),
                "changes": changes,
                "model": comparable,
            }
        )
        previous = comparable
    for span in spans:
        del span["_entry"]
    return {
        "object": "model.history",
        "engine": engine,
        "uri": key,
        "version_count": len(found),
        "spans": spans,
    }


def at(db: Database, engine: str, key: str, date: dt.date) -> JSONObject:
    """The model's entry in the newest release (final, not yanked) on or before `date`."""
    with db.read() as conn:
        if repo.get_engine(conn, key=engine) is None:
            raise _unknown_engine(conn, engine)
        releases = [
            row
            for row in repo.list_versions(conn, engine_key=engine)
            if is_final(row.version) and row.yanked_at is None
        ]
    rows = [row for row in releases if released(row)[0].date() <= date]
    if not rows:
        first = min(releases, key=lambda r: released(r)[0], default=None)
        since = (
            f"; the first release this registry holds (final, not yanked) is {first.version}, "
            f"{released(first)[1]} {released(first)[0].date().isoformat()}"
            if first is not None
            else ""
        )
        raise NoReleaseByDate(
            f"no release of {engine} on or before {date.isoformat()}{since}",
            first_release=released(first)[0].date().isoformat() if first else None,
        )
    # Newest by version, as `latest` is: what `pip install` gave that day. A backport (a
    # patch of an older line uploaded after a newer release) is not the newest release.
    newest = max(rows, key=lambda r: version_key(r.version))
    for appearance in appearances(db, engine, key):
        if appearance.row.version == newest.version:
            return {
                "object": "model.at",
                "date": date.isoformat(),
                **_version(newest),
                "model": _document(engine, appearance),
            }
    raise UnknownModel(
        f"{key!r} was not in {engine} {newest.version}, the newest release on or before "
        f"{date.isoformat()}"
    )


def _unknown_engine(conn: Connection, engine: str) -> UnknownEngine:
    known = sorted(e.key for e in repo.list_engines(conn))
    return UnknownEngine(
        f"unknown engine {engine!r}; known engines: {', '.join(known) or 'none'}",
        known_engines=known,
    )
