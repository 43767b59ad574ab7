"""`/v1` synchronization endpoints: whole catalogs, change feeds, diffs, LiteLLM model maps."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from budconnect.api import bodies
from budconnect.api.conditional import EncodedResponse, encoded_response
from budconnect.api.deps import body_cache, cache_control, catalog
from budconnect.api.responses import JSONBytes, read_route
from budconnect.errors import NotFound
from budconnect.services.catalog import Catalog
from budconnect.services.diffs import diff_snapshots

router = APIRouter(prefix="/v1", tags=["sync"])


@read_route(router, "/engines/{engine}/versions/{version}/catalog", 404, 422, 503)
async def get_catalog(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    control: str = Depends(cache_control),
) -> Response:
    """Every provider of an engine version with every model, in one response.

    `version` may be `latest`. The strong ETag is the snapshot's content digest (also in the
    body as `digest`); `If-None-Match` with it answers 304. Gzipped when accepted.
    """
    snapshot = await run_in_threadpool(service.snapshot, engine, version)
    return encoded_response(request, bodies.catalog(snapshot, control))


@read_route(router, f"/engines/{{engine}}/versions/{{version}}/{bodies.LITELLM_MAP}", 404, 422, 503)
async def get_litellm_map(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    control: str = Depends(cache_control),
) -> Response:
    """The engine version in LiteLLM's own model-map format (for LITELLM_MODEL_COST_MAP_URL)."""
    if engine != "litellm":
        raise NotFound(f"the LiteLLM model map exists only for engine litellm, not {engine!r}")
    snapshot = await run_in_threadpool(service.snapshot, engine, version)
    return encoded_response(request, bodies.litellm_map(snapshot, control))


@read_route(router, "/engines/{engine}/versions/{version}/changes", 404, 410, 422, 503)
async def get_changes(
    request: Request,
    engine: str,
    version: str,
    since: int = Query(..., ge=0, le=2**62, description="Revision the client holds."),
    service: Catalog = Depends(catalog),
    control: str = Depends(cache_control),
) -> Response:
    """What changed in an engine version after revision `since`.

    Apply `removed` first, then `upserted`; the result has the content digest `digest`.
    `410 Gone` when `since` is older than the kept history: fetch the catalog instead.
    `If-None-Match` with the client's digest answers 304 when nothing changed.
    """
    if_none_match = request.headers.get("if-none-match")
    if if_none_match:
        row = await run_in_threadpool(service.resolve, engine, version)
        if bodies.etag_matches(if_none_match, row.content_digest):
            return EncodedResponse(304, b"", bodies.validators(row.content_digest, control))
    changes = await run_in_threadpool(service.changes, engine, version, since)
    response = JSONBytes(
        {
            "object": "changes",
            "engine": changes.engine,
            "engine_version": changes.version,
            "since": changes.since,
            "revision": changes.revision,
            "digest": changes.digest,
            "providers": {
                "removed": changes.providers_removed,
                "upserted": changes.providers_upserted,
            },
            "models": {"removed": changes.models_removed, "upserted": changes.models_upserted},
        }
    )
    response.raw_headers.extend(bodies.validators(changes.digest, control))
    return response


@read_route(router, "/engines/{engine}/diff", 404, 422, 503)
async def get_diff(
    request: Request,
    engine: str,
    from_version: str = Query(..., alias="from", min_length=1, description="Old version."),
    to_version: str = Query(..., alias="to", min_length=1, description="New version."),
    service: Catalog = Depends(catalog),
    cache: bodies.BodyCache = Depends(body_cache),
    control: str = Depends(cache_control),
) -> Response:
    """Providers and models added, removed and changed between two versions, field by field."""

    def build() -> bodies.Encoded:
        old = service.snapshot(engine, from_version)
        new = service.snapshot(engine, to_version)
        key = ("diff", old.digest, new.digest)
        found = cache.get(key)
        if found is None:
            digest = hashlib.sha256(f"diff\0{old.digest}\0{new.digest}".encode()).hexdigest()
            found = bodies.Encoded.build(diff_snapshots(old, new), digest, control)
            cache.put(key, found)
        return found

    return encoded_response(request, await run_in_threadpool(build))
