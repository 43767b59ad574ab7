"""Parsers of engines' published data formats, and where their bundled data files live.

A parser is pure: the bytes of one source file in, a `ParsedCatalog` out. Supporting a new
engine means adding one module that defines its `parse` function and `FORMAT`, and listing
that `FORMAT` in `FORMATS` below.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import tomllib
from importlib import resources
from pathlib import Path

from budconnect.domain.documents import WIRE_REVISION
from budconnect.domain.records import Provenance
from budconnect.domain.versions import sort_versions, validate_engine_key, validate_version
from budconnect.errors import InvalidIdentifier, SourceFileMissing, UnsupportedEngine
from budconnect.seeders import litellm
from budconnect.seeders.format import EngineFormat
from budconnect.seeders.metadata import bundled_metadata

FORMATS: dict[str, EngineFormat] = {f.key: f for f in (litellm.FORMAT,)}
log = logging.getLogger(__name__)


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
    """Versions with a bundled file for `engine`, oldest first. A `.json` file whose name is
    no version (a stray copy, `notes.json`) is skipped with a warning: it must not stop every
    other version from being served."""
    directory = (data_dir or bundled_data_dir()) / validate_engine_key(engine)
    if not directory.is_dir():
        return []
    versions = []
    for path in directory.glob("*.json"):
        try:
            versions.append(validate_version(path.stem))
        except InvalidIdentifier as exc:
            log.warning("skipping %s: its name is not an engine version (%s)", path, exc)
    return sort_versions(versions)


RELEASE_DATES = "release-dates.toml"


def bundled_provenance(engine: str, version: str, data_dir: Path | None = None) -> Provenance:
    """Where a bundled version came from: this package, and when the release was uploaded to
    the package index where the data directory's `release-dates.toml` says (else no date:
    the version's dates are then when BudConnect first held it)."""
    released = _release_dates(engine, data_dir or bundled_data_dir()).get(version)
    return Provenance(
        origin="bundled",
        released_at=released,
        released_at_source="index" if released is not None else None,
    )


def _release_dates(engine: str, data_dir: Path) -> dict[str, dt.datetime]:
    path = data_dir / validate_engine_key(engine) / RELEASE_DATES
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    dates = {}
    for version, value in document.items():
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            dates[version] = value.astimezone(dt.UTC)
        else:
            log.warning("ignoring %s in %s: not a date and time with its offset", version, path)
    return dates


def bundled_file(engine: str, version: str, data_dir: Path | None = None) -> Path:
    """The bundled source file of `engine` at `version`.

    Both parts are validated before they touch the file system, and the result is checked to
    stay inside the data directory, so no input can name a file elsewhere.
    """
    root = (data_dir or bundled_data_dir()).resolve()
    path = (root / validate_engine_key(engine) / f"{validate_version(version)}.json").resolve()
    if root not in path.parents or not path.is_file():
        if not root.is_dir():
            raise SourceFileMissing(
                f"no bundled file for {engine} {version}: the data directory {root} does not "
                "exist (BUDCONNECT_DATA_DIR)"
            )
        available = ", ".join(bundled_versions(engine, data_dir)) or "none"
        raise SourceFileMissing(
            f"no bundled file for {engine} {version}; bundled versions: {available}"
        )
    return path
