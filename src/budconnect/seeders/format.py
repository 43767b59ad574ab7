"""What BudConnect needs to know of one engine's published data format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from budconnect.domain.records import ParsedCatalog


class Parser(Protocol):
    def __call__(self, raw: bytes, *, previous: ParsedCatalog | None = None) -> ParsedCatalog:
        """The catalog `raw` holds. `previous`, the parse of another file of the engine, may
        be used to skip the entries both files hold alike; the result is the same."""
        ...


@dataclass(frozen=True, slots=True)
class EngineFormat:
    """An engine, and the pure parser of the data files its releases ship."""

    key: str  # what URLs and the CLI use, e.g. "litellm"
    name: str  # display name, e.g. "LiteLLM"
    parse: Parser
    # Bumped whenever `parse` gives different records for the same bytes, so that re-seeding
    # an unchanged file after an upgrade rewrites what the new parser reads differently.
    revision: int
    # Where releases are published: the project on a Python package index, and the path of
    # the data file inside its wheels (None: the engine is not tracked on an index).
    package: str | None = None
    data_member: str | None = None
