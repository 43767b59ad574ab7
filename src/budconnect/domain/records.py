"""Plain records of one engine version's catalog, as parsers produce them and storage keeps them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

JSONObject = dict[str, Any]


def canonical_json(value: Any) -> bytes:
    """Bytes that are equal exactly when the JSON values are equal (key order ignored)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class ProviderRecord:
    """A provider as one engine version knows it."""

    key: str
    name: str
    description: str
    icon: str
    capabilities: list[str]
    credentials: list[JSONObject]


@dataclass(slots=True)
class ModelRecord:
    """A model of one engine version, normalized, with its source entry kept verbatim."""

    key: str
    provider_key: str
    mode: str | None
    modality: list[str]
    endpoints: list[str]
    deprecation_date: dt.date | None
    input_cost: JSONObject | None
    output_cost: JSONObject | None
    cache_cost: JSONObject | None
    search_context_cost_per_query: JSONObject | None
    tokens: JSONObject | None
    rate_limits: JSONObject | None
    media_limits: JSONObject | None
    features: JSONObject | None
    source_entry: JSONObject
    # The key an alias row (or a pointer entry) names; the fields above are those of the
    # model the alias resolves to, and `source_entry` is the alias row itself.
    alias_of: str | None = None


@dataclass(frozen=True, slots=True)
class EntryIssue:
    """An entry of a source file the parser skipped or had to repair, and why."""

    key: str
    action: Literal["skipped", "repaired"]
    reason: str


def issues_of(issues: list[EntryIssue], action: str) -> list[EntryIssue]:
    return [issue for issue in issues if issue.action == action]


@dataclass(slots=True)
class ParsedCatalog:
    """Everything one source file holds: providers and models sorted by key, plus the issues.

    `extras` are the file's other top-level entries (documentation such as `sample_spec`,
    metadata, alias rows that resolve to nothing, pointer strings), kept so that the engine's
    own format can be served back exactly as the file holds it.
    """

    providers: list[ProviderRecord]
    models: list[ModelRecord]
    issues: list[EntryIssue] = field(default_factory=list)
    extras: JSONObject = field(default_factory=dict)
    # Exact text of a model's member in the source file (as the parser's decoder knows it, see
    # `seeders.members.piece_of`) -> its record, for the models a parse of another file may
    # take as they are when it holds the same text (see the parser's `previous`). Not part of
    # what the file says: left out of equality.
    reusable: dict[str, ModelRecord] = field(default_factory=dict, compare=False, repr=False)
    # The member texts of the file in order (`seeders.members.Decoded.layout`), so that a
    # later parse finds them where they were.
    layout: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def skipped(self) -> list[EntryIssue]:
        return issues_of(self.issues, "skipped")

    @property
    def repaired(self) -> list[EntryIssue]:
        return issues_of(self.issues, "repaired")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an engine version came from.

    `origin`: "bundled" (shipped in this package), "file" (seeded from a file), "index" (a
    release on a package index) or "publish" (PUT over HTTP). For a release: when the index
    says it was uploaded, or, with `released_at_source` "first-seen", when BudConnect first
    saw it (the index gave no time); and the wheel the model map came out of.
    """

    origin: str = "file"
    released_at: dt.datetime | None = None
    released_at_source: Literal["index", "first-seen"] | None = None
    wheel_filename: str | None = None
    wheel_sha256: str | None = None
