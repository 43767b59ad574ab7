"""Fetching a release's wheel to disk, checked against the index's hash, and the model map in it."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import httpx

from budconnect.releases.index import IndexUnavailable, WheelFile

# Platform wheels of recent releases are 40 MB and more; nothing an index serves for this
# project should come near this.
MAX_WHEEL_BYTES = 1024 * 1024 * 1024


class WheelRefused(Exception):
    """The wheel is not what the index said (hash), or holds no usable model map."""


def download(
    client: httpx.Client, wheel: WheelFile, directory: Path, max_bytes: int = MAX_WHEEL_BYTES
) -> tuple[Path, str]:
    """Stream `wheel` into `directory` (never whole into memory); returns (path, sha256).

    Refused when the index published no sha256 or the bytes do not match it."""
    if not wheel.sha256:
        raise WheelRefused(f"{wheel.filename}: the index publishes no sha256 to check it against")
    path = directory / wheel.filename
    hasher = hashlib.sha256()
    size = 0
    try:
        with client.stream("GET", wheel.url, follow_redirects=True) as response:
            if response.status_code != 200:
                raise IndexUnavailable(f"GET {wheel.url}: answered {response.status_code}")
            with path.open("wb") as out:
                for chunk in response.iter_raw(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise WheelRefused(f"{wheel.filename}: larger than {max_bytes:,} bytes")
                    hasher.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise IndexUnavailable(f"GET {wheel.url}: {type(exc).__name__}: {exc}") from None
    digest = hasher.hexdigest()
    if digest != wheel.sha256:
        path.unlink(missing_ok=True)
        raise WheelRefused(
            f"{wheel.filename}: sha256 {digest[:16]}... is not the {wheel.sha256[:16]}... "
            "the index publishes; refused"
        )
    return path, digest


def read_member(path: Path, member: str, max_bytes: int) -> bytes:
    """The bytes of `member` in the wheel at `path`, refused beyond `max_bytes`."""
    try:
        with zipfile.ZipFile(path) as wheel:
            try:
                info = wheel.getinfo(member)
            except KeyError:
                raise WheelRefused(f"{path.name} holds no {member}") from None
            if info.file_size > max_bytes:
                raise WheelRefused(f"{path.name}: {member} is larger than {max_bytes:,} bytes")
            with wheel.open(info) as handle:
                data = handle.read(max_bytes + 1)
    except zipfile.BadZipFile as exc:
        raise WheelRefused(f"{path.name} is not a readable wheel: {exc}") from None
    if len(data) > max_bytes:
        raise WheelRefused(f"{path.name}: {member} is larger than {max_bytes:,} bytes")
    return data
