"""The served form of one engine version: providers with their models, and its digest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from budconnect.domain.documents import content_digest, model_document, provider_document
from budconnect.domain.records import IdentifiedModel, IdentifiedProvider, JSONObject


@dataclass(slots=True)
class Snapshot:
    """Every provider and model one engine version serves, in a total, stable order.

    Immutable once built: it is shared between requests and threads, and cached by digest.
    """

    engine: str
    engine_name: str
    version: str
    revision: int
    providers: list[JSONObject]
    digest: str
    # The source file's top-level entries that are not models (see ParsedCatalog.extras).
    extras: JSONObject = field(default_factory=dict)

    @property
    def model_count(self) -> int:
        return sum(len(p["models"]) for p in self.providers)


def build_snapshot(
    *,
    engine: str,
    engine_name: str,
    version: str,
    revision: int,
    providers: Iterable[IdentifiedProvider],
    models: Iterable[IdentifiedModel],
    extras: JSONObject,
) -> Snapshot:
    """Assemble the catalog: providers by key, each with its models by key (code-point order).

    Sorting here rather than in SQL keeps the order, and so every served byte, independent of
    the database's collation.
    """
    providers = list(providers)
    models = list(models)
    by_provider: dict[Any, list[IdentifiedModel]] = {}
    for model in models:
        by_provider.setdefault(model.provider_id, []).append(model)
    documents = []
    for row in sorted(providers, key=lambda p: p.record.key):
        document = provider_document(row.record, row.id)
        document["models"] = [
            model_document(m.record, m.id, m.provider_id)
            for m in sorted(by_provider.get(row.id, ()), key=lambda m: m.record.key)
        ]
        documents.append(document)
    digest = content_digest(
        engine=engine,
        version=version,
        providers=[(p.id, p.digest) for p in providers],
        models=[(m.id, m.digest) for m in models],
        extras=extras,
    )
    return Snapshot(
        engine=engine,
        engine_name=engine_name,
        version=version,
        revision=revision,
        providers=documents,
        digest=digest,
        extras=extras,
    )
