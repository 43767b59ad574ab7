"""What seeding derives from each model (its entry digest, its document template), kept from
one seed to the next in this process.

A seed parses a source file, then derives, for every model, the digest naming its stored entry
and the template of its served document. The next release of an engine differs from the last
in a few models: handed the last parse as `previous`, the parser returns the very same record
objects for every model whose entry text did not change, and this cache returns what was
derived from them, so a seed costs about what changed. The tracker and a server taking
publishes seed release after release in one process; a one-off `seed` derives everything.

Everything here is pure (no database ids): a record's derivations depend only on the record and
on the code (the parser fingerprint, which keys the cache). One parse per engine is kept, the
last one: 17 MB for 1.100.5's 2 MB file (tracemalloc), about eight times its file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from budconnect.domain.documents import ModelTemplate, model_template
from budconnect.domain.records import ParsedCatalog
from budconnect.storage import entries


@dataclass(frozen=True, slots=True)
class Derived:
    digest: str
    template: ModelTemplate | None


@dataclass(frozen=True, slots=True)
class _Last:
    fingerprint: int
    parsed: ParsedCatalog
    # id() of each record of `parsed` (kept alive by it) -> what was derived from it.
    derived: dict[int, Derived]


class Derivations:
    """The last parse of each engine and what was derived from its models. Thread-safe: a
    server may seed in several threads at once (they share records only to read them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, _Last] = {}

    def previous(self, engine: str, fingerprint: int) -> ParsedCatalog | None:
        """The last parse of `engine` by this code, to hand the parser as `previous`."""
        with self._lock:
            last = self._last.get(engine)
        return last.parsed if last is not None and last.fingerprint == fingerprint else None

    def derive(self, engine: str, fingerprint: int, parsed: ParsedCatalog) -> list[Derived]:
        """What is derived from each model of `parsed` (in order), computed only for records
        the last parse did not have; `parsed` becomes the last parse of `engine`."""
        with self._lock:
            last = self._last.get(engine)
        known = last.derived if last is not None and last.fingerprint == fingerprint else {}
        derived: dict[int, Derived] = {}
        result = []
        for record in parsed.models:
            found = known.get(id(record))
            if found is None:
                found = Derived(entries.model_digest(record), model_template(record))
            derived[id(record)] = found
            result.append(found)
        with self._lock:
            self._last[engine] = _Last(fingerprint, parsed, derived)
        return result

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


DERIVATIONS = Derivations()
