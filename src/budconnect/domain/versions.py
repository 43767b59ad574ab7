"""Engine keys and version strings: what is valid, and how versions are ordered."""

from __future__ import annotations

import re
from collections.abc import Iterable

from budconnect.errors import InvalidIdentifier

# Keys and versions end up in URLs, file names and log lines, so the alphabet is small and a
# leading dot (relative paths, hidden files) is impossible.
_ENGINE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")

_PRE_RELEASE_TAGS = {
    "dev": 0,
    "a": 1,
    "alpha": 1,
    "b": 2,
    "beta": 2,
    "pre": 3,
    "preview": 3,
    "c": 4,
    "rc": 4,
    "nightly": 0,
}

VersionKey = tuple[tuple[int, int | str, str], ...]


def validate_engine_key(value: str) -> str:
    """Return `value` if it is a valid engine key, else raise InvalidIdentifier."""
    if not _ENGINE_KEY.fullmatch(value):
        raise InvalidIdentifier(
            f"invalid engine key {value!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def validate_version(value: str) -> str:
    """Return `value` if it is a valid version string, else raise InvalidIdentifier."""
    if value.lower() == "latest":
        raise InvalidIdentifier("'latest' is not a version: it names the newest version")
    if not _VERSION.fullmatch(value) or ".." in value:
        raise InvalidIdentifier(
            f"invalid version {value!r}: use 1-64 letters, digits, '.', '-', '_' or '+', "
            "starting with a letter or digit"
        )
    return value


def version_key(version: str) -> tuple[VersionKey, str]:
    """Sort key that orders versions as versions: 1.110.2 > 1.90.7 > 1.90.7rc1.

    Numeric parts compare as numbers. Pre-release tags (rc, beta, dev, ...) sort before the
    release they precede; any other word (post, stable, ...) sorts after it. The string itself
    breaks remaining ties, so the order is total.
    """
    text = version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version
    parts: list[tuple[int, int | str, str]] = []
    for token in re.findall(r"\d+|[A-Za-z]+", text):
        if token.isdigit():
            parts.append((2, int(token), ""))
        elif token.lower() in _PRE_RELEASE_TAGS:
            parts.append((0, _PRE_RELEASE_TAGS[token.lower()], token.lower()))
        else:
            parts.append((1, 0, token.lower()))
    # The terminator sits between pre-release tags (0) and post-release words (1).
    parts.append((0, 99, ""))
    return tuple(parts), version


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions from oldest to newest."""
    return sorted(versions, key=version_key)


def newest(versions: Iterable[str]) -> str | None:
    """The newest of `versions`, or None when there are none."""
    return max(versions, key=version_key, default=None)
