"""Fetching a release's wheel to disk, checked against the index's hash, and the model map in it."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import httpx

from budconnect.releases.index import IndexUnavailable, WheelFile, public_url

# Platform wheels of recent releases are 40 MB and more; nothing an index serves for this
# project should come near this.
MAX_WHEEL_BYTES = 1024 * 1024 * 1024


class WheelRefused(Exception):
    """The wheel is not what the index said (hash), or holds no usable model map."""


class WheelMissing(Exception):
    """The index lists the wheel but does not serve it (now): a mirror still syncing, or a
    file removed. Not a verdict on the release: the next run asks again."""


def download(
    client: httpx.Client, wheel: WheelFile, directory: Path, max_bytes: int = MAX_WHEEL_BYTES
) -> tuple[Path, str]:
    """Stream `wheel` into `directory` (never whole into memory); returns (path, sha256).

    Refused when the index published no sha256 or the bytes do not match it; WheelMissing
    when the index has no such file (now); IndexUnavailable when it cannot be asked."""
    if not wheel.sha256:
        raise WheelRefused(f"{wheel.filename}: the index publishes no sha256 to check it against")
    path = directory / wheel.filename
    hasher = hashlib.sha256()
    size = 0
    url = public_url(wheel.url)
    try:
        # The hash is of the file: asked for as it is, and should a server compress it
        # anyway, hashed (and kept) as decoded, never as the compressed bytes on the wire.
        with client.stream(
            "GET", wheel.url, headers={"accept-encoding": "identity"}, follow_redirects=True
        ) as response:
            if response.status_code in (403, 404, 410):
                raise WheelMissing(f"GET {url}: answered {response.status_code}")
            if response.status_code != 200:
                raise IndexUnavailable(f"GET {url}: answered {response.status_code}")
            with path.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise WheelRefused(f"{wheel.filename}: larger than {max_bytes:,} bytes")
                    hasher.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise IndexUnavailable(f"GET {url}: {type(exc).__name__}: {public_url(str(exc))}") from None
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
    # A zip that is broken, truncated, encrypted (RuntimeError) or compressed with a method
    # this Python lacks (NotImplementedError) is a wheel refused, never a crashed run.
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise WheelRefused(f"{path.name} is not a readable wheel: {exc}") from None
    if len(data) > max_bytes:
        raise WheelRefused(f"{path.name}: {member} is larger than {max_bytes:,} bytes")
    return data
