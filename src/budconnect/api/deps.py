"""Request dependencies: the process-wide services an app was created with."""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import Request

from budconnect.api.blocking import Blocking
from budconnect.api.polls import Polls
from budconnect.api.ratelimit import RateLimit
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


def read_charge(request: Request) -> Callable[[], None]:
    """Spend one of this client's expensive reads (429 when none is left): for requests that
    read the database or compute a large answer, not for answers from memory."""
    limit: RateLimit = request.app.state.read_limit
    return functools.partial(limit.take, request.client.host if request.client else "")
