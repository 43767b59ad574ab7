"""The served form of one engine version: providers with their models, and its digest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from budconnect.domain import identity
from budconnect.domain.documents import (
    ModelTemplate,
    catalog_digest,
    content_lines,
    document_digest,
    lines_digest,
    model_document,
    provider_document,
    template_lines,
)
from budconnect.domain.records import JSONObject, ModelRecord, ProviderRecord


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
    # Bytes it takes in memory, estimated: about three times its JSON (measured with
    # tracemalloc on 1.100.5: 11.1 MB for 3.9 MB of JSON).
    size: int = 0

    @property
    def model_count(self) -> int:
        return sum(len(p["models"]) for p in self.providers)


def documents(
    engine: str,
    version: str,
    providers: Iterable[ProviderRecord],
    models: Iterable[ModelRecord],
) -> list[JSONObject]:
    """Provider documents by key, each with its model documents by key (code-point order).

    Ids are UUIDv5 of engine, version and key. Sorting here rather than in SQL keeps the
    order, and so every served byte, independent of the database's collation.
    """
    by_provider: dict[str, list[ModelRecord]] = {}
    for model in models:
        by_provider.setdefault(model.provider_key, []).append(model)
    served = []
    for record in sorted(providers, key=lambda p: p.key):
        pid = identity.provider_id_text(engine, version, record.key)
        document = provider_document(record, pid)
        document["models"] = [
            model_document(m, identity.model_id_text(engine, version, m.key), pid)
            for m in sorted(by_provider.get(record.key, ()), key=lambda m: m.key)
        ]
        served.append(document)
    return served


def records_digest(
    *,
    engine: str,
    version: str,
    providers: Sequence[ProviderRecord],
    models: Sequence[ModelRecord],
    extras: JSONObject,
    templates: Sequence[ModelTemplate | None],
) -> str:
    """The content digest of the catalog these records serve, without building it:
    `catalog_digest` of `documents(...)`, from each model's template (`templates[i]` is that
    of `models[i]`, or None to encode the document)."""
    pids = {p.key: identity.provider_id_text(engine, version, p.key) for p in providers}
    provider_lines = content_lines(
        "p", ((pids[p.key], document_digest(provider_document(p, pids[p.key]))) for p in providers)
    )
    mids = identity.model_ids_text(engine, version, [record.key for record in models])
    pid_bytes = {key: pid.encode() for key, pid in pids.items()}
    rows = zip(models, templates, mids, strict=True)
    model_lines = template_lines(
        (t, mid, pid_bytes[r.provider_key]) for r, t, mid in rows if t is not None
    )
    if len(model_lines) < len(models):
        model_lines += content_lines(
            "m",
            (
                (mid, document_digest(model_document(r, mid, pids[r.provider_key])))
                for r, t, mid in zip(models, templates, mids, strict=True)
                if t is None
            ),
        )
    return lines_digest(
        engine=engine,
        version=version,
        provider_lines=provider_lines,
        model_lines=model_lines,
        extras=extras,
    )


def build_snapshot(
    *,
    engine: str,
    engine_name: str,
    version: str,
    revision: int,
    providers: Iterable[ProviderRecord],
    models: Iterable[ModelRecord],
    extras: JSONObject,
    digest: str | None = None,
) -> Snapshot:
    """The snapshot of these records; `digest` is computed unless the caller knows it."""
    served = documents(engine, version, providers, models)
    size = 3 * (len(orjson.dumps(served)) + len(orjson.dumps(extras)))
    return Snapshot(
        engine=engine,
        engine_name=engine_name,
        version=version,
        revision=revision,
        providers=served,
        digest=digest
        or catalog_digest(engine=engine, version=version, providers=served, extras=extras),
        extras=extras,
        size=size,
    )
