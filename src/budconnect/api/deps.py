"""Request dependencies: the process-wide services an app was created with."""

from __future__ import annotations

from fastapi import Request

from budconnect.config import Settings
from budconnect.services.catalog import Catalog


def catalog(request: Request) -> Catalog:
    found: Catalog = request.app.state.catalog
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found
