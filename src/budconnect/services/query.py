"""Questions people ask of one version's catalog: filter, search, sort and page its models.

Everything here is pure and works on a Snapshot (already in memory): a filtered query of the
largest version is a pass over a few thousand documents, answered in milliseconds.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import difflib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from budconnect.domain.records import JSONObject
from budconnect.errors import BudConnectError, InvalidParameters
from budconnect.services.catalog import LATEST
from budconnect.services.history import UnknownModel
from budconnect.services.lru import LRU
from budconnect.services.snapshots import Snapshot

MAX_LIMIT = 500
SORTS = ("key", "input_price", "output_price", "context", "provider")
# Model fields one may ask for with `fields=` (the document's own, plus the provider's key).
MODEL_FIELDS = (
    "id", "uri", "alias_of", "mode", "modality", "provider_id", "provider_type", "input_cost",
    "output_cost", "cache_cost", "search_context_cost_per_query", "tokens", "rate_limits",
    "media_limits", "features", "endpoints", "deprecation_date", "source_entry",
)  # fmt: skip
PROVIDER_FIELDS = (
    "id", "name", "provider_type", "icon", "description", "capabilities", "credentials",
    "model_count",
)  # fmt: skip


class CursorOutdated(BudConnectError):
    status = 409
    title = "Cursor outdated"


@dataclass(frozen=True, slots=True)
class ModelQuery:
    providers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()  # supports_*: required value
    modalities: tuple[str, ...] = ()  # every one of them
    min_context: int | None = None
    max_input_price: float | None = None  # USD per million input tokens
    max_output_price: float | None = None
    deprecated: bool | None = None
    as_of: dt.date | None = None
    q: str | None = None
    sort: str = "key"
    descending: bool = False
    limit: int = 50
    cursor: str | None = None
    fields: tuple[str, ...] | None = None


@dataclass(slots=True)
class Page:
    total: int
    items: list[JSONObject]
    next_cursor: str | None
    flags: list[str] = field(default_factory=list)


def per_million(cost: JSONObject | None, name: str) -> float | None:
    """A per-token price, in USD per million tokens."""
    value = (cost or {}).get(name)
    return None if value is None else float(value) * 1_000_000


def context_window(model: JSONObject) -> int | None:
    tokens = model.get("tokens") or {}
    value = tokens.get("max_input_tokens", tokens.get("max_tokens"))
    return int(value) if isinstance(value, int) else None


def deprecated_on(model: JSONObject) -> dt.date | None:
    value = model.get("deprecation_date")
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else None


def models_of(snapshot: Snapshot) -> list[JSONObject]:
    """Every model of the snapshot, each with its provider's key, in key order."""
    models = [
        {**model, "provider_type": provider["provider_type"]}
        for provider in snapshot.providers
        for model in provider["models"]
    ]
    models.sort(key=lambda m: m["uri"])
    return models


@dataclass(frozen=True)
class ModelIndex:
    """A snapshot's models in key order, by key, and its flags. Built once per snapshot:
    every query, search and page of a version reads the same one. Shared: never mutate."""

    models: tuple[JSONObject, ...]
    by_key: dict[str, JSONObject]
    flags: list[str]
    modes: list[str]
    modalities: list[str]


# A few versions are queried at a time; an index costs about as much as its snapshot's JSON.
_INDEXES: LRU[str, ModelIndex] = LRU(4)


def index_of(snapshot: Snapshot) -> ModelIndex:
    found = _INDEXES.get(snapshot.digest)
    if found is None:
        models = models_of(snapshot)
        found = ModelIndex(
            models=tuple(models),
            by_key={m["uri"]: m for m in models},
            flags=flags_of(models),
            modes=sorted({m["mode"] for m in models if m["mode"]}),
            modalities=sorted({x for m in models for x in m["modality"]}),
        )
        _INDEXES.put(snapshot.digest, found)
    return found


def flags_of(models: Iterable[JSONObject]) -> list[str]:
    """Every capability flag (`supports_*`) the data has."""
    return sorted({name for m in models for name in (m.get("features") or {})})


def _mentions(model: JSONObject, provider_names: dict[str, str], needle: str) -> bool:
    """`needle` (lower case) is in the model's key, its provider's key or its provider's name:
    in one of them, never across two."""
    provider = model["provider_type"]
    return any(
        needle in text.lower()
        for text in (model["uri"], provider, provider_names.get(provider, ""))
    )


def _value_of(sort: str) -> Callable[[JSONObject], float | None]:
    if sort == "context":
        return lambda m: context_window(m)
    if sort == "input_price":
        return lambda m: per_million(m.get("input_cost"), "input_cost_per_token")
    return lambda m: per_million(m.get("output_cost"), "output_cost_per_token")


def _order(models: list[JSONObject], sort: str, descending: bool) -> list[JSONObject]:
    """Models in the order asked for; models without the value sorted on come last, by key."""
    if sort == "key":
        return sorted(models, key=lambda m: m["uri"], reverse=descending)
    if sort == "provider":
        return sorted(models, key=lambda m: (m["provider_type"], m["uri"]), reverse=descending)
    value = _value_of(sort)
    present = [m for m in models if value(m) is not None]
    missing = [m for m in models if value(m) is None]
    if descending:
        present.sort(key=lambda m: (-(value(m) or 0.0), m["uri"]))
    else:
        present.sort(key=lambda m: (value(m) or 0.0, m["uri"]))
    return present + missing


def select_models(
    snapshot: Snapshot, query: ModelQuery, today: dt.date, named: str | None = None
) -> Page:
    """The page of models matching `query`; unknown models last when sorting by a value.
    `named` is the version as the request named it (`latest`, or the snapshot's own)."""
    index = index_of(snapshot)
    models, known_flags = index.models, index.flags
    unknown = [name for name, _ in query.flags if name not in known_flags]
    if unknown:
        raise InvalidParameters(
            [
                {
                    "parameter": name,
                    "in": "query",
                    "message": "no model of this version has "
                    f"this flag; known flags: {', '.join(known_flags)}",
                }
                for name in unknown
            ]
        )
    names = {p["provider_type"]: p["name"] for p in snapshot.providers}
    needle = query.q.lower() if query.q else None
    as_of = query.as_of or today
    selected = []
    for model in models:
        if query.providers and model["provider_type"] not in query.providers:
            continue
        if query.modes and model["mode"] not in query.modes:
            continue
        features = model.get("features") or {}
        if any(features.get(name, False) is not wanted for name, wanted in query.flags):
            continue
        if query.modalities and not set(query.modalities) <= set(model["modality"]):
            continue
        if query.min_context is not None and (context_window(model) or 0) < query.min_context:
            continue
        if query.max_input_price is not None and not _at_most(
            per_million(model.get("input_cost"), "input_cost_per_token"), query.max_input_price
        ):
            continue
        if query.max_output_price is not None and not _at_most(
            per_million(model.get("output_cost"), "output_cost_per_token"), query.max_output_price
        ):
            continue
        if query.deprecated is not None:
            date = deprecated_on(model)
            if (date is not None and date <= as_of) is not query.deprecated:
                continue
        if needle and not _mentions(model, names, needle):
            continue
        selected.append(model)
    selected = _order(selected, query.sort, query.descending)
    asked = _fingerprint(dataclasses.replace(query, limit=0, cursor=None, fields=None))
    offset = _offset(query.cursor, snapshot, asked, named)
    items = selected[offset : offset + query.limit]
    following = offset + query.limit
    next_cursor = _cursor(snapshot, following, asked, named) if following < len(selected) else None
    if query.fields is not None:
        items = [{name: m[name] for name in query.fields} for m in items]
    return Page(len(selected), items, next_cursor, known_flags)


def no_such_model(snapshot: Snapshot, key: str, lead: str) -> UnknownModel:
    """The 404 for `key`, naming up to five similar keys of `snapshot` (keys are case-sensitive,
    as LiteLLM's are: one that differs only in case comes first). `lead` says what lacks it."""
    keys = index_of(snapshot).by_key
    same_but_case = [k for k in keys if k.lower() == key.lower() and k != key]
    close = same_but_case + [
        k
        for k in difflib.get_close_matches(key, keys, n=6, cutoff=0.6)
        if k not in same_but_case and k != key
    ]
    close = close[:5]
    where = (
        ""
        if lead.startswith(f"{snapshot.engine} {snapshot.version} ")
        else (f" (in {snapshot.version})")
    )
    # The key itself is no suggestion: a history at a date before the key came is asked of
    # a key the newest release has, and is better told so.
    held = f"; {snapshot.version} has {key!r}" if key in keys and where else ""
    return UnknownModel(
        lead + held + (f"; similar keys{where}: {', '.join(close)}" if close else ""),
        similar=close,
    )


def select_providers(
    snapshot: Snapshot,
    q: str | None,
    limit: int,
    cursor: str | None,
    fields: tuple[str, ...] | None,
    named: str | None = None,
) -> Page:
    providers = [
        {**{k: v for k, v in p.items() if k != "models"}, "model_count": len(p["models"])}
        for p in snapshot.providers
    ]
    if q:
        needle = q.lower()
        providers = [
            p for p in providers
            if needle in p["provider_type"].lower() or needle in p["name"].lower()
        ]  # fmt: skip
    asked = _fingerprint(("providers", q))
    offset = _offset(cursor, snapshot, asked, named)
    items = providers[offset : offset + limit]
    following = offset + limit
    next_cursor = _cursor(snapshot, following, asked, named) if following < len(providers) else None
    if fields is not None:
        items = [{name: p[name] for name in fields} for p in items]
    return Page(len(providers), items, next_cursor)


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit + 1e-12


# A cursor names the snapshot, the version (and how it was named: `latest` or its own name)
# and the question (filters, search, sort) it pages through: used with another version or
# another question it would skip into a different list without a word.
def _fingerprint(question: object) -> str:
    return hashlib.sha256(repr(question).encode()).hexdigest()[:12]


def _cursor(snapshot: Snapshot, offset: int, asked: str, named: str | None) -> str:
    token = orjson.dumps([snapshot.digest[:16], offset, asked, snapshot.version, named])
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def _offset(cursor: str | None, snapshot: Snapshot, asked: str, named: str | None) -> int:
    """The offset a cursor stands for; it must come from this very snapshot and question."""
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        prefix, offset, question, version, was_named = orjson.loads(
            base64.urlsafe_b64decode(padded)
        )
        if not isinstance(offset, int) or offset < 0 or not isinstance(prefix, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidParameters.one("cursor", "not a cursor this server gave") from None
    if version != snapshot.version and named == LATEST and was_named == LATEST:
        # The same question of `latest`, which has moved on: the list it paged is gone.
        raise CursorOutdated(
            f"latest is {snapshot.version} now, not {version} as when this cursor was given; "
            "start again without it"
        )
    if version != snapshot.version:
        raise InvalidParameters.one(
            "cursor", f"this cursor pages through version {version}, not {snapshot.version}"
        )
    if question != asked:
        raise InvalidParameters.one(
            "cursor",
            "this cursor pages through another question (other filters, search or sort); "
            "ask the same one, or start again without it",
        )
    if prefix != snapshot.digest[:16]:
        raise CursorOutdated(
            "the version changed since this cursor was given; start again without it"
        )
    return offset
