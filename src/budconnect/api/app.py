"""The application factory. Creating an app connects to nothing; the lifespan does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from budconnect import __version__
from budconnect.api import compat, engines, health, problems, sync
from budconnect.api.bodies import BodyCache
from budconnect.api.fastpath import PollFastPath
from budconnect.api.polls import Polls
from budconnect.config import Settings
from budconnect.services.catalog import Catalog
from budconnect.storage.database import Database

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI application: the poll fast path in front of the FastAPI routes.

    Nothing connects here: the database is first used by the lifespan's refresher, or by the
    first request.
    """
    settings = settings or Settings()
    interval = settings.snapshot_check_interval
    database = Database(settings.database_url)
    catalog = Catalog(
        database,
        check_interval=interval,
        max_snapshot_bytes=settings.snapshot_cache_mb * 1024 * 1024,
    )
    cache_control = f"public, max-age={settings.cache_max_age}, stale-if-error=86400"
    polls = Polls(catalog, BodyCache(max_bytes=settings.body_cache_mb * 1024 * 1024), cache_control)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        refresher = asyncio.create_task(_refresh_forever(catalog, interval)) if interval else None
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            database.dispose()

    app = FastAPI(
        title="BudConnect",
        version=__version__,
        summary="Registry of inference engines, their versions, providers and models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.polls = polls
    problems.install(app)
    app.include_router(health.router)
    app.include_router(engines.router)
    app.include_router(compat.router)
    app.include_router(sync.router)
    if not interval:
        return app
    # The fast path trusts a view at most two refresh periods old: one missed refresh (a slow
    # database) is tolerated, a stuck refresher sends every request down the slow path.
    return PollFastPath(app, polls, max_age=2 * interval, max_limit=settings.max_page_limit)


async def _refresh_forever(catalog: Catalog, interval: float) -> None:
    """Re-read the digests of every engine version once per interval, off the event loop.

    An outage is logged when it starts and when it ends, not at every attempt.
    """
    failing = False
    while True:
        try:
            await asyncio.to_thread(catalog.refresh)
        except Exception as exc:  # the database may be down for a while; keep trying
            if not failing:
                log.warning("cannot refresh the registry view, serving the last one: %s", exc)
            failing = True
        else:
            if failing:
                log.warning("registry view refreshed again; the database is back")
            failing = False
        await asyncio.sleep(interval)
