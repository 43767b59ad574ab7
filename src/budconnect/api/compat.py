"""`GET /model/get-compatible-models`: the paged contract deployed BudServe clients poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from budconnect.api.conditional import answer_poll
from budconnect.api.deps import settings
from budconnect.api.queries import compat_poll, query_text
from budconnect.api.responses import query_parameters, read_route
from budconnect.config import Settings

router = APIRouter(tags=["compatibility"])


@read_route(
    router,
    "/model/get-compatible-models",
    404,
    422,
    503,
    openapi_extra=query_parameters(
        ("engine", False, "Engine key; omitted: the newest version of every engine.", "litellm"),
        (
            "engine_version",
            False,
            "A version of `engine`; omitted or `latest`: the newest.",
            "1.100.5",
        ),
        ("page", False, "1-based page of providers, in decimal digits (default 1).", "1"),
        (
            "limit",
            False,
            "Providers per page: 1 to the server's maximum, 100 unless configured (default 5).",
            "5",
        ),
    ),
)
async def get_compatible_models(request: Request, config: Settings = Depends(settings)) -> Response:
    """Providers of an engine version, each with all its models, paged by provider key.

    The ETag names the snapshot served; `If-None-Match` with it answers 304.
    """
    poll = compat_poll(query_text(request.scope), config.max_page_limit)
    return await answer_poll(request, poll)
