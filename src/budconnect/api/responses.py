"""Response classes (JSON through orjson, RFC 9457 problem details) and how routes document them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

_Handler = Callable[..., Coroutine[Any, Any, Response]]


class JSONBytes(Response):
    """A JSON response encoded with orjson (faster, and exact for floats)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


PROBLEM_TYPE_PREFIX = "urn:budconnect:problem:"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An `application/problem+json` response (RFC 9457)."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


class Problem(BaseModel):
    """An RFC 9457 problem; some kinds add members (e.g. `available_versions`)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str


_PROBLEM_DESCRIPTIONS = {
    401: "No bearer token, or one that is not valid here (WWW-Authenticate: Bearer)",
    403: "Writes (or reads) are disabled: no token for them is configured",
    404: "Unknown engine, version or model (the body lists what exists, or similar keys)",
    409: "The cursor belongs to a snapshot the version no longer serves: start again",
    413: "The body is larger than the server accepts",
    415: "The body is not JSON",
    429: "Too many requests from this client (retry after `Retry-After` seconds)",
    410: "The revision is older than the kept history, or newer than the registry",
    422: "Invalid parameters (each named in `errors`), an unusable source file, or one the "
    "gates hold back",
    503: "The database cannot be reached (retry after `Retry-After` seconds), or is not ready",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route answers, as `application/problem+json`."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in statuses
    }


def query_parameters(*params: tuple[str, bool, str, str]) -> dict[str, Any]:
    """OpenAPI documentation of query parameters a route reads itself (name, required,
    description, example): they are parsed by `budconnect.api.queries`, the same parser the
    poll fast path uses, not by the framework."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": required,
                "description": description,
                "schema": {"type": "string"},
                "example": example,
            }
            for name, required, description, example in params
        ]
    }


def read_route(
    router: APIRouter, path: str, *problems: int, **kwargs: Any
) -> Callable[[_Handler], _Handler]:
    """GET `path`, documented with the problems it answers, and HEAD (the same, undocumented)."""

    def register(handler: _Handler) -> _Handler:
        responses = problem_responses(*problems)
        router.get(path, responses=responses, **kwargs)(handler)
        router.head(path, include_in_schema=False, **kwargs)(handler)
        return handler

    return register
