"""The web catalog for people: engines and versions, a version's models, a model's page with
its history, and a comparison of two versions. Server-rendered HTML, no script.

A version's models are shown 100 to a page (the filters, search and sorting of the query
API, applied on the server), so a 5,000-model version is as fast to show as a small one; a
comparison shows 200 entries per section until asked for more. Everything printed from the
data is escaped (Jinja2's autoescape); errors are pages with the same status as the API's.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from budconnect import __version__
from budconnect.api.blocking import Blocking
from budconnect.api.deps import blocking, catalog
from budconnect.api.queries import query_pairs
from budconnect.domain.versions import is_final, sort_versions
from budconnect.errors import InvalidParameters
from budconnect.services import history as model_history
from budconnect.services.catalog import Catalog
from budconnect.services.diffs import diff_snapshots
from budconnect.services.query import (
    ModelQuery,
    context_window,
    index_of,
    per_million,
    select_models,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
SORTS = (
    ("key", "Model key"),
    ("provider", "Provider"),
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
templates.filters["urlencode_path"] = lambda key: quote(key, safe="/:@*+,;=")
templates.globals["budconnect_version"] = __version__


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def error_page(status: int, title: str, detail: str) -> HTMLResponse:
    """The page for an error a user can meet: its status, title and detail, never a trace."""
    return render("error.html", status, title=title, detail=detail)


@router.get("/", response_class=HTMLResponse)
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


def _form(pairs: list[tuple[str, str]]) -> dict[str, str]:
    known = ("q", "provider", "mode", "capability", "modality", "min_context", "max_input_price",
             "max_output_price", "deprecated", "sort", "page")  # fmt: skip
    form = dict.fromkeys(known, "")
    for name, value in pairs:
        if name in form:
            form[name] = value.strip()
    form["sort"] = form["sort"] or "key"
    return form


def _whole(text: str, high: int) -> int | None:
    """A page or count from a link or form: a whole number from 1 to `high`, else None (the
    page then shows its default rather than an error: these come from our own links)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))):
        return None
    value = int(text)
    return value if 1 <= value <= high else None


def _number(name: str, text: str, whole: bool = False) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameters.one(name, "must be a number") from None
    if not math.isfinite(value) or value < 0 or (whole and not value.is_integer()):
        raise InvalidParameters.one(name, "must be a number of 0 or more")
    return value


@router.get("/catalog/{engine}/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    engine: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    params = dict(request.query_params)
    old, new = params.get("from", ""), params.get("to", "")
    if not old or not new:
        raise InvalidParameters.one("from" if not old else "to", "name the two versions to compare")
    shown_text = params.get("shown", "200")
    shown = _whole(shown_text, high=100_000) or 200
    view = await bounded.run(None, service.view)
    versions = sort_versions(row.version for row in view.engine(engine).versions)

    def build() -> dict[str, Any]:
        return diff_snapshots(service.snapshot(engine, old), service.snapshot(engine, new))

    diff = await bounded.run(None, build)
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


@router.get("/catalog/{engine}/{version}", response_class=HTMLResponse)
async def version_page(
    request: Request,
    engine: str,
    version: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    pairs = query_pairs(request.scope)
    form = _form(pairs)
    snapshot = await bounded.run(None, service.snapshot, engine, version)
    view = await bounded.run(None, service.view)
    sort = form["sort"] if form["sort"] in dict(SORTS) else "key"
    page = _whole(form["page"], high=1_000_000) or 1
    facets = await bounded.run(None, index_of, snapshot)
    min_context = _number("min_context", form["min_context"], whole=True)
    deprecated = {"true": True, "false": False}.get(form["deprecated"])
    query = ModelQuery(
        providers=(form["provider"],) if form["provider"] else (),
        modes=(form["mode"],) if form["mode"] else (),
        flags=((form["capability"], True),) if form["capability"] else (),
        modalities=(form["modality"],) if form["modality"] else (),
        min_context=int(min_context) if min_context is not None else None,
        max_input_price=_number("max_input_price", form["max_input_price"]),
        max_output_price=_number("max_output_price", form["max_output_price"]),
        deprecated=deprecated,
        q=form["q"] or None,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        limit=len(facets.models) or 1,
    )
    selected = await bounded.run(None, select_models, snapshot, query, dt.date.today())
    pages = max(1, -(-selected.total // PAGE_SIZE))
    page = min(page, pages)
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
        kept = {k: v for k, v in form.items() if v and k != "page"}
        return f"/catalog/{engine}/{snapshot.version}?{urlencode({**kept, 'page': number})}"

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
        form=form,
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


@router.get("/catalog/{engine}/{version}/models/{key:path}", response_class=HTMLResponse)
async def model_page(
    engine: str,
    version: str,
    key: str,
    service: Catalog = Depends(catalog),
    bounded: Blocking = Depends(blocking),
) -> Response:
    snapshot = await bounded.run(None, service.snapshot, engine, version)
    model = (await bounded.run(None, index_of, snapshot)).by_key.get(key)
    if model is None:
        raise model_history.UnknownModel(f"{engine} {snapshot.version} has no model {key!r}")
    appearances = await bounded.run(None, model_history.appearances, service.db, engine, key)
    found = await bounded.run(None, model_history.history, service.db, engine, key, appearances)
    for span in found["spans"]:
        span["input_price"] = per_million(span["model"].get("input_cost"), "input_cost_per_token")
        span["output_price"] = per_million(
            span["model"].get("output_cost"), "output_cost_per_token"
        )
    fields = [
        (name, _compact(value) if not isinstance(value, str) else value)
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


def price_chart(engine: str, appearances: list[model_history.Appearance]) -> str:
    """Input and output price per million tokens over release dates, as inline SVG."""
    points: list[tuple[dt.datetime, str, float | None, float | None]] = []
    for appearance in appearances:
        record = appearance.record
        when, _ = model_history.released(appearance.row)
        points.append(
            (
                when,
                appearance.row.version,
                per_million(record.input_cost, "input_cost_per_token"),
                per_million(record.output_cost, "output_cost_per_token"),
            )
        )
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
        series: list[tuple[dt.datetime, str, float]] = []
        for when, version, input_price, output_price in priced:
            value = input_price if index == 0 else output_price
            if value is not None:
                series.append((when, version, value))
        if not series:
            continue
        steps = []
        for number, (when, _, value) in enumerate(series):
            if number:
                steps.append(f"{x(when):.1f},{y(series[number - 1][2]):.1f}")  # a step: prices
            steps.append(f"{x(when):.1f},{y(value):.1f}")  # hold until the next release
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
