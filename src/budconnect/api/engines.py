"""Which engines and engine versions the registry holds, and where each version came from."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from budconnect.api.blocking import Blocking
from budconnect.api.deps import blocking, catalog
from budconnect.api.queries import only_parameters
from budconnect.api.responses import JSONBytes, read_route
from budconnect.services.catalog import Catalog, EngineView, VersionRow

router = APIRouter(tags=["engines"])

# None of these routes takes a query parameter: one given is a mistake (a `limit` that would
# otherwise be silently ignored), answered 422 as on every other route.
_NO_PARAMETERS = [Depends(only_parameters())]


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def version_info(row: VersionRow, latest: VersionRow | None) -> dict[str, Any]:
    """One engine version as listed: counts, digest, and its provenance."""
    return {
        "version": row.version,
        "latest": latest is not None and row.version == latest.version,
        "yanked": row.yanked_at is not None,
        "yanked_at": _time(row.yanked_at),
        "yank_reason": row.yank_reason if row.yanked_at is not None else None,
        "provider_count": row.provider_count,
        "model_count": row.model_count,
        "digest": row.content_digest,
        "revision": row.revision,
        "created_at": row.created_at.isoformat(),
        "seeded_at": row.seeded_at.isoformat(),
        "provenance": {
            "origin": row.origin,
            "released_at": _time(row.released_at),
            "released_at_source": row.released_at_source,
            "wheel_filename": row.wheel_filename,
            "wheel_sha256": row.wheel_sha256,
            "map_sha256": row.source_digest,
            "ingested_at": row.created_at.isoformat(),
        },
    }


def _versions(found: EngineView) -> dict[str, Any]:
    latest = found.latest
    return {
        "engine": found.key,
        "items": [version_info(row, latest) for row in reversed(found.versions)],
    }


def _engine(engine: EngineView) -> dict[str, Any]:
    return {
        "key": engine.key,
        "name": engine.name,
        "latest_version": engine.latest.version if engine.latest else None,
        "version_count": len(engine.versions),
    }


@read_route(router, "/engines", 422, 503, dependencies=_NO_PARAMETERS)
async def list_engines(
    service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """Every engine with at least one seeded version, and its newest final release."""
    view = await bounded.run(None, service.view)
    return JSONBytes({"items": [_engine(engine) for engine in view.engines.values()]})


@read_route(router, "/v1/engines", 422, 503, dependencies=_NO_PARAMETERS)
async def list_engines_v1(
    service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """Every engine with at least one seeded version, and its newest final release (as
    `GET /engines`)."""
    return await list_engines(service, bounded)


@read_route(router, "/v1/engines/{engine}", 404, 422, 503, dependencies=_NO_PARAMETERS)
async def get_engine(
    engine: str, service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """One engine: its name, newest final release and how many versions it holds."""
    return JSONBytes(_engine(await bounded.run(None, service.engine, engine)))


@read_route(router, "/engines/{engine}/versions", 404, 422, 503, dependencies=_NO_PARAMETERS)
async def list_versions(
    engine: str, service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """The versions of an engine, newest first, with where each came from."""
    return JSONBytes(_versions(await bounded.run(None, service.engine, engine)))


@read_route(router, "/v1/engines/{engine}/versions", 404, 422, 503, dependencies=_NO_PARAMETERS)
async def list_versions_v1(
    engine: str, service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """The versions of an engine, newest first, with where each came from (release time,
    wheel, map digest) and whether it is yanked."""
    return JSONBytes(_versions(await bounded.run(None, service.engine, engine)))


@read_route(
    router, "/v1/engines/{engine}/versions/{version}", 404, 422, 503, dependencies=_NO_PARAMETERS
)
async def get_version(
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """One engine version (`latest`: the newest final release) and its provenance."""

    def find() -> dict[str, Any]:
        view = service.view()
        return version_info(view.resolve(engine, version), view.engine(engine).latest)

    return JSONBytes(await bounded.run(None, find))
