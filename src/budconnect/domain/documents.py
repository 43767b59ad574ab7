"""The wire documents of a catalog (providers and models as served) and their digests.

The content digest of a catalog is computed from its documents alone, so a client can verify a
catalog it received, and a server can compute it from the per-row digests it stores:

    row digest     = sha256(canonical JSON of one provider document without `models`,
                            or of one model document)
    content digest = sha256("budconnect-catalog/<revision>" 0 engine 0 version,
                            then, sorted by id, 0 "p<id>:<row digest>" for each provider
                            and 0 "m<id>:<row digest>" for each model,
                            then, sorted by key, 0 "x" canonical JSON of [key, value digest]
                            for each extra top-level entry of the source file)

where a value digest is sha256 of the canonical JSON of the value. Canonical JSON is what
`canonical_json` writes: keys sorted, no spaces, non-ASCII characters as UTF-8.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from budconnect.domain.records import JSONObject, ModelRecord, ProviderRecord, canonical_json

# The file name LiteLLM ships its model map under; the registry serves and clients write it.
LITELLM_MAP = "model_prices_and_context_window.json"
# Bump whenever the documents below change what they render, so every digest changes too.
# The values of a model's `modality`: the only ones deployed BudServe clients accept.
MODALITIES = (
    "text_input",
    "text_output",
    "image_input",
    "image_output",
    "audio_input",
    "audio_output",
)
WIRE_REVISION = 2  # 2: `alias_of` in models, extras in the digest


def model_document(
    record: ModelRecord, model_id: uuid.UUID | str, provider_id: uuid.UUID | str
) -> JSONObject:
    """A model as every API response serves it; absent values are null, never missing."""
    date = record.deprecation_date
    return {
        "id": str(model_id),
        "uri": record.key,
        "alias_of": record.alias_of,
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


def provider_document(record: ProviderRecord, provider_id: uuid.UUID | str) -> JSONObject:
    """A provider as served, without its `models` list."""
    return {
        "id": str(provider_id),
        "name": record.name,
        "provider_type": record.key,
        "icon": record.icon,
        "description": record.description,
        "capabilities": record.capabilities,
        "credentials": record.credentials,
    }


def document_digest(document: JSONObject) -> str:
    """The digest of one provider (without `models`) or model document."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


# Stand-ins for the ids in a model document's canonical JSON, random per process so that no
# data can hold them; a template whose split finds them anywhere else is not made.
_MODEL_ID_MARK = f"budconnect-model-id-{uuid.uuid4().hex}"
_PROVIDER_ID_MARK = f"budconnect-provider-id-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class ModelTemplate:
    """A model document's canonical JSON without its two ids (the only parts that depend on
    the version), so that the row digest of the same record in another version costs one
    hash instead of building and encoding the document again."""

    head: bytes
    middle: bytes
    tail: bytes

    def digest(self, model_id: str, provider_id: str) -> str:
        """`document_digest(model_document(record, model_id, provider_id))`."""
        return template_digests([(self, model_id, provider_id.encode())])[0]


def template_digests(items: Iterable[tuple[ModelTemplate, str, bytes]]) -> list[str]:
    """`template.digest(model_id, provider_id)` of each (template, model_id, provider_id as
    UTF-8), for a whole version at once: one loop, no call per model."""
    sha256 = hashlib.sha256
    join = b"".join
    return [
        sha256(join((t.head, model_id.encode(), t.middle, provider_id, t.tail))).hexdigest()
        for t, model_id, provider_id in items
    ]


def template_lines(items: Iterable[tuple[ModelTemplate, str, bytes]]) -> list[str]:
    """The content digest's model line (see `content_lines`) of each (template, model_id,
    provider_id as UTF-8): `template_digests` and the line in one pass, strings only (a whole
    version's worth of tuples kept alive would wake the garbage collector)."""
    sha256 = hashlib.sha256
    join = b"".join
    return [
        "\0m%s:%s"  # noqa: UP031 (%-formatting is the fastest here)
        % (model_id, sha256(join((t.head, model_id.encode(), t.middle, pid, t.tail))).hexdigest())
        for t, model_id, pid in items
    ]


def model_template(record: ModelRecord) -> ModelTemplate | None:
    """The template of `record`'s document; None in the (never seen) case that the record's
    own data holds one of the stand-ins."""
    encoded = canonical_json(model_document(record, _MODEL_ID_MARK, _PROVIDER_ID_MARK))
    head, *rest = encoded.split(_MODEL_ID_MARK.encode())
    if len(rest) != 1:
        return None
    middle, *tail = rest[0].split(_PROVIDER_ID_MARK.encode())
    if len(tail) != 1:
        return None
    return ModelTemplate(head, middle, tail[0])


def content_digest(
    *,
    engine: str,
    version: str,
    providers: Iterable[tuple[uuid.UUID | str, str]],
    models: Iterable[tuple[uuid.UUID | str, str]],
    extras: JSONObject | None = None,
) -> str:
    """Combine (id, row digest) pairs of every provider and model, and the extra top-level
    entries of the source file, into the catalog's digest."""
    return lines_digest(
        engine=engine,
        version=version,
        provider_lines=content_lines("p", providers),
        model_lines=content_lines("m", models),
        extras=extras,
    )


def content_lines(kind: str, pairs: Iterable[tuple[uuid.UUID | str, str]]) -> list[str]:
    """The line the content digest hashes for each (id, row digest) of one kind ("p" or
    "m"), in any order."""
    return [f"\0{kind}{item_id}:{digest}" for item_id, digest in pairs]


def lines_digest(
    *,
    engine: str,
    version: str,
    provider_lines: list[str],
    model_lines: list[str],
    extras: JSONObject | None,
) -> str:
    """The content digest from the lines of every provider and model (see `content_lines`),
    in any order. Ids are UUID texts, all of one length, so lines sort as their ids do."""
    hasher = hashlib.sha256(f"budconnect-catalog/{WIRE_REVISION}\0{engine}\0{version}".encode())
    hasher.update("".join(sorted(provider_lines)).encode())
    hasher.update("".join(sorted(model_lines)).encode())
    for key, value in sorted((extras or {}).items()):
        value_digest = hashlib.sha256(canonical_json(value)).hexdigest()
        hasher.update(b"\0x" + canonical_json([key, value_digest]))
    return hasher.hexdigest()


def catalog_digest(
    *, engine: str, version: str, providers: list[dict[str, Any]], extras: JSONObject | None = None
) -> str:
    """The content digest of served provider documents (each with its `models` list) and the
    source file's extra entries, as a catalog document carries them."""
    provider_pairs: list[tuple[str, str]] = []
    model_pairs: list[tuple[str, str]] = []
    for provider in providers:
        header = {name: value for name, value in provider.items() if name != "models"}
        provider_pairs.append((provider["id"], document_digest(header)))
        model_pairs.extend((m["id"], document_digest(m)) for m in provider["models"])
    return content_digest(
        engine=engine, version=version, providers=provider_pairs, models=model_pairs, extras=extras
    )


def litellm_map(providers: Iterable[JSONObject], extras: JSONObject) -> JSONObject:
    """A version in LiteLLM's own format: the source file's document, sorted by key.

    Models give their original entries (an alias its alias row), and the file's other
    top-level entries come back as they were, so LiteLLM loads what its release shipped.
    """
    entries: JSONObject = {
        model["uri"]: model["source_entry"]
        for provider in providers
        for model in provider["models"]
    }
    entries.update(extras)
    return dict(sorted(entries.items()))
