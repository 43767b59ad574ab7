"""`GET /model/get-compatible-models`: the paged contract deployed BudServe clients poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from budconnect.api import bodies
from budconnect.api.conditional import encoded_response
from budconnect.api.deps import body_cache, cache_control, catalog, settings
from budconnect.api.responses import read_route
from budconnect.config import Settings
from budconnect.errors import InvalidInput
from budconnect.services.catalog import Catalog, check_page, combined_digest

router = APIRouter(tags=["compatibility"])


@read_route(router, "/model/get-compatible-models", 404, 422, 503)
async def get_compatible_models(
    request: Request,
    engine: str | None = Query(None, description="Engine key; omitted: every engine's newest."),
    engine_version: str | None = Query(None, description="Omitted or 'latest': the newest."),
    page: int = Query(1, description="1-based page of providers."),
    limit: int = Query(5, description="Providers per page, 1 to 100 (the server's maximum)."),
    service: Catalog = Depends(catalog),
    config: Settings = Depends(settings),
    cache: bodies.BodyCache = Depends(body_cache),
    control: str = Depends(cache_control),
) -> Response:
    """Providers of an engine version, each with all its models, paged by provider key.

    The ETag is the digest of the snapshot served; `If-None-Match` with it answers 304.
    """
    check_page(page, limit, config.max_page_limit)
    if engine is None and engine_version is not None:
        raise InvalidInput("engine_version needs engine: name the engine it is a version of")
    encoded = await run_in_threadpool(
        compat_page, service, cache, engine, engine_version, page, limit, control
    )
    return encoded_response(request, encoded)


def compat_page(
    service: Catalog,
    cache: bodies.BodyCache,
    engine: str | None,
    version: str | None,
    page: int,
    limit: int,
    control: str,
) -> bodies.Encoded:
    if engine is not None:
        snapshots = [service.snapshot(engine, version)]
        digest = snapshots[0].digest
        key: tuple[object, ...] = ("compat", digest, page, limit)
    else:
        # No engine: the newest version of every engine, as deployed clients expect.
        snapshots = [
            service.snapshot(view.key, None)
            for view in service.view().engines.values()
            if view.latest is not None
        ]
        digest = combined_digest((s.engine, s.version, s.digest) for s in snapshots)
        key = ("compat-all", digest, page, limit)
    found = cache.get(key)
    if found is None:
        content = bodies.compat_content(snapshots, page, limit, single=engine is not None)
        found = bodies.Encoded.build(content, digest, control)
        # Pages past the end are all alike and any number of them can be asked for: they are
        # built when asked, never kept.
        if content["items"]:
            cache.put(key, found)
    return found
