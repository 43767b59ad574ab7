"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from budconnect import __version__
from budconnect.api.blocking import Blocking
from budconnect.api.deps import blocking, catalog
from budconnect.api.responses import JSONBytes, problem, read_route
from budconnect.services.catalog import Catalog
from budconnect.storage.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])
READY_WITHIN = 2.0


@read_route(router, "/healthz")
async def healthz() -> Response:
    """Liveness: the process answers. Never touches the database."""
    return JSONBytes({"status": "ok", "version": __version__})


@read_route(router, "/readyz", 503)
async def readyz(
    service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """Readiness: the database answers, within 2 seconds, and its schema is at the revision
    this code expects."""

    def check() -> str | None:
        # Reading the schema revision is itself the round trip that proves the database answers.
        current, head = current_revision(service.db.engine), head_revision()
        return None if current == head else f"schema at {current}, code expects {head}"

    try:
        problem_text = await bounded.run(None, check, timeout=READY_WITHIN)
    except Exception as exc:  # any failure to reach the database means "not ready"
        problem_text = f"database unreachable: {type(exc).__name__}"
    if problem_text:
        return problem(
            503, "Not ready", problem_text, kind="not-ready", headers={"retry-after": "1"}
        )
    return JSONBytes({"status": "ready", "version": __version__})
