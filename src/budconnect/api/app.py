"""The application factory. Creating an app connects to nothing; the lifespan does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from budconnect import __version__
from budconnect.api import compat, engines, health, problems
from budconnect.config import Settings
from budconnect.services.catalog import Catalog
from budconnect.storage.database import Database


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database_url)
        app.state.catalog = Catalog(database, check_interval=settings.snapshot_check_interval)
        try:
            yield
        finally:
            database.dispose()

    app = FastAPI(
        title="BudConnect",
        version=__version__,
        summary="Registry of inference engines, their versions, providers and models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.include_router(health.router)
    app.include_router(engines.router)
    app.include_router(compat.router)
    return app
