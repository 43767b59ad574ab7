"""`GET /model/get-compatible-models`: the paged contract deployed BudServe clients poll."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from budconnect.api.deps import catalog, settings
from budconnect.api.responses import JSONBytes
from budconnect.config import Settings
from budconnect.domain.records import JSONObject
from budconnect.errors import InvalidInput
from budconnect.services.catalog import Catalog, check_page
from budconnect.services.snapshots import Snapshot

router = APIRouter(tags=["compatibility"])


@router.get("/model/get-compatible-models")
async def get_compatible_models(
    engine: str | None = Query(None, description="Engine key; omitted: every engine's newest."),
    engine_version: str | None = Query(None, description="Omitted or 'latest': the newest."),
    page: int = Query(1, description="1-based page of providers."),
    limit: int = Query(5, description="Providers per page; at most the server's maximum (100)."),
    service: Catalog = Depends(catalog),
    config: Settings = Depends(settings),
) -> Response:
    """Providers of an engine version, each with all its models, paged by provider key."""
    check_page(page, limit, config.max_page_limit)
    if engine is None and engine_version is not None:
        raise InvalidInput("engine_version needs engine: name the engine it is a version of")
    snapshots = await run_in_threadpool(_snapshots, service, engine, engine_version)
    providers: list[JSONObject] = [p for snapshot in snapshots for p in snapshot.providers]
    start = (page - 1) * limit
    single = snapshots[0] if engine is not None else None
    return JSONBytes(
        {
            "object": "model.compatible",
            "page": page,
            "limit": limit,
            "total_items": len(providers),
            "total_pages": math.ceil(len(providers) / limit),
            "engine_name": single.engine if single else None,
            "engine_version": single.version if single else None,
            "items": providers[start : start + limit],
        }
    )


def _snapshots(service: Catalog, engine: str | None, version: str | None) -> list[Snapshot]:
    if engine is not None:
        return [service.snapshot(engine, version)]
    # No engine: the newest version of every engine, as deployed clients expect.
    return [
        service.snapshot(view.key, None)
        for view in service.view().engines.values()
        if view.latest is not None
    ]
