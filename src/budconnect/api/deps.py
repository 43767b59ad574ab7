"""Request dependencies: the process-wide services an app was created with."""

from __future__ import annotations

from fastapi import Request

from budconnect.api.bodies import BodyCache
from budconnect.config import Settings
from budconnect.services.catalog import Catalog


def catalog(request: Request) -> Catalog:
    found: Catalog = request.app.state.catalog
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def body_cache(request: Request) -> BodyCache:
    found: BodyCache = request.app.state.body_cache
    return found


def cache_control(request: Request) -> str:
    found: str = request.app.state.cache_control
    return found
