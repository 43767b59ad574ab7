"""What a poll asks for, read from its query string: the one parser both request paths use.

Numbers are plain decimal digits only: `1_0`, `+3`, ` 3` and `٣` are refused, as is any
parameter given twice or left blank, so that one URL means one thing to every layer (the
fast path, the routes, caches and proxies keyed by URL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from budconnect.errors import InvalidParameters

MAX_PAGE = 1_000_000
MAX_SINCE = 2**62
LATEST = "latest"


class PollKind(Enum):
    CATALOG = "catalog"
    LITELLM_MAP = "litellm-map"
    CHANGES = "changes"
    COMPAT = "compat"


@dataclass(frozen=True, slots=True)
class Poll:
    """One poll: which representation of which snapshot. `version` None means the newest;
    `engine` None (compatible-models only) means the newest version of every engine."""

    kind: PollKind
    engine: str | None
    version: str | None = None
    page: int = 1
    limit: int = 5
    since: int = 0


def query_text(scope: Mapping[str, Any]) -> str:
    """The raw query string of an ASGI request, as both paths read it."""
    raw: bytes = scope["query_string"]
    return raw.decode("latin-1")


def query_pairs(scope: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (name, value) of an ASGI request's query string, blanks and repeats kept."""
    return parse_qsl(query_text(scope), keep_blank_values=True)


def only_parameters(*names: str) -> Callable[[Request], None]:
    """A route dependency: a query parameter the route does not take, or one given twice, is
    a 422 (a write sent with `dry-run=true` must not publish for real)."""

    def check(request: Request) -> None:
        _params(query_text(request.scope), names)

    return check


def _params(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The parameters of `query`; one the route does not take (a misspelt `engine_versoin`
    would otherwise answer for another version) or one given twice is an error."""
    if not query:
        return {}
    params: dict[str, str] = {}
    errors = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            known = ", ".join(allowed) or "none"
            message = f"unknown parameter; this route takes: {known}"
            errors.append({"parameter": name, "in": "query", "message": message})
        elif name in params:
            errors.append({"parameter": name, "in": "query", "message": "given more than once"})
        params[name] = value
    if errors:
        raise InvalidParameters(errors)
    return params


def _number(name: str, text: str, low: int, high: int) -> int | dict[str, str]:
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        message = f"must be a whole number from {low} to {high}, in decimal digits"
        return {"parameter": name, "in": "query", "message": message}
    value = int(text)
    if not low <= value <= high:
        return {"parameter": name, "in": "query", "message": f"must be between {low} and {high}"}
    return value


def compat_poll(query: str, max_limit: int) -> Poll:
    """`GET /model/get-compatible-models?engine&engine_version&page&limit`."""
    params = _params(query, ("engine", "engine_version", "page", "limit"))
    errors: list[dict[str, str]] = []
    for name in ("engine", "engine_version", "page", "limit"):
        if params.get(name) == "":
            errors.append({"parameter": name, "in": "query", "message": "must not be empty"})
    engine = params.get("engine") or None
    version = params.get("engine_version") or None
    if engine is None and version == LATEST:
        version = None  # the newest of every engine, as no version at all
    if engine is None and version is not None:
        errors.append(
            {
                "parameter": "engine_version",
                "in": "query",
                "message": "needs engine: name the engine it is a version of",
            }
        )
    page = _number("page", params["page"], 1, MAX_PAGE) if params.get("page") else 1
    limit = _number("limit", params["limit"], 1, max_limit) if params.get("limit") else 5
    errors += [value for value in (page, limit) if isinstance(value, dict)]
    if errors:
        raise InvalidParameters(errors)
    assert isinstance(page, int)
    assert isinstance(limit, int)
    return Poll(PollKind.COMPAT, engine, _version(version), page=page, limit=limit)


def changes_poll(engine: str, version: str, query: str) -> Poll:
    """`GET /v1/engines/{engine}/versions/{version}/changes?since=REV`."""
    text = _params(query, ("since",)).get("since")
    if text is None:
        raise InvalidParameters.one("since", "required: the revision the client holds")
    since = _number("since", text, 0, MAX_SINCE)
    if isinstance(since, dict):
        raise InvalidParameters([since])
    return Poll(PollKind.CHANGES, engine, _version(version), since=since)


def snapshot_poll(kind: PollKind, engine: str, version: str, query: str) -> Poll:
    """The catalog or LiteLLM map of one version: it takes no parameters."""
    _params(query, ())
    return Poll(kind, engine, _version(version))


def _version(version: str | None) -> str | None:
    return None if version is None or version == LATEST else version
