"""Entry ids a seed may take without looking them up: those of the version it wrote last.

A release shares all but a few of its entries with the one before, yet finding the ids of
3,400 entries by digest is a query over all of them (about a tenth of a seed on PostgreSQL).
Entries are immutable and never deleted, so once a transaction that found or inserted them
has committed, their digests name those ids in that database for good. This process keeps,
per engine, the ids of the last version it committed (an `Anchor`); the next seed looks up
only the digests the anchor does not hold.

The ids are taken only if, in the seed's own transaction, the database is the one they came
from (the registry's random `instance`, so a database made again at the same address is
another one) and the anchor's version still holds exactly those entries (its packed
membership and content digest, so a restored backup or another writer's change to it is
seen). Anything else: the anchor is not used, and every digest is looked up.

The anchor also keeps the model count of every version of the engine as the seed left them,
which the gates compare a new source with: taken only while, besides, the registry revision is
the one that seed committed (every write that adds a version or changes its models raises it),
so that a seed does not read the counts of 800 versions again when nothing else was written.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Anchor:
    """The entries of one committed version: its packed memberships, as stored in its row,
    and the id of each of its entries by digest."""

    instance: str
    version_id: int
    content_digest: str
    providers: bytes
    models: bytes
    provider_ids: Mapping[str, int]
    model_ids: Mapping[str, int]
    # The registry revision this seed committed, and (version, model count) of every version
    # of the engine then, oldest first (None when the seed did not read them).
    revision: int
    model_counts: tuple[tuple[str, int], ...] | None


@dataclass(frozen=True, slots=True)
class VersionEntries:
    """What the database holds now for an anchor's version (see `repository.version_entries`),
    the registry's revision, and the version's engine row."""

    instance: str
    content_digest: str
    providers: bytes
    models: bytes
    revision: int
    engine_id: int


class KnownEntries:
    """The anchor of each engine, for one database. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._anchors: dict[str, Anchor] = {}

    def get(self, engine: str) -> Anchor | None:
        with self._lock:
            return self._anchors.get(engine)

    def remember(self, engine: str, anchor: Anchor) -> None:
        """Call only after the transaction that wrote `anchor`'s version has committed."""
        with self._lock:
            self._anchors[engine] = anchor

    def clear(self) -> None:
        with self._lock:
            self._anchors.clear()


def still_holds(anchor: Anchor, now: VersionEntries | None) -> bool:
    """Whether the database still holds `anchor`'s version exactly as it was written."""
    return (
        now is not None
        and now.instance == anchor.instance
        and now.content_digest == anchor.content_digest
        and now.providers == anchor.providers
        and now.models == anchor.models
    )


def counts_if_current(
    anchor: Anchor, now: VersionEntries | None
) -> tuple[tuple[str, int], ...] | None:
    """`anchor`'s model counts if nothing was written since its seed (else None)."""
    if still_holds(anchor, now) and now is not None and now.revision == anchor.revision:
        return anchor.model_counts
    return None
