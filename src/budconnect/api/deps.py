"""Request dependencies: the process-wide services an app was created with."""

from __future__ import annotations

from fastapi import Request

from budconnect.api.blocking import Blocking
from budconnect.api.polls import Polls
from budconnect.config import Settings
from budconnect.services.catalog import Catalog


def catalog(request: Request) -> Catalog:
    found: Catalog = request.app.state.polls.catalog
    return found


def polls(request: Request) -> Polls:
    found: Polls = request.app.state.polls
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def blocking(request: Request) -> Blocking:
    found: Blocking = request.app.state.blocking
    return found
