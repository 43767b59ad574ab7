"""Which engines and engine versions the registry holds."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from budconnect.api.deps import catalog
from budconnect.api.responses import JSONBytes, read_route
from budconnect.services.catalog import Catalog

router = APIRouter(tags=["engines"])


@read_route(router, "/engines", 503)
async def list_engines(service: Catalog = Depends(catalog)) -> Response:
    """Every engine with at least one seeded version, and its newest version."""
    view = await run_in_threadpool(service.view)
    return JSONBytes(
        {
            "items": [
                {
                    "key": engine.key,
                    "name": engine.name,
                    "latest_version": engine.latest.version if engine.latest else None,
                    "version_count": len(engine.versions),
                }
                for engine in view.engines.values()
            ]
        }
    )


@read_route(router, "/engines/{engine}/versions", 404, 422, 503)
async def list_versions(engine: str, service: Catalog = Depends(catalog)) -> Response:
    """The seeded versions of an engine, newest first."""
    found = await run_in_threadpool(service.engine, engine)
    latest = found.latest
    return JSONBytes(
        {
            "engine": found.key,
            "items": [
                {
                    "version": row.version,
                    "latest": row is latest,
                    "provider_count": row.provider_count,
                    "model_count": row.model_count,
                    "digest": row.content_digest,
                    "created_at": row.created_at.isoformat(),
                    "seeded_at": row.seeded_at.isoformat(),
                }
                for row in reversed(found.versions)
            ],
        }
    )
