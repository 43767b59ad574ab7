"""The served form of one engine version: a catalog document and the digest of its content."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from budconnect.domain.records import JSONObject, ModelRecord, ProviderRecord


def model_document(record: ModelRecord, model_id: uuid.UUID, provider_id: uuid.UUID) -> JSONObject:
    """A model as every API response serves it; absent values are null, never missing."""
    date = record.deprecation_date
    return {
        "id": str(model_id),
        "uri": record.key,
        "mode": record.mode,
        "modality": record.modality,
        "provider_id": str(provider_id),
        "input_cost": record.input_cost,
        "output_cost": record.output_cost,
        "cache_cost": record.cache_cost,
        "search_context_cost_per_query": record.search_context_cost_per_query,
        "tokens": record.tokens,
        "rate_limits": record.rate_limits,
        "media_limits": record.media_limits,
        "features": record.features,
        "endpoints": record.endpoints,
        # Full ISO-8601 instants, as deployed clients have always received them.
        "deprecation_date": f"{date.isoformat()}T00:00:00Z" if date else None,
        "source_entry": record.source_entry,
    }


def provider_document(
    record: ProviderRecord, provider_id: uuid.UUID, models: list[JSONObject]
) -> JSONObject:
    return {
        "id": str(provider_id),
        "name": record.name,
        "provider_type": record.key,
        "icon": record.icon,
        "description": record.description,
        "capabilities": record.capabilities,
        "credentials": record.credentials,
        "models": models,
    }


@dataclass(slots=True)
class Snapshot:
    """Every provider and model one engine version serves, in a total, stable order."""

    engine: str
    engine_name: str
    version: str
    providers: list[JSONObject]
    digest: str
    # Derived encodings (JSON bytes, gzip, pages), filled in by whoever serves them.
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def model_count(self) -> int:
        return sum(len(p["models"]) for p in self.providers)


def build_snapshot(
    *,
    engine: str,
    engine_name: str,
    version: str,
    providers: Iterable[tuple[uuid.UUID, ProviderRecord]],
    models: Iterable[tuple[uuid.UUID, uuid.UUID, ModelRecord]],
) -> Snapshot:
    """Assemble the catalog: providers by key, each with its models by key (code-point order).

    Sorting here rather than in SQL keeps the order, and so the digest, independent of the
    database's collation.
    """
    providers = list(providers)
    models = list(models)
    by_provider: dict[uuid.UUID, list[tuple[str, JSONObject]]] = {}
    for model_id, provider_id, model in models:
        by_provider.setdefault(provider_id, []).append(
            (model.key, model_document(model, model_id, provider_id))
        )
    documents = []
    for provider_id, provider in sorted(providers, key=lambda item: item[1].key):
        rows = sorted(by_provider.get(provider_id, ()), key=lambda item: item[0])
        documents.append(provider_document(provider, provider_id, [doc for _, doc in rows]))
    digest = content_digest(
        engine=engine,
        version=version,
        providers=[(pid, record.digest()) for pid, record in providers],
        models=[(mid, pid, record.digest()) for mid, pid, record in models],
    )
    return Snapshot(
        engine=engine, engine_name=engine_name, version=version, providers=documents, digest=digest
    )


# Bump whenever model_document or provider_document changes what it renders, so that every
# digest (and ETag) changes with the served bytes.
WIRE_REVISION = 1


def content_digest(
    *,
    engine: str,
    version: str,
    providers: Iterable[tuple[uuid.UUID, str]],
    models: Iterable[tuple[uuid.UUID, uuid.UUID, str]],
) -> str:
    """The digest of a catalog, from its rows' ids and content digests.

    Every rendered value is a function of the rows' ids and canonical contents, which the row
    digests cover, so this changes exactly when the served catalog changes, and it costs a
    hash of a few hundred bytes per row instead of serializing the whole catalog again.
    """
    hasher = hashlib.sha256(f"budconnect-catalog/{WIRE_REVISION}\0{engine}\0{version}".encode())
    for pid, digest in sorted((str(pid), digest) for pid, digest in providers):
        hasher.update(f"\0p{pid}:{digest}".encode())
    for mid, pid, digest in sorted((str(m), str(p), d) for m, p, d in models):
        hasher.update(f"\0m{mid}:{pid}:{digest}".encode())
    return hasher.hexdigest()
