"""The web catalog for people: engines and versions, a version's models, a model's page with
its history, and a comparison of two versions. Server-rendered HTML, no script.

A version's models are shown 100 to a page (the filters, search and sorting of the query
API, read by the API's own parser and applied on the server), so a 5,000-model version is as
fast to show as a small one; a comparison shows 200 entries per section until asked for more.
Everything printed from the data is escaped (Jinja2's autoescape); errors are pages with the
same status as the API's: a parameter the page does not know, one given twice or a malformed
value is a 422 naming it, never a table that silently ignores it. Every page answers HEAD.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from budconnect import __version__
from budconnect.api.blocking import Blocking
from budconnect.api.deps import blocking, catalog, read_charge
from budconnect.api.models import _one as one_value
from budconnect.api.models import model_query
from budconnect.api.queries import MAX_PAGE, query_pairs
from budconnect.api.queries import _number as whole_number
from budconnect.domain.versions import is_final, sort_versions, version_key
from budconnect.errors import InvalidParameters
from budconnect.services import history as model_history
from budconnect.services.catalog import Catalog
from budconnect.services.diffs import diff_snapshots
from budconnect.services.query import (
    ModelQuery,
    context_window,
    index_of,
    no_such_model,
    per_million,
    select_models,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
SORTS = (  # every sort the query API knows, in the order the form offers them
    ("key", "Model key"),
    ("-key", "Model key, Z to A"),
    ("provider", "Provider"),
    ("-provider", "Provider, Z to A"),
    ("input_price", "Input price, lowest first"),
    ("-input_price", "Input price, highest first"),
    ("output_price", "Output price, lowest first"),
    ("-output_price", "Output price, highest first"),
    ("-context", "Context window, largest first"),
    ("context", "Context window, smallest first"),
)


def _price(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.4f}".rstrip("0").rstrip(".") if value < 100 else f"{value:,.2f}"


def _thousands(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _compact(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 120 else text[:117] + "..."


templates = Environment(
    loader=PackageLoader("budconnect.api", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["price"] = _price
templates.filters["thousands"] = _thousands
templates.filters["compact"] = _compact


def _key_path(key: str) -> str:
    """A model key as the rest of a page's path. Its `/` stay as they are, except in a key
    with a `.` or `..` segment: a browser resolves those away (`a/../b` is `b`) before it
    asks, so there every `/` is sent as `%2F`, which the server reads back as `/`."""
    dotted = any(segment in (".", "..") for segment in key.split("/"))
    return quote(key, safe=":@*+,;=" if dotted else "/:@*+,;=")


templates.filters["urlencode_path"] = _key_path
templates.globals["budconnect_version"] = __version__


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def error_page(
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    """The page for an error a user can meet: its status, title and detail, never a trace;
    `headers` are the ones the status needs (`Allow` for a 405); `links` (text, path) are
    where the reader may have meant to go (similar model keys)."""
    page = render("error.html", status, title=title, detail=detail, links=links or [])
    page.headers.update(headers or {})
    return page


def model_links(engine: str, version: str, keys: list[str]) -> list[tuple[str, str]]:
    """Links to the pages of `keys` in `engine` `version`."""
    return [(key, f"/catalog/{quote(engine)}/{quote(version)}/models/{_key_path(key)}")
            for key in keys]  # fmt: skip


def page_route(path: str) -> Callable[[Any], Any]:
    """A page at `path`, for GET and HEAD: one route for both, so that a 405 on it says
    `Allow: GET, HEAD` (the server sends no body after HEAD)."""
    return router.api_route(path, methods=["GET", "HEAD"], response_class=HTMLResponse)


@page_route("/")
async def index(
    service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    view = await bounded.run(None, service.view)
    engines = []
    for engine in view.engines.values():
        rows = list(reversed(engine.versions))
        versions = []
        for number, row in enumerate(rows):
            when, source = model_history.released(row)
            versions.append(
                {
                    "version": row.version,
                    "latest": engine.latest is not None and row.version == engine.latest.version,
                    "yanked": row.yanked_at is not None,
                    "final": is_final(row.version),
                    "released_at": when.isoformat(),
                    "released_source": source,
                    "origin": row.origin,
                    "providers": row.provider_count,
                    "models": row.model_count,
                    "previous": rows[number + 1].version if number + 1 < len(rows) else None,
                }
            )
        engines.append(
            {
                "key": engine.key,
                "name": engine.name,
                "latest": engine.latest.version if engine.latest else None,
                "versions": versions,
            }
        )
    return render("index.html", engines=engines)


# A version page's parameters: the query API's filters and sort, and the form's own two:
# `capability` (one supports_* flag that must be true, chosen from a list) and `page` (of 100
# rows). The API's `limit`, `cursor` and `fields` mean nothing on a page of 100 rows showing
# every column: here they are unknown, as a mistyped name is.
VERSION_PARAMETERS = (
    "q", "provider", "mode", "capability", "modality", "min_context", "max_input_price",
    "max_output_price", "deprecated", "as_of", "sort", "page",
)  # fmt: skip
COMPARE_PARAMETERS = ("from", "to", "shown")


def _known(pairs: list[tuple[str, str]], known: tuple[str, ...], flags: bool = False) -> None:
    """Refuse a parameter the page does not know (whatever its value: `foo=` too)."""
    unknown = sorted(
        {n for n, _ in pairs if n not in known and not (flags and n.startswith("supports_"))}
    )
    if unknown:
        names = ", ".join(known) + (" and supports_* flags" if flags else "")
        raise InvalidParameters(
            [{"parameter": n, "in": "query", "message": f"unknown; known: {names}"}
             for n in unknown]
        )  # fmt: skip


def _filled(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The parameters with a value. An HTML form submits its empty fields too (`q=&provider=`
    when nothing is chosen): on a page an empty value means "not given", where the API,
    written to by programs, refuses an empty number."""
    return [(name, value.strip()) for name, value in pairs if value.strip()]


def _count(name: str, text: str | None, high: int, default: int) -> int:
    """A page number or count: the poll parser's rule for `page` (decimal digits, 1 to
    `high`), so that `page=abc` is refused here as `page=abc` is by the API."""
    if text is None:
        return default
    value = whole_number(name, text, 1, high)
    if isinstance(value, dict):
        raise InvalidParameters([value])
    return value


@dataclass(frozen=True, slots=True)
class VersionFilters:
    query: ModelQuery
    page: int
    capability: str  # the form's flag, "" for none
    given: list[tuple[str, str]]  # every parameter with a value, as asked: the links keep them


def version_filters(pairs: list[tuple[str, str]]) -> VersionFilters:
    """What a version page is asked, read by the query API's own parser (`model_query`, and
    its `_one`: a name given twice is refused): a filter the API applies is applied here, one
    it refuses is refused with the same 422. Its rules are imported, not written again, so
    that the page and the API cannot come to read one query differently."""
    _known(pairs, VERSION_PARAMETERS, flags=True)
    given = _filled(pairs)
    page = _count("page", one_value(given, "page"), MAX_PAGE, default=1)
    capability = one_value(given, "capability") or ""
    # The form keeps what it has no field for as hidden inputs (a flag required false,
    # `as_of`); what the reader then chose in the form wins over them, instead of a 422:
    # a capability picked from the list over the hidden flag of that name, and Deprecated
    # set to "any" (submitted empty) over the `as_of` that only a deprecated filter takes.
    if capability:
        given = [(name, value) for name, value in given if name != capability]
    if ("deprecated", "") in pairs and one_value(given, "deprecated") is None:
        given = [(name, value) for name, value in given if name != "as_of"]
    asked = [(name, value) for name, value in given if name not in ("page", "capability")]
    if capability:
        if not capability.startswith("supports_"):
            raise InvalidParameters.one("capability", "must be a supports_* flag")
        asked.append((capability, "true"))
    return VersionFilters(model_query(asked), page, capability, given)


def _form(filters: VersionFilters) -> dict[str, Any]:
    """The form's fields as the page was asked, so that submitting it again asks the same:
    several providers, modes or modalities make their list a multiple choice."""
    query, values = filters.query, dict(filters.given)
    return {
        "q": query.q or "",
        "provider": query.providers,
        "mode": query.modes,
        "capability": filters.capability,
        "modality": query.modalities,
        "min_context": values.get("min_context", ""),
        "max_input_price": values.get("max_input_price", ""),
        "max_output_price": values.get("max_output_price", ""),
        "deprecated": {True: "true", False: "false", None: ""}[query.deprecated],
        "sort": ("-" if query.descending else "") + query.sort,
    }


@page_route("/catalog")
async def catalog_root() -> Response:
    """The engines are listed at `/`: a reader who cut the path short lands there."""
    return RedirectResponse("/", status_code=308)


@page_route("/catalog/{engine}")
async def engine_page(
    engine: str, service: Catalog = Depends(catalog), bounded: Blocking = Depends(blocking)
) -> Response:
    """An engine's page is its newest version's (a 404 page names the engines known)."""
    found = (await bounded.run(None, service.view)).engine(engine)
    if found.latest is None:  # every version yanked or a pre-release: the list says which
        return RedirectResponse("/", status_code=307)
    return RedirectResponse(f"/catalog/{quote(engine)}/{quote(found.latest.version)}", 307)


@page_route("/catalog/{engine}/compare")
async def compare_page(
    request: Request,
    engine: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    pairs = query_pairs(request.scope)
    _known(pairs, COMPARE_PARAMETERS)
    given = _filled(pairs)
    old, new = one_value(given, "from"), one_value(given, "to")
    if not old or not new:
        raise InvalidParameters.one("from" if not old else "to", "name the two versions to compare")
    shown = _count("shown", one_value(given, "shown"), 100_000, default=200)
    view = await bounded.run(None, service.view)
    versions = sort_versions(row.version for row in view.engine(engine).versions)

    charge = read_charge(request)

    def build() -> dict[str, Any]:
        charge()  # a diff is computed at every view (as the API's is when not cached)
        return diff_snapshots(service.snapshot(engine, old), service.snapshot(engine, new))

    diff = await bounded.run(request, build)
    return render(
        "compare.html",
        engine=engine,
        old=diff["from"]["engine_version"],
        new=diff["to"]["engine_version"],
        versions=list(reversed(versions)),
        summary=diff["summary"],
        added=diff["models"]["added"],
        removed=diff["models"]["removed"],
        changed=diff["models"]["changed"],
        shown=shown,
    )


@page_route("/catalog/{engine}/{version}")
async def version_page(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    filters = version_filters(query_pairs(request.scope))
    snapshot = await bounded.run(None, service.snapshot, engine, version, read_charge(request))
    view = await bounded.run(None, service.view)
    facets = await bounded.run(None, index_of, snapshot)
    # Every match at once (the API's `limit` is for its cursor): this page slices its own.
    query = replace(filters.query, limit=len(facets.models) or 1)
    selected = await bounded.run(None, select_models, snapshot, query, dt.date.today())
    pages = max(1, -(-selected.total // PAGE_SIZE))
    page = min(filters.page, pages)  # a link from a longer listing shows the last page
    shown = [
        {
            **m,
            "context": context_window(m),
            "input_price": per_million(m.get("input_cost"), "input_cost_per_token"),
            "output_price": per_million(m.get("output_cost"), "output_cost_per_token"),
        }
        for m in selected.items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    ]

    def url(number: int) -> str:
        kept = [(name, value) for name, value in filters.given if name != "page"]
        return f"/catalog/{engine}/{snapshot.version}?{urlencode([*kept, ('page', number)])}"

    versions = [row.version for row in view.engine(engine).versions]
    at = versions.index(snapshot.version) if snapshot.version in versions else -1
    return render(
        "version.html",
        engine=engine,
        engine_name=snapshot.engine_name,
        version=snapshot.version,
        previous=versions[at - 1] if at > 0 else None,
        total=selected.total,
        model_count=len(facets.models),
        models=shown,
        form=_form(filters),
        # Filters the form has no field for (a flag required false, `as_of`): kept, and shown.
        unlisted=[(n, v) for n, v in filters.given if n.startswith("supports_") or n == "as_of"],
        providers=[p["provider_type"] for p in snapshot.providers],
        modes=facets.modes,
        flags=facets.flags,
        modalities=facets.modalities,
        sorts=SORTS,
        page=page,
        pages=pages,
        prev_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
    )


@page_route("/catalog/{engine}/{version}/models")
async def models_root(request: Request, engine: str, version: str) -> Response:
    """A version's models are its page: a reader who cut a model's path short lands there
    (the router would otherwise add a slash and find no model named '')."""
    return _to_version_page(request, engine, version)


def _to_version_page(request: Request, engine: str, version: str) -> Response:
    query = request.url.query
    target = f"/catalog/{quote(engine)}/{quote(version)}" + (f"?{query}" if query else "")
    return RedirectResponse(target, status_code=308)


@page_route("/catalog/{engine}/{version}/models/{key:path}")
async def model_page(
    request: Request,
    engine: str,
    version: str,
    key: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    if not key:  # `.../models/`: no model is named by nothing
        return _to_version_page(request, engine, version)
    charge = read_charge(request)
    snapshot = await bounded.run(None, service.snapshot, engine, version, charge)
    model = (await bounded.run(None, index_of, snapshot)).by_key.get(key)
    if model is None:
        raise no_such_model(snapshot, key, f"{engine} {snapshot.version} has no model {key!r}")
    charge()  # its history is read from the database at every view
    appearances = await bounded.run(None, model_history.appearances, service.db, engine, key)
    found = await bounded.run(None, model_history.history, service.db, engine, key, appearances)
    for span in found["spans"]:
        span["input_price"] = per_million(span["model"].get("input_cost"), "input_cost_per_token")
        span["output_price"] = per_million(
            span["model"].get("output_cost"), "output_cost_per_token"
        )
    # Every field in full (the history table and the compare page shorten long values; this
    # is the page that shows them whole).
    fields = [
        (name, value if isinstance(value, str) else orjson.dumps(value).decode())
        for name, value in model.items()
        if name != "source_entry"
    ]
    return render(
        "model.html",
        engine=engine,
        version=snapshot.version,
        model=model,
        fields=fields,
        source=orjson.dumps(model["source_entry"], option=orjson.OPT_INDENT_2).decode(),
        history=found,
        chart=price_chart(engine, appearances),
    )


_Point = tuple[dt.datetime, str, float | None, float | None, bool]


def _without_backports(points: list[_Point]) -> list[_Point]:
    """The points (in version order) of final releases that were the newest when they came
    out: a patch of an older line uploaded after a newer release (LiteLLM does this) would
    send the line back in time, and so would a pre-release of a line before its finals (the
    table lists them all). What remains runs forward in time as it does in version."""
    kept, highest = set(), None
    finals = (p for p in points if is_final(p[1]))
    for _, version, *_ in sorted(finals, key=lambda p: (p[0], version_key(p[1]))):
        key = version_key(version)
        if highest is None or key >= highest:
            kept.add(version)
            highest = key
    return [point for point in points if point[1] in kept]


def price_chart(engine: str, appearances: list[model_history.Appearance]) -> str:
    """Input and output price per million tokens over release dates, as inline SVG."""
    # (release date, version, input price, output price, absent from a version before it)
    points: list[_Point] = []
    for appearance in appearances:
        record = appearance.record
        when, _ = model_history.released(appearance.row)
        points.append(
            (
                when,
                appearance.row.version,
                per_million(record.input_cost, "input_cost_per_token"),
                per_million(record.output_cost, "output_cost_per_token"),
                bool(appearance.absent_before),
            )
        )
    points = _without_backports(points)
    priced = [p for p in points if p[2] is not None or p[3] is not None]
    if not priced:
        return "<p>No per-token price in any version.</p>"
    width, height, left, bottom, top = 640, 240, 60, 40, 16
    start, end = min(p[0] for p in priced), max(p[0] for p in priced)
    span = max((end - start).total_seconds(), 1.0)
    highest = max(max(p[2] or 0.0, p[3] or 0.0) for p in priced) or 1.0

    def x(when: dt.datetime) -> float:
        return left + (width - left - 16) * ((when - start).total_seconds() / span)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - value / highest)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title"><title id="chart-title">Input and output price per '
        f"million tokens of this model over the release dates of {html.escape(engine)}</title>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 8}" y2="{height - bottom}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{_price(highest)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>',
        f'<text x="{left}" y="{height - 8}">{start.date().isoformat()}</text>',
        f'<text x="{width - 16}" y="{height - 8}" text-anchor="end">'
        f"{end.date().isoformat()}</text>",
    ]
    for index, (label, colour) in enumerate((("input", "#0b5cad"), ("output", "#c2410c"))):
        # The line breaks where the model was absent from a release, or had no such price:
        # a price is held until the next release only while the model is there to hold it.
        segments: list[list[tuple[dt.datetime, str, float]]] = []
        broken = True
        for when, version, input_price, output_price, gap in points:
            value = input_price if index == 0 else output_price
            if value is None:
                broken = True
                continue
            if broken or gap:
                segments.append([])
            segments[-1].append((when, version, value))
            broken = False
        series = [point for segment in segments for point in segment]
        if not series:
            continue
        for segment in segments:
            steps = []
            for number, (when, _, value) in enumerate(segment):
                if number:  # a step: prices hold until the next release
                    steps.append(f"{x(when):.1f},{y(segment[number - 1][2]):.1f}")
                steps.append(f"{x(when):.1f},{y(value):.1f}")
            parts.append(
                f'<polyline class="{label}" fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(steps)}"/>'
            )
        for when, version, value in series:
            parts.append(
                f'<circle class="{label}" cx="{x(when):.1f}" cy="{y(value):.1f}" r="3" '
                f'fill="{colour}"><title>{html.escape(version)} ({when.date().isoformat()}): '
                f"{label} {_price(value)} USD per million tokens</title></circle>"
            )
        parts.append(
            f'<text x="{width - 120}" y="{top + 14 + 14 * index}" fill="{colour}">'
            f"{label} $/M</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
