"""The application factory. Creating an app connects to nothing; the lifespan does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.responses import Response
from starlette.types import ASGIApp

from budconnect import __version__
from budconnect.api import admin, compat, engines, health, models, problems, sync, web
from budconnect.api.auth import ReadAuth
from budconnect.api.blocking import Blocking
from budconnect.api.bodies import BodyCache
from budconnect.api.fastpath import PollFastPath
from budconnect.api.fleet import FleetRecorder, fleet_entries, fleet_summary, flush_fleet
from budconnect.api.metrics import MetricsMiddleware, exposition
from budconnect.api.polls import Polls
from budconnect.api.ratelimit import RateLimit
from budconnect.config import Settings
from budconnect.domain.versions import is_final
from budconnect.metrics import CACHE_BYTES, CACHE_ENTRIES, FLEET, VERSIONS
from budconnect.services.catalog import Catalog, VersionRow
from budconnect.services.fleet import deployments
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
    polls = Polls(
        catalog,
        BodyCache(max_bytes=settings.body_cache_mb * 1024 * 1024),
        cache_control,
        sweep_pin_seconds=settings.sweep_pin_seconds,
        # Snapshots held by pins (beyond the snapshot cache's): at most as many bytes again.
        sweep_pin_bytes=settings.snapshot_cache_mb * 1024 * 1024,
    )

    fleet = FleetRecorder()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_flush_forever(fleet, catalog, settings))]
        if interval:
            tasks.append(asyncio.create_task(_refresh_forever(catalog, interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):  # what was heard last, if the database lets us
                await asyncio.to_thread(flush_fleet, fleet, database, settings.fleet_forget_seconds)
            database.dispose()

    # Interactive documentation served from the package: it works offline, loads nothing
    # from another host.
    app = FastAPIOffline(
        title="BudConnect",
        version=__version__,
        summary="Registry of inference engines, their versions, providers and models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.polls = polls
    app.state.fleet = fleet
    app.state.blocking = Blocking(
        max_concurrent=settings.max_concurrent_builds, wait=settings.database_wait
    )
    app.state.admin_tokens = settings.admin()
    app.state.read_tokens = settings.readers()
    app.state.write_limit = RateLimit(settings.write_rate, 10, what="writes")
    app.state.read_limit = RateLimit(
        settings.expensive_read_rate, max(10.0, settings.expensive_read_rate / 6), what="reads"
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(engines.router)
    app.include_router(compat.router)
    app.include_router(sync.router)
    app.include_router(admin.router)
    app.include_router(models.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(packages=[("budconnect.api", "static")]), name="static")

    @app.api_route("/metrics", methods=["GET", "HEAD"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        held = polls.catalog.snapshot_cache
        for name, (size, entries) in (
            ("snapshots", held),
            ("bodies", (polls.cache.size, len(polls.cache))),
        ):
            CACHE_BYTES.labels(name).set(size)
            CACHE_ENTRIES.labels(name).set(entries)
        CACHE_ENTRIES.labels("sweep-pins").set(len(polls.pins))
        CACHE_BYTES.labels("sweep-pins").set(polls.pins.bytes)  # distinct snapshots pinned
        view = polls.catalog.fresh_view(float("inf"))
        for engine in view.engines.values() if view else ():
            states = Counter(_state(row) for row in engine.versions)
            for state in ("final", "prerelease", "yanked"):
                VERSIONS.labels(engine.key, state).set(states[state])
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    # The fast path trusts a view at most two refresh periods old: one missed refresh (a slow
    # database) is tolerated, a stuck refresher sends every request down the slow path.
    served: ASGIApp = app
    if interval:
        served = PollFastPath(
            app, polls, fleet, max_age=2 * interval, max_limit=settings.max_page_limit
        )
    if app.state.read_tokens:
        # Wrong tokens are limited like writes; each worker keeps its own allowance.
        guesses = RateLimit(settings.write_rate, 10, what="requests with a token not valid here")
        served = ReadAuth(served, app.state.read_tokens, app.state.admin_tokens, guesses)
    return MetricsMiddleware(served)


def _state(row: VersionRow) -> str:
    if row.yanked_at is not None:
        return "yanked"
    return "final" if is_final(row.version) else "prerelease"


# A worker counts the fleet for /metrics (one read of every deployment) once in this many
# flushes: every 30 s by default.
FLEET_COUNT_FLUSHES = 6


async def _flush_forever(fleet: FleetRecorder, catalog: Catalog, settings: Settings) -> None:
    counted = float("-inf")
    while True:
        await asyncio.sleep(settings.fleet_flush_seconds)
        try:
            await asyncio.to_thread(flush_fleet, fleet, catalog.db, settings.fleet_forget_seconds)
        except Exception as exc:  # the database may be down; the reports wait in memory
            log.warning("cannot record fleet reports yet: %s", exc)
            continue
        if time.monotonic() - counted >= FLEET_COUNT_FLUSHES * settings.fleet_flush_seconds:
            counted = time.monotonic()
            with contextlib.suppress(Exception):  # the gauges keep their last values
                await asyncio.to_thread(_count_fleet, catalog, settings.fleet_stale_seconds)


def _count_fleet(catalog: Catalog, stale_after: float) -> None:
    """Set the fleet gauges from what every deployment last reported."""
    entries = fleet_entries(deployments(catalog.db), catalog.view(), stale_after)
    for state, count in fleet_summary(entries).items():
        FLEET.labels(state).set(count)


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
