"""Writes and operator reads: publish a version's source, yank and unyank, the audit log.

Every route here needs an admin token; writes are rate-limited per client; a refused request
(401, 403, 413, 415, 422, 429) writes nothing.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, Response

from budconnect.api import web
from budconnect.api.auth import Forbidden, Unauthorized, require
from budconnect.api.blocking import Blocking
from budconnect.api.deps import blocking, catalog, settings
from budconnect.api.engines import version_info
from budconnect.api.fleet import fleet_entries, fleet_summary, flush_fleet
from budconnect.api.queries import only_parameters
from budconnect.api.ratelimit import RateLimit
from budconnect.api.responses import JSONBytes, problem_responses
from budconnect.config import Settings
from budconnect.domain.records import JSONObject
from budconnect.errors import BudConnectError, ClientGone, InvalidParameters, InvalidSourceFile
from budconnect.services.catalog import Catalog
from budconnect.services.fleet import deployments
from budconnect.services.publishing import (
    Actor,
    audit_entries,
    audit_record,
    publish,
    set_yanked,
)
from budconnect.services.seeding import SeedResult

router = APIRouter(tags=["admin"])


class PayloadTooLarge(BudConnectError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(BudConnectError):
    status = 415
    title = "Unsupported media type"


def admin(request: Request) -> Actor:
    """The admin token's name and the client, or a 401/403 problem. A bearer token only: a
    password a browser saved for the fleet page is sent with requests other sites start,
    and a write must not be one of them."""
    name = _admitted(request, what="writing", basic=False)
    return Actor(name, request.client.host if request.client else "unknown")


def admin_reader(request: Request) -> str:
    """The admin token's name, for the admin reads (audit log, fleet), or a 401/403 problem."""
    return _admitted(request, what="the admin API")


def _admitted(request: Request, *, what: str, basic: bool = True) -> str:
    """The admin token's name; a request refused for its token is charged to the client's
    write allowance, so that guessing tokens is slowed down (429) like writing."""
    try:
        return require(request.app.state.admin_tokens, request, what=what,
                       readers=request.app.state.read_tokens, basic=basic)  # fmt: skip
    except (Unauthorized, Forbidden):
        _write_allowance(request)
        raise


def _write_allowance(request: Request) -> None:
    limit: RateLimit = request.app.state.write_limit
    limit.take(request.client.host if request.client else "unknown")


async def _json_body(request: Request, limit: int, *, required: bool) -> bytes:
    """The request body, read no further than `limit` bytes, and only as JSON (UTF-8): a
    body of another stated type is refused before it is read."""
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"the body is {coding}-encoded; send it without a content coding (the size limit "
            "counts the bytes parsed)"
        )
    stated = request.headers.get("content-type", "")
    media, _, parameters = stated.partition(";")
    media = media.strip().lower()
    if media or required:
        _check_json_type(media, parameters)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"the body is {int(length):,} bytes, more than {limit:,}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is more than {limit:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nothing was written and nobody reads the answer: a 499, not a server error.
        raise ClientGone("the client closed the connection before sending its whole body") from None
    body = b"".join(chunks)
    if not body and not required:
        return body
    _check_json_type(media, parameters)
    if not body:
        raise InvalidSourceFile("the body is empty: send the engine's model map as JSON")
    return body


def _check_json_type(media: str, parameters: str) -> None:
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {media or 'of no stated type'}"
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"JSON is UTF-8 (RFC 8259): charset={charset} is not taken; send UTF-8"
            )


def seed_report(result: SeedResult) -> dict[str, Any]:
    def counts(c: Any) -> dict[str, int]:
        return {
            "inserted": c.inserted,
            "updated": c.updated,
            "removed": c.removed,
            "unchanged": c.unchanged,
        }

    return {
        "engine": result.engine,
        "engine_version": result.version,
        "created": result.created,
        "changed": result.changed,
        "forced": result.forced,
        "digest": result.content_digest,
        "revision": result.revision,
        "providers": counts(result.providers),
        "models": counts(result.models),
        "extras_changed": result.extras_changed,
        "issues": [{"key": i.key, "action": i.action, "reason": i.reason} for i in result.issues],
    }


@router.put(
    "/v1/engines/{engine}/versions/{version}/source",
    responses=problem_responses(401, 403, 404, 413, 415, 422, 429, 503),
    dependencies=[Depends(only_parameters("dry_run", "force"))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The engine's model map, e.g. LiteLLM's "
            "model_prices_and_context_window.json.",
        }
    },
)
async def put_source(
    request: Request,
    engine: str,
    version: str,
    dry_run: bool = Query(False, description="Answer the report and diff; write nothing."),
    force: bool = Query(False, description="Publish what the gates hold back (recorded)."),
    actor: Actor = Depends(admin),
    service: Catalog = Depends(catalog),
    config: Settings = Depends(settings),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """Publish (or replace) an engine version from its source file, through the same parser,
    gates and single transaction as `budconnect seed`. Answers the seed report; with
    `dry_run=true`, also the diff against the version it would replace (or the one before)."""
    _write_allowance(request)
    raw = await _json_body(request, config.max_source_bytes, required=True)
    publication = await bounded.run(
        None,
        publish,
        service.db,
        service,
        engine=engine,
        version=version,
        raw=raw,
        actor=actor,
        force=force,
        dry_run=dry_run,
        history=config.change_history,
        max_bytes=config.max_source_bytes,
        timeout=write_wait(config),
        write=not dry_run,
    )
    report = {"object": "seed", "dry_run": dry_run, **seed_report(publication.result)}
    if dry_run:
        report["compared_with"] = publication.compared_with
        report["diff"] = publication.diff
    if publication.held_back is not None:
        # The status the real request would get (422), with what forcing it would do.
        refused = publication.held_back
        refused.extra["if_forced"] = report
        raise refused
    if not dry_run:
        service.refresh_soon()
    status = 201 if publication.result.created and not dry_run else 200
    return JSONBytes(report, status_code=status)


def write_wait(config: Settings) -> float:
    """How long a write may take before it is answered 503: a publish of a large map on a
    loaded database takes seconds, far past the wait that suits a read."""
    return max(60.0, config.database_wait)


async def _yank(
    request: Request,
    engine: str,
    version: str,
    yanked: bool,
    actor: Actor,
    service: Catalog,
    force: bool = False,
) -> Response:
    _write_allowance(request)
    reason = None
    if yanked:
        body = await _json_body(request, 64 * 1024, required=False)
        if body:
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidParameters.one("body", f"not JSON: {exc}", "body") from None
            if not isinstance(document, dict):
                raise InvalidParameters.one("body", 'must be an object: {"reason": "..."}', "body")
            unknown = sorted(document.keys() - {"reason"})
            if unknown:
                raise InvalidParameters.one(
                    unknown[0], "unknown field; the body takes: reason", "body"
                )
            reason = document.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise InvalidParameters.one("reason", "must be a string", "body")
    bounded: Blocking = request.app.state.blocking
    row = await bounded.run(
        None,
        set_yanked,
        service.db,
        engine=engine,
        version=version,
        yanked=yanked,
        reason=reason,
        actor=actor,
        force=force,
        timeout=write_wait(request.app.state.settings),
        write=True,
    )
    view = await bounded.run(None, service.refresh)
    return JSONBytes(version_info(row, view.engine(engine).latest))


@router.post(
    "/v1/engines/{engine}/versions/{version}/yank",
    responses=problem_responses(401, 403, 404, 415, 422, 429, 503),
    dependencies=[Depends(only_parameters("force"))],
)
async def yank(
    request: Request,
    engine: str,
    version: str,
    force: bool = Query(
        False, description="Yank the engine's last final release too (recorded as forced)."
    ),
    actor: Actor = Depends(admin),
    service: Catalog = Depends(catalog),
) -> Response:
    """Withdraw a version: never `latest`, left out of answers without an engine, still
    served by its exact name. Optional JSON body: {"reason": "..."}. The engine's last final
    release is held back (422) unless `force=true`: yanked, BudServe deployments sweeping
    without an engine would delete its every model."""
    return await _yank(request, engine, version, True, actor, service, force)


@router.post(
    "/v1/engines/{engine}/versions/{version}/unyank",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
    dependencies=[Depends(only_parameters())],
)
async def unyank(
    request: Request,
    engine: str,
    version: str,
    actor: Actor = Depends(admin),
    service: Catalog = Depends(catalog),
) -> Response:
    """Bring a yanked version back."""
    return await _yank(request, engine, version, False, actor, service)


@router.get(
    "/v1/admin/audit",
    responses=problem_responses(401, 403, 422, 503),
    dependencies=[Depends(only_parameters("limit", "before"))],
)
async def get_audit(
    limit: int = Query(100, ge=1, le=1000, description="Entries, newest first."),
    before: int | None = Query(
        None, ge=1, le=2**63 - 1, description="Only entries older than this id."
    ),
    _: str = Depends(admin_reader),
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """Every write, newest first: who (token name), when, what, digests, forced or not."""
    entries = await bounded.run(None, audit_entries, service.db, limit=limit, before=before)
    return JSONBytes(
        {
            "items": [audit_record(e) for e in entries],
            "next_before": entries[-1].id if len(entries) == limit else None,
        }
    )


@router.get(
    "/v1/fleet",
    responses=problem_responses(401, 403, 422, 503),
    dependencies=[Depends(only_parameters())],
)
async def get_fleet(
    request: Request,
    _: str = Depends(admin_reader),
    service: Catalog = Depends(catalog),
    config: Settings = Depends(settings),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """Every deployment heard from: last seen, what it follows and holds, whether that is the
    current digest of what it follows, how far behind, and whether it is stale (not seen for
    `BUDCONNECT_FLEET_STALE_SECONDS`). Sync clients report themselves; deployed BudServe
    clients, which send no identity, are counted by address and User-Agent."""
    items = await _fleet(request, service, config, bounded)
    return JSONBytes({"summary": fleet_summary(items), "items": items})


async def _fleet(
    request: Request, service: Catalog, config: Settings, bounded: Blocking
) -> list[JSONObject]:
    """Every deployment, with this worker's reports written first."""

    def read() -> tuple[list[Any], Any]:
        flush_fleet(request.app.state.fleet, service.db, config.fleet_forget_seconds)
        return deployments(service.db), service.view()

    rows, view = await bounded.run(None, read)
    return fleet_entries(rows, view, config.fleet_stale_seconds)


@router.get(
    "/fleet",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(only_parameters())],
)
async def fleet_page(
    request: Request,
    _: str = Depends(admin_reader),
    service: Catalog = Depends(catalog),
    config: Settings = Depends(settings),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """`GET /v1/fleet` for people: the browser asks for the admin token as a password."""
    items = await _fleet(request, service, config, bounded)
    items.sort(key=lambda i: (not i["stale"], i["current"], i["name"]))  # trouble first
    page = web.render("fleet.html", summary=fleet_summary(items), items=items,
                      stale_after=config.fleet_stale_seconds)  # fmt: skip
    page.headers["cache-control"] = "no-store"  # what an admin sees is not to be kept
    return page
