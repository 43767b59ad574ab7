"""Writes from operators over HTTP: publishing a version's source, yanking and unyanking.

Each goes through the same parser, gates and single transaction as `seed`, and each write is
recorded in the audit log in that same transaction: who (the admin token's name), from
where, when, what, the digest before and after, and whether the gates were overridden.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from budconnect.domain.records import JSONObject, Provenance
from budconnect.domain.versions import is_final, validate_engine_key, validate_version, version_key
from budconnect.errors import HeldBack, InvalidIdentifier, UnknownEngine, UnknownVersion
from budconnect.seeders import engine_format
from budconnect.services.catalog import Catalog
from budconnect.services.diffs import diff_snapshots
from budconnect.services.seeding import SeedResult, seed
from budconnect.services.snapshots import build_snapshot
from budconnect.storage import repository as repo
from budconnect.storage.database import Database


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes: the admin token's name, and the client's address."""

    name: str
    client: str


@dataclass(slots=True)
class Publication:
    result: SeedResult
    dry_run: bool
    # For a dry run: what would change against the version replaced (or the one before).
    compared_with: str | None = None
    diff: JSONObject | None = None
    # For a dry run the gates refuse: why. `result` and `diff` then say what forcing would do.
    held_back: HeldBack | None = None


def publish(
    db: Database,
    catalog: Catalog,
    *,
    engine: str,
    version: str,
    raw: bytes,
    actor: Actor,
    force: bool,
    dry_run: bool,
    history: int,
    max_bytes: int,
) -> Publication:
    """Publish (or replace) a version from its source file, or say what that would do."""
    validate_engine_key(engine)
    validate_version(version)
    if dry_run:
        return preview(
            db,
            catalog,
            engine=engine,
            version=version,
            raw=raw,
            force=force,
            history=history,
            max_bytes=max_bytes,
        )

    def audit(conn: Connection, result: SeedResult, before: str | None) -> None:
        record_audit_in(
            conn,
            actor,
            "publish",
            engine,
            version,
            before,
            result.content_digest,
            result.forced,
            {
                "created": result.created,
                "changed": result.changed,
                "models": _counts(result.models),
                "providers": _counts(result.providers),
            },
        )

    result = seed(
        db,
        engine=engine,
        version=version,
        raw=raw,
        history=history,
        force=force,
        max_bytes=max_bytes,
        provenance=Provenance(origin="publish"),
        on_applied=audit,
    )
    return Publication(result, False)


def preview(
    db: Database,
    catalog: Catalog,
    *,
    engine: str,
    version: str,
    raw: bytes,
    force: bool,
    history: int,
    max_bytes: int,
) -> Publication:
    """What publishing `raw` would do, written nowhere: the seed report and the diff against
    the version it replaces (or the one before). When the gates would hold it back, the
    publication says why, and what forcing would do: that is what an operator weighs before
    forcing. A source without a single model is refused outright (forcing cannot publish
    it), as one that does not parse."""
    held_back = None

    def dry(forced: bool) -> SeedResult:
        return seed(
            db,
            engine=engine,
            version=version,
            raw=raw,
            history=history,
            force=forced,
            max_bytes=max_bytes,
            dry_run=True,
        )

    try:
        result = dry(force)
    except HeldBack as exc:
        if not exc.extra.get("models"):
            raise
        held_back = exc
        result = dry(True)
    compared, diff = preview_diff(db, catalog, engine, version, raw)
    return Publication(result, True, compared, diff, held_back)


def set_yanked(
    db: Database,
    *,
    engine: str,
    version: str,
    yanked: bool,
    reason: str | None,
    actor: Actor,
    force: bool = False,
) -> repo.VersionRow:
    """Withdraw a version (never `latest`, left out of answers without an engine, still
    served by its exact name) or bring it back. Pollers see it at their next poll: the
    registry revision is raised. Yanking an engine's last final release is held back unless
    `force` (see `yank_in`)."""
    validate_engine_key(engine)
    if version.lower() == "latest":  # it names another version after the yank: say which
        raise InvalidIdentifier("'latest' is not a version: name the one to yank or unyank exactly")
    with db.write() as conn:
        return yank_in(
            conn, engine=engine, version=version, yanked=yanked, reason=reason, actor=actor,
            force=force, restate=True,
        )  # fmt: skip


# A yank reason is free text that reaches headers, terminals, logs and the audit log.
MAX_YANK_REASON = 500


def yank_reason(text: str | None) -> str | None:
    """`text` as a yank reason is kept: printable (control characters, NUL included, which
    PostgreSQL's text refuses, become spaces), on one line, at most MAX_YANK_REASON
    characters; None when nothing is left."""
    if not text:
        return None
    printable = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return printable[:MAX_YANK_REASON] or None


def yank_in(
    conn: Connection,
    *,
    engine: str,
    version: str,
    yanked: bool,
    reason: str | None,
    actor: Actor,
    force: bool = False,
    guarded: bool = True,
    restate: bool = False,
) -> repo.VersionRow:
    """`set_yanked` in a transaction the caller owns (the tracker yanks a release it ingests
    from a yanked release in the seed's own transaction: never `latest`, not for a moment).

    Yanking the engine's last final release that is not yanked is held back unless `force`:
    answers without an engine would then hold none of its models, and deployed BudServe
    clients delete whatever a sweep lacks (the gates refuse an empty publish for the same
    reason). `guarded=False` skips that check for a version no answer ever held (the tracker
    yanks a release in the transaction that ingests it): nothing is overridden, so the audit
    says forced only when the caller forced. `restate`: a yank of a version already yanked
    with another reason replaces the reason (an operator's correction; the tracker never
    overwrites an operator's reason with the index's)."""
    if repo.get_engine(conn, key=engine) is None:
        raise UnknownEngine(f"unknown engine {engine!r}")
    row = repo.get_version(conn, engine_key=engine, version=version)
    if row is None:
        raise UnknownVersion(f"unknown version {version!r} of engine {engine!r}")
    if (row.yanked_at is not None) == yanked:
        restated = yank_reason(reason) if yanked and restate else None
        if restated is None or restated == row.yank_reason:
            return row  # already so: nothing to write, nothing to audit
        # Yanked again with another reason: the reason is what pollers are told, so it is
        # replaced (and audited), the yank itself kept as it was.
        repo.update_version(conn, version_id=row.id, yank_reason=restated)
        repo.next_revision(conn)  # servers read the versions again (X-BudConnect-Yanked)
        details = {"reason": restated, "replaced_reason": row.yank_reason}
        digest = row.content_digest
        record_audit_in(conn, actor, "yank", engine, version, digest, digest, False, details)
        updated = repo.get_version(conn, engine_key=engine, version=version)
        assert updated is not None
        return updated
    if yanked and guarded and not force and is_final(version):
        others = [
            other.version
            for other in repo.list_versions(conn, engine_key=engine)
            if other.version != version and other.yanked_at is None and is_final(other.version)
        ]
        if not others:
            raise HeldBack(
                f"held back: {engine} {version} is its last final release that is not yanked; "
                "yanked, answers without an engine would hold none of its models, and "
                "BudServe deployments delete what a sweep lacks (force=true yanks it anyway)"
            )
    reason = yank_reason(reason)
    now = dt.datetime.now(dt.UTC)
    repo.update_version(
        conn,
        version_id=row.id,
        yanked_at=now if yanked else None,
        yank_reason=reason if yanked else None,
    )
    revision = repo.next_revision(conn)
    repo.note_latest(conn, engine_key=engine, revision=revision)
    record_audit_in(
        conn,
        actor,
        "yank" if yanked else "unyank",
        engine,
        version,
        row.content_digest,
        row.content_digest,
        force and yanked,
        {"reason": reason} if reason else {},
    )
    updated = repo.get_version(conn, engine_key=engine, version=version)
    assert updated is not None
    return updated


def preview_diff(
    db: Database, catalog: Catalog, engine: str, version: str, raw: bytes
) -> tuple[str | None, JSONObject | None]:
    """What seeding `raw` would change against the version it replaces (or the newest older
    one): (that version, the diff), or (None, None) when there is none."""
    fmt = engine_format(engine)
    parsed = fmt.parse(raw)
    new = build_snapshot(
        engine=engine,
        engine_name=fmt.name,
        version=version,
        revision=0,
        providers=parsed.providers,
        models=parsed.models,
        extras=parsed.extras,
    )
    with db.read() as conn:
        held = [row.version for row in repo.list_versions(conn, engine_key=engine)]
    compared: str | None = version
    if version not in held:
        older = [v for v in held if version_key(v) < version_key(version)]
        compared = max(older, key=version_key) if older else None
    if compared is None:
        return None, None
    return compared, diff_snapshots(catalog.snapshot(engine, compared), new)


def _counts(counts: Any) -> JSONObject:
    return {
        "inserted": counts.inserted,
        "updated": counts.updated,
        "removed": counts.removed,
        "unchanged": counts.unchanged,
    }


def record_audit_in(
    conn: Connection,
    actor: Actor,
    action: str,
    engine: str,
    version: str,
    before: str | None,
    after: str | None,
    forced: bool,
    detail: JSONObject,
) -> None:
    """An audit record of a write made in `conn`'s transaction (committed with it, or not at
    all): the tracker's own writes are audited as an operator's are."""
    repo.record_audit(
        conn,
        at=dt.datetime.now(dt.UTC),
        actor=actor.name,
        client=actor.client[:128],
        action=action,
        engine_key=engine,
        version=version,
        digest_before=before,
        digest_after=after,
        forced=forced,
        detail=detail,
    )


def audit_entries(db: Database, *, limit: int, before: int | None = None) -> list[repo.AuditEntry]:
    with db.read() as conn:
        return repo.list_audit(conn, limit=limit, before=before)


def audit_record(entry: repo.AuditEntry) -> JSONObject:
    """One audit entry as the admin API and `budconnect audit --json` show it."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "client": entry.client,
        "action": entry.action,
        "engine": entry.engine_key,
        "engine_version": entry.version,
        "digest_before": entry.digest_before,
        "digest_after": entry.digest_after,
        "forced": entry.forced,
        "detail": entry.detail,
    }
