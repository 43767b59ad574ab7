"""The query API for people: one version's models and providers, one model, a model's history.

Model keys contain `/`, `:`, `@` and `*`, and are addressed as the rest of the path, as they
are written: `/v1/engines/litellm/versions/1.100.5/models/bedrock/us.anthropic.claude-3-5-
sonnet-20241022-v2:0`. Only `%`, `?` and `#` must be percent-encoded (as `%25`, `%3F`, `%23`);
`/` may be written as is or as `%2F`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from budconnect.api import bodies
from budconnect.api.blocking import Blocking
from budconnect.api.conditional import EncodedResponse
from budconnect.api.deps import blocking, catalog, read_charge
from budconnect.api.negotiation import conditions, etag_matches, validators
from budconnect.api.polls import charged
from budconnect.api.queries import query_pairs
from budconnect.api.responses import JSONBytes, query_parameters, read_route
from budconnect.domain.documents import MODALITIES
from budconnect.errors import BudConnectError, InvalidParameters
from budconnect.services import history as model_history
from budconnect.services.catalog import LATEST, Catalog
from budconnect.services.query import (
    MAX_LIMIT,
    MODEL_FIELDS,
    PROVIDER_FIELDS,
    SORTS,
    ModelQuery,
    index_of,
    no_such_model,
    select_models,
    select_providers,
)

router = APIRouter(prefix="/v1", tags=["query"])

MODEL_PARAMETERS = (
    "provider", "mode", "modality", "min_context", "max_input_price", "max_output_price",
    "deprecated", "as_of", "q", "sort", "limit", "cursor", "fields",
)  # fmt: skip
_BOOL = {"true": True, "false": False, "1": True, "0": False}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What an HTML number input sends (`2`, `0.5`, `.5`, `1e-3`), bounded: no inf, no overflow.
_NUMBER = re.compile(r"([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})([eE][-+]?[0-9]{1,2})?")


def _only(pairs: list[tuple[str, str]], *known: str) -> None:
    unknown = sorted({name for name, _ in pairs if name not in known})
    if unknown:
        message = f"unknown; known: {', '.join(known)}"
        raise InvalidParameters([{"parameter": n, "in": "query", "message": message}
                                 for n in unknown])  # fmt: skip


def _one(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k == name]
    if len(values) > 1:
        raise InvalidParameters.one(name, "given more than once")
    return values[0] if values else None


def _search(pairs: list[tuple[str, str]]) -> str | None:
    """The search text, without the spaces around it (pasted text brings them; a key never
    starts or ends with one), as the web catalog reads it; blank is no search."""
    return (_one(pairs, "q") or "").strip() or None


def _many(pairs: list[tuple[str, str]], name: str) -> tuple[str, ...]:
    values = [v for k, v in pairs if k == name]
    if any(not v.strip(" ,") for v in values):
        # As `min_context=` is refused: an empty filter is a program's unset variable, and
        # reading it as "any" would answer everything to a question about something.
        raise InvalidParameters.one(name, "is empty: name one or more, or leave it out")
    return tuple(part for v in values for part in v.split(",") if part)


def _number(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    if not _NUMBER.fullmatch(text):
        raise InvalidParameters.one(name, "must be a number, such as 2, 0.5 or 1e-3")
    return float(text)


def _count(name: str, text: str | None) -> int | None:
    """A whole number of tokens, in decimal digits (`1e5` and `0.5` are no token counts)."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise InvalidParameters.one(name, "must be a whole number of tokens, such as 128000")
    return int(text)


def _date(name: str, text: str | None) -> dt.date | None:
    """A calendar date written YYYY-MM-DD; `fromisoformat` also takes 20250101 and 2025-W01-1,
    which would make two spellings of one URL."""
    if text is None:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidParameters.one(name, "must be a date, YYYY-MM-DD") from None


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_LIMIT))
    if not digits or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidParameters.one("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _fields(text: str | None, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(name for name in text.split(",") if name)
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise InvalidParameters.one("fields", f"choose among: {', '.join(allowed)}")
    return names


def _bool(name: str, text: str | None) -> bool | None:
    if text is None:
        return None
    if text.lower() not in _BOOL:
        raise InvalidParameters.one(name, "must be true or false (or 1 or 0)")
    return _BOOL[text.lower()]


def model_query(pairs: list[tuple[str, str]]) -> ModelQuery:
    """A model query from request parameters; anything unknown or malformed is a 422."""
    unknown = sorted(
        {k for k, _ in pairs if k not in MODEL_PARAMETERS and not k.startswith("supports_")}
    )
    if unknown:
        raise InvalidParameters(
            [
                {
                    "parameter": name,
                    "in": "query",
                    "message": "unknown filter; known: "
                    f"{', '.join(MODEL_PARAMETERS)} and supports_* flags",
                }
                for name in unknown
            ]
        )
    flags = []
    for name in sorted({k for k, _ in pairs if k.startswith("supports_")}):
        value = _bool(name, _one(pairs, name))
        assert value is not None
        flags.append((name, value))
    sort = _one(pairs, "sort") or "key"
    descending = sort.startswith("-")
    sort = sort.removeprefix("-")
    if sort not in SORTS:
        raise InvalidParameters.one(
            "sort", f"one of {', '.join(SORTS)}, with '-' before it for descending"
        )
    as_of = _date("as_of", _one(pairs, "as_of"))
    deprecated = _bool("deprecated", _one(pairs, "deprecated"))
    if as_of is not None and deprecated is None:
        # Alone it would change nothing: the asker meant a filter and would not get one.
        raise InvalidParameters.one("as_of", "the date `deprecated` is judged at: give both")
    modalities = _many(pairs, "modality")
    strange = [m for m in modalities if m not in MODALITIES]
    if strange:
        raise InvalidParameters.one(
            "modality", f"unknown {', '.join(strange)}; one of {', '.join(MODALITIES)}"
        )
    return ModelQuery(
        providers=_many(pairs, "provider"),
        modes=_many(pairs, "mode"),
        flags=tuple(flags),
        modalities=modalities,
        min_context=_count("min_context", _one(pairs, "min_context")),
        max_input_price=_number("max_input_price", _one(pairs, "max_input_price")),
        max_output_price=_number("max_output_price", _one(pairs, "max_output_price")),
        deprecated=deprecated,
        as_of=as_of,
        q=_search(pairs),
        sort=sort,
        descending=descending,
        limit=_limit(_one(pairs, "limit")),
        cursor=_one(pairs, "cursor"),
        fields=_fields(_one(pairs, "fields"), MODEL_FIELDS),
    )


def _listing(snapshot: Any, page: Any, **extra: Any) -> dict[str, Any]:
    return {
        "object": "list",
        "engine": snapshot.engine,
        "engine_version": snapshot.version,
        "digest": snapshot.digest,
        "total": page.total,
        "items": page.items,
        "next_cursor": page.next_cursor,
        **extra,
    }


@read_route(
    router,
    "/engines/{engine}/versions/{version}/models",
    404,
    409,
    422,
    503,
    openapi_extra=query_parameters(
        ("provider", False, "Provider keys (repeat, or separate by commas).", "openai"),
        ("mode", False, "Modes, e.g. chat, embedding (repeat, or commas).", "chat"),
        ("supports_vision", False, "Any supports_* flag the data has: true or false.", "true"),
        ("modality", False, "Modalities every model must have (repeat, or commas).", "image_input"),
        ("min_context", False, "Smallest input context window, in tokens.", "128000"),
        ("max_input_price", False, "Highest input price, USD per million tokens.", "3"),
        ("max_output_price", False, "Highest output price, USD per million tokens.", "15"),
        (
            "deprecated",
            False,
            "true: deprecated as of `as_of` (default today); false: not.",
            "false",
        ),
        ("as_of", False, "The date `deprecated` is judged at, YYYY-MM-DD.", "2026-01-01"),
        ("q", False, "Text in the model key, provider key or provider name.", "claude"),
        ("sort", False, f"One of {', '.join(SORTS)}; '-' before it: descending.", "-context"),
        ("limit", False, f"Models per page, 1 to {MAX_LIMIT} (default 50).", "50"),
        ("cursor", False, "The `next_cursor` of the previous page.", ""),
        (
            "fields",
            False,
            f"Fields to return, among: {', '.join(MODEL_FIELDS)}.",
            "uri,input_cost,tokens",
        ),
    ),
)
async def list_models(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """The models of a version matching every filter given, sorted and paged with a cursor.

    Models without the value sorted on (no price, no context window) come last. A cursor is
    valid for the snapshot it came from: when the version changes, 409 (start again)."""
    query = model_query(query_pairs(request.scope))
    snapshot = await bounded.run(request, service.snapshot, engine, version, read_charge(request))
    page = select_models(snapshot, query, dt.date.today(), named=version)
    return JSONBytes(_listing(snapshot, page, flags=page.flags))


@read_route(
    router,
    "/engines/{engine}/versions/{version}/providers",
    404,
    409,
    422,
    503,
    openapi_extra=query_parameters(
        ("q", False, "Text in the provider key or name.", "azure"),
        ("limit", False, f"Providers per page, 1 to {MAX_LIMIT} (default 50).", "50"),
        ("cursor", False, "The `next_cursor` of the previous page.", ""),
        (
            "fields",
            False,
            f"Fields to return, among: {', '.join(PROVIDER_FIELDS)}.",
            "provider_type,name,model_count",
        ),
    ),
)
async def list_providers(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """The providers of a version, by key, with how many models each has."""
    pairs = query_pairs(request.scope)
    _only(pairs, "q", "limit", "cursor", "fields")
    snapshot = await bounded.run(request, service.snapshot, engine, version, read_charge(request))
    page = select_providers(
        snapshot,
        _search(pairs),
        _limit(_one(pairs, "limit")),
        _one(pairs, "cursor"),
        _fields(_one(pairs, "fields"), PROVIDER_FIELDS),
        named=version,
    )
    return JSONBytes(_listing(snapshot, page))


@read_route(
    router,
    "/engines/{engine}/versions/{version}/models/{key:path}",
    404,
    422,
    503,
    openapi_extra=query_parameters(
        (
            "fields",
            False,
            f"Fields to return, among: {', '.join(MODEL_FIELDS)}.",
            "uri,input_cost,tokens",
        ),
    ),
)
async def get_model(
    request: Request,
    engine: str,
    version: str,
    key: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """One model of a version, with its provider's key (see the module text for how keys
    with `/`, `:`, `@` and `*` are addressed); `fields=` chooses fields as for the list."""
    pairs = query_pairs(request.scope)
    _only(pairs, "fields")
    fields = _fields(_one(pairs, "fields"), MODEL_FIELDS)
    snapshot = await bounded.run(None, service.snapshot, engine, version, read_charge(request))
    index = await bounded.run(None, index_of, snapshot)
    model = index.by_key.get(key)
    if model is not None:
        if fields is not None:
            model = {name: model[name] for name in fields}
        return JSONBytes({"engine": snapshot.engine, "engine_version": snapshot.version,
                          "model": model})  # fmt: skip
    raise no_such_model(snapshot, key, f"{engine} {snapshot.version} has no model {key!r}")


@read_route(
    router,
    "/engines/{engine}/models/{key:path}/history",
    404,
    422,
    503,
    openapi_extra=query_parameters(
        (
            "at",
            False,
            "A date (YYYY-MM-DD): the entry in the newest release on or before it.",
            "2025-06-01",
        ),
    ),
)
async def get_history(
    request: Request,
    engine: str,
    key: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    """Every version holding the model, in spans where its entry did not change (each with
    its first and last version and their release dates), and the field-level changes
    between spans: prices, limits, flags, provider, mode, deprecation. With `at`, the entry
    in the newest release on or before that date."""
    pairs = query_pairs(request.scope)
    _only(pairs, "at")
    date = _date("at", _one(pairs, "at"))
    if date is not None:
        read_charge(request)()  # read from the database every time
        try:
            entry = await bounded.run(request, model_history.at, service.db, engine, key, date)
        except model_history.UnknownModel as exc:
            raise await bounded.run(None, _with_similar, service, engine, key, exc) from None
        return JSONBytes(entry)
    view = await bounded.run(None, service.view)
    cache: bodies.BodyCache = request.app.state.polls.cache
    # A history changes only with the registry revision: that names it (and is its ETag).
    digest = hashlib.sha256(f"history\0{engine}\0{view.revision}\0{key}".encode()).hexdigest()
    control: str = request.app.state.polls.cache_control
    if_none_match, gzip_ok, _ = conditions(request.scope["headers"])
    if if_none_match and etag_matches(if_none_match, digest):
        return EncodedResponse(304, validators(digest, control, gzip_ok), b"")

    def build() -> bodies.Encoded:
        document = model_history.history(service.db, engine, key)
        return bodies.Encoded.build(document, digest, control)

    try:
        encoded = await bounded.run(
            request,
            cache.get_or_build,
            bodies.HistoryKey(digest),
            charged(build, read_charge(request)),  # charged only when built
        )
    except model_history.UnknownModel as exc:
        raise await bounded.run(None, _with_similar, service, engine, key, exc) from None
    body, headers = encoded.choose(gzip_ok)
    return EncodedResponse(200, headers, body)


def _with_similar(
    service: Catalog, engine: str, key: str, error: model_history.UnknownModel
) -> model_history.UnknownModel:
    """`error`, naming keys like `key` in the newest release (when there is one)."""
    if error.extra.get("similar") is not None:
        return error
    try:
        snapshot = service.snapshot(engine, LATEST)
    except BudConnectError:
        return error
    return no_such_model(snapshot, key, error.detail)
