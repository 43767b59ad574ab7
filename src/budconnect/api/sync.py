"""`/v1` synchronization endpoints: whole catalogs, change feeds, diffs, LiteLLM model maps."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from budconnect.api import bodies
from budconnect.api.blocking import Blocking
from budconnect.api.conditional import EncodedResponse, answer_poll
from budconnect.api.deps import blocking, polls
from budconnect.api.negotiation import conditions, etag_matches, validators
from budconnect.api.polls import Polls, charged
from budconnect.api.queries import (
    PollKind,
    changes_poll,
    only_parameters,
    query_text,
    snapshot_poll,
)
from budconnect.api.ratelimit import RateLimit
from budconnect.api.responses import query_parameters, read_route
from budconnect.domain.documents import LITELLM_MAP
from budconnect.errors import NotFound
from budconnect.services.diffs import diff_snapshots

router = APIRouter(prefix="/v1", tags=["sync"])


@read_route(router, "/engines/{engine}/versions/{version}/catalog", 404, 422, 503)
async def get_catalog(request: Request, engine: str, version: str) -> Response:
    """Every provider of an engine version with every model, in one response.

    `version` may be `latest`. The body carries the snapshot's content digest (`digest`);
    the ETag is that digest (identity) or the digest with `-gzip` (gzip), and
    `If-None-Match` with either answers 304.
    """
    return await answer_poll(
        request, snapshot_poll(PollKind.CATALOG, engine, version, query_text(request.scope))
    )


@read_route(router, f"/engines/{{engine}}/versions/{{version}}/{LITELLM_MAP}", 404, 422, 503)
async def get_litellm_map(request: Request, engine: str, version: str) -> Response:
    """The engine version in LiteLLM's own model-map format (for LITELLM_MODEL_COST_MAP_URL):
    the document the release shipped, every top-level entry included."""
    if engine != "litellm":
        raise NotFound(f"the LiteLLM model map exists only for engine litellm, not {engine!r}")
    return await answer_poll(
        request, snapshot_poll(PollKind.LITELLM_MAP, engine, version, query_text(request.scope))
    )


@read_route(
    router,
    "/engines/{engine}/versions/{version}/changes",
    404,
    410,
    422,
    503,
    openapi_extra=query_parameters(
        ("since", True, "Registry revision the client holds, in decimal digits.", "0")
    ),
)
async def get_changes(request: Request, engine: str, version: str) -> Response:
    """What changed in an engine version after revision `since`.

    Apply `removed` first, then `upserted`, then replace `extras`; the result has the content
    digest `digest`. `410 Gone` when `since` is older than the kept history: fetch the catalog
    instead. `If-None-Match` with the client's digest answers 304 when nothing changed.
    """
    return await answer_poll(request, changes_poll(engine, version, query_text(request.scope)))


@read_route(
    router,
    "/engines/{engine}/diff",
    404,
    422,
    503,
    dependencies=[Depends(only_parameters("from", "to"))],
)
async def get_diff(
    request: Request,
    engine: str,
    from_version: str = Query(..., alias="from", min_length=1, description="Old version."),
    to_version: str = Query(..., alias="to", min_length=1, description="New version."),
    service: Polls = Depends(polls),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """Providers and models added, removed and changed between two versions, field by field."""
    catalog, control = service.catalog, service.cache_control
    limit: RateLimit = request.app.state.read_limit
    charge = functools.partial(limit.take, request.client.host if request.client else "")

    def build() -> tuple[str, bodies.Encoded]:
        old = catalog.snapshot(engine, from_version)
        new = catalog.snapshot(engine, to_version)
        digest = bodies.diff_digest(old.digest, new.digest)
        return digest, service.cache.get_or_build(
            bodies.DiffKey(old.digest, new.digest),
            charged(
                lambda: bodies.Encoded.build(diff_snapshots(old, new), digest, control), charge
            ),
        )

    if_none_match, gzip_ok, _ = conditions(request.scope["headers"])
    digest, encoded = await bounded.run(request, build)
    if if_none_match and etag_matches(if_none_match, digest):
        return EncodedResponse(304, validators(digest, control, gzip_ok), b"")
    body, headers = encoded.choose(gzip_ok)
    return EncodedResponse(200, headers, body)
