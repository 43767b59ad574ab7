"""The one place that turns errors into `application/problem+json` responses."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from budconnect.api import web
from budconnect.api.auth import for_people
from budconnect.api.responses import problem
from budconnect.errors import BudConnectError, Busy, DatabaseUnavailable

log = logging.getLogger(__name__)


# Pydantic's words for the mistakes people make in query strings, said as the rest of the API
# says them (its other messages are clear enough as they are).
_MESSAGES = {
    "missing": "required",
    "int_parsing": "must be a whole number, in decimal digits",
    "int_from_float": "must be a whole number, in decimal digits",
    "bool_parsing": "must be true or false",
}


def _kind(error: BudConnectError) -> str:
    # UnknownEngine -> unknown-engine: a stable, greppable problem type per exception class.
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()


def install(app: FastAPI) -> None:
    @app.exception_handler(BudConnectError)
    async def _budconnect_error(request: Request, exc: BudConnectError) -> Response:
        detail = exc.detail
        headers = None
        if exc.public_detail is not None:
            # Debug only: the background refresher already logs when an outage begins and ends.
            log.debug("%s: %s", exc.title, exc.detail)
            detail = exc.public_detail
        if isinstance(exc, DatabaseUnavailable | Busy):
            headers = {"retry-after": "1"}  # outages here are usually a restart or failover
        elif exc.status == 429:
            headers = {"retry-after": str(exc.extra.get("retry_after", 1))}
        elif exc.status == 401:
            # A page asks the browser for a user and password (the token is the password);
            # programs are told to send a bearer token.
            scheme = "Basic" if _for_people(request) else "Bearer"
            headers = {"www-authenticate": f'{scheme} realm="budconnect"'}
        if _for_people(request):  # a page, with the same status and headers (Retry-After)
            links = None
            similar, params = exc.extra.get("similar"), request.path_params
            if similar and "engine" in params and "version" in params:
                links = web.model_links(params["engine"], params["version"], similar)
            return web.error_page(exc.status, exc.title, detail, headers=headers, links=links)
        return problem(exc.status, exc.title, detail, kind=_kind(exc), headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "parameter": ".".join(str(part) for part in error["loc"][1:]) or "body",
                "in": str(error["loc"][0]) if error["loc"] else "request",
                "message": _MESSAGES.get(error["type"], error["msg"]),
            }
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        if _for_people(request):
            return web.error_page(422, "Invalid request parameters", detail)
        return problem(
            422, "Invalid request parameters", detail, kind="invalid-parameters", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        reason = _reason(exc.status_code)
        headers = dict(exc.headers or {})  # Allow, on a 405: RFC 9110 requires it
        if exc.status_code == 405:
            detail = _not_allowed(request, headers)
        if _for_people(request):
            if exc.status_code == 404:
                detail = f"no page here: {request.url.path}"
            return web.error_page(exc.status_code, reason, detail, headers=headers)
        return problem(
            exc.status_code,
            reason,
            detail,
            kind=re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-"),
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        if _for_people(request):
            return web.error_page(500, "Internal error", "the server failed to show this page")
        return problem(500, "Internal Server Error", "the server failed to answer this request",
                       kind="internal-error")  # fmt: skip


def _for_people(request: Request) -> bool:
    """The web catalog's pages answer errors as pages, the API as problem details."""
    return for_people(request.url.path)


def _not_allowed(request: Request, headers: dict[str, str]) -> str:
    """A 405's detail: the method is refused, the path exists, and what it answers to."""
    name, allowed = next(((k, v) for k, v in headers.items() if k.lower() == "allow"), ("", ""))
    methods = [m.strip() for m in allowed.split(",") if m.strip()]
    # Each read route is a GET and a HEAD route: the router names only the first it matched.
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
        headers[name] = allowed = ", ".join(methods)
    answers = f"; it answers {allowed}" if allowed else ""
    return f"{request.method} is not allowed on {request.url.path}{answers}"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
