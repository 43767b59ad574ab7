"""Parsers of engines' published data formats, and where their bundled data files live.

A parser is pure: the bytes of one source file in, a `ParsedCatalog` out. Supporting a new
engine means adding one module that defines its `parse` function and `FORMAT`, and listing
that `FORMAT` in `FORMATS` below.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

from budconnect.domain.documents import WIRE_REVISION
from budconnect.domain.versions import sort_versions, validate_engine_key, validate_version
from budconnect.errors import SourceFileMissing, UnsupportedEngine
from budconnect.seeders import litellm
from budconnect.seeders.format import EngineFormat
from budconnect.seeders.metadata import bundled_metadata

FORMATS: dict[str, EngineFormat] = {f.key: f for f in (litellm.FORMAT,)}


@functools.cache
def parser_fingerprint(engine: str) -> int:
    """A number that changes whenever the same source file would seed different rows.

    It covers the parser revision, the provider metadata file and the wire format, so a
    re-seed of an unchanged file after an upgrade of any of them rewrites what they change,
    while a re-seed with all of them unchanged can stop before reading any row.
    """
    material = f"{FORMATS[engine].revision}\0{WIRE_REVISION}\0".encode() + bundled_metadata(engine)
    return int.from_bytes(hashlib.sha256(material).digest()[:4], "big") & 0x7FFFFFFF


def engine_format(engine: str) -> EngineFormat:
    """The format of `engine`'s data files; refuses malformed and unsupported engine keys."""
    validate_engine_key(engine)
    try:
        return FORMATS[engine]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UnsupportedEngine(
            f"no parser for engine {engine!r}; supported engines: {known}",
            supported_engines=sorted(FORMATS),
        ) from None


def bundled_data_dir() -> Path:
    return Path(str(resources.files("budconnect.seeders") / "data"))


def bundled_versions(engine: str, data_dir: Path | None = None) -> list[str]:
    """Versions with a bundled file for `engine`, oldest first."""
    directory = (data_dir or bundled_data_dir()) / validate_engine_key(engine)
    if not directory.is_dir():
        return []
    return sort_versions(path.stem for path in directory.glob("*.json"))


def bundled_file(engine: str, version: str, data_dir: Path | None = None) -> Path:
    """The bundled source file of `engine` at `version`.

    Both parts are validated before they touch the file system, and the result is checked to
    stay inside the data directory, so no input can name a file elsewhere.
    """
    root = (data_dir or bundled_data_dir()).resolve()
    path = (root / validate_engine_key(engine) / f"{validate_version(version)}.json").resolve()
    if root not in path.parents or not path.is_file():
        available = ", ".join(bundled_versions(engine, data_dir)) or "none"
        raise SourceFileMissing(
            f"no bundled file for {engine} {version}; bundled versions: {available}"
        )
    return path
