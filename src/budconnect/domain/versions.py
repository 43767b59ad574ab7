"""Engine keys and version strings: what is valid, how versions are ordered, which is latest.

Versions are PEP 440 versions in their normal form, as every LiteLLM release on a package
index is named: `1.80.17`, `1.81.0rc1`, `1.72.6.post1`, `1.0.0.dev3`, `1.0.0+local`. Anything
else is refused (`abc`, `9.9.9-test`), and so is a valid version written another way
(`v1.2.3`, `1.2.3-rc1`): the message names the normal form, so one release has one name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from packaging.version import InvalidVersion, Version

from budconnect.errors import InvalidIdentifier

# Keys end up in URLs, file names and log lines, so the alphabet is small and a leading dot
# (relative paths, hidden files) is impossible.
_ENGINE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_VERSION_LENGTH = 64


def validate_engine_key(value: str) -> str:
    """Return `value` if it is a valid engine key, else raise InvalidIdentifier."""
    if not _ENGINE_KEY.fullmatch(value):
        raise InvalidIdentifier(
            f"invalid engine key {value!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def validate_version(value: str) -> str:
    """Return `value` if it is a PEP 440 version in normal form, else raise InvalidIdentifier."""
    if value.lower() == "latest":
        raise InvalidIdentifier("'latest' is not a version: it names the newest final release")
    if len(value) > _MAX_VERSION_LENGTH:
        raise InvalidIdentifier(f"invalid version: longer than {_MAX_VERSION_LENGTH} characters")
    try:
        if value != value.strip():
            raise InvalidVersion(value)  # Version() would forgive the spaces
        parsed = Version(value)
    except InvalidVersion:
        raise InvalidIdentifier(
            f"invalid version {value!r}: not a PEP 440 version (LiteLLM's releases are, "
            "e.g. 1.80.17, 1.81.0rc1 or 1.72.6.post1)"
        ) from None
    if str(parsed) != value:
        raise InvalidIdentifier(f"version {value!r} is not in normal form: write {parsed}")
    return value


def normal_form(version: str) -> str | None:
    """The PEP 440 normal form of `version` (`v1.2.3` -> `1.2.3`), or None if it is none."""
    if len(version) > _MAX_VERSION_LENGTH:
        return None
    parsed = _parsed(version.strip())
    return str(parsed) if parsed is not None else None


def _parsed(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


@functools.lru_cache(maxsize=65536)
def version_key(version: str) -> tuple[Any, ...]:
    """Sort key that orders versions as versions (PEP 440): 1.110.2 > 1.90.7 > 1.90.7rc1.

    A name that is no PEP 440 version (held from before versions were checked) sorts below
    every version, by its text; the string itself breaks remaining ties.
    """
    parsed = _parsed(version)
    if parsed is None:
        return (0, version)
    return (1, _plain_key(parsed), version)


def _plain_key(parsed: Version) -> tuple[Any, ...]:
    """A key that orders versions as `Version` objects compare, made of ints, strings and
    tuples only: comparing two is one C-level tuple comparison instead of a Python method
    call, and a seed compares the new version with every version held (800 and more).

    PEP 440's order, with each "none" placed by a leading rank (0 below any value, 2 above):
    release without trailing zeros; a development release of a final release before its
    pre-releases, then pre-releases, then the release; then post-releases; a development
    release before the release it leads to; a local label after the same public version,
    numeric label segments above alphanumeric ones.
    """
    release = parsed.release
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    if parsed.pre is not None:
        pre: tuple[Any, ...] = (1, *parsed.pre)
    elif parsed.post is None and parsed.dev is not None:
        pre = (0,)
    else:
        pre = (2,)
    post = (0,) if parsed.post is None else (1, parsed.post)
    dev = (2,) if parsed.dev is None else (1, parsed.dev)
    local: tuple[Any, ...] = (0,)
    if parsed.local is not None:
        segments = parsed.local.split(".")
        local = (1, tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in segments))
    return (parsed.epoch, release, pre, post, dev, local)


@functools.lru_cache(maxsize=65536)
def is_final(version: str) -> bool:
    """A final release: no pre-release, development or local label (post-releases are final)."""
    parsed = _parsed(version)
    return parsed is not None and not parsed.is_prerelease and parsed.local is None


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions from oldest to newest."""
    return sorted(versions, key=version_key)


def newest(versions: Iterable[str]) -> str | None:
    """The newest final release among `versions` (what `latest` names), or None."""
    return max((v for v in versions if is_final(v)), key=version_key, default=None)
