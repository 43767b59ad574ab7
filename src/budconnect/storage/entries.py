"""Content-addressed entries: what a provider or model row holds, and the digest naming it.

An entry's digest is sha256 of the canonical JSON of its stored content, so equal content
is one row whichever version (or seed) brings it. Ids and digests of served documents are
per version and derived when a version is read; they are not part of an entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
from typing import Any

from budconnect.domain.records import JSONObject, ModelRecord, ProviderRecord, canonical_json

PROVIDER_FIELDS = ("key", "name", "description", "icon", "capabilities", "credentials")
MODEL_FIELDS = (
    "key", "provider_key", "alias_of", "mode", "modality", "endpoints", "deprecation_date",
    "input_cost", "output_cost", "cache_cost", "search_context_cost_per_query", "tokens",
    "rate_limits", "media_limits", "features", "source_entry",
)  # fmt: skip
JSON_MODEL_FIELDS = frozenset(MODEL_FIELDS) - {
    "key", "provider_key", "alias_of", "mode", "deprecation_date",
}  # fmt: skip


def digest_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


# The fields' values of a record as one tuple, read in C: every model of a fresh seed is
# read this way twice (its digest, its row).
provider_fields = operator.attrgetter(*PROVIDER_FIELDS)
model_fields = operator.attrgetter(*MODEL_FIELDS)


def provider_values(record: ProviderRecord) -> JSONObject:
    return dict(zip(PROVIDER_FIELDS, provider_fields(record), strict=True))


def model_values(record: ModelRecord) -> JSONObject:
    return dict(zip(MODEL_FIELDS, model_fields(record), strict=True))


def provider_digest(record: ProviderRecord) -> str:
    return digest_of(provider_values(record))


def model_digest(record: ModelRecord) -> str:
    values = model_values(record)
    date = values["deprecation_date"]
    values["deprecation_date"] = date.isoformat() if date else None
    return digest_of(values)


def provider_record(row: Any) -> ProviderRecord:
    return ProviderRecord(**{name: getattr(row, name) for name in PROVIDER_FIELDS})


def model_record(row: Any) -> ModelRecord:
    values = {name: getattr(row, name) for name in MODEL_FIELDS}
    date = values["deprecation_date"]
    if isinstance(date, str):  # SQLite through the raw driver
        values["deprecation_date"] = dt.date.fromisoformat(date)
    return ModelRecord(**values)
