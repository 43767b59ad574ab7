"""The deployment's local configuration on disk, written atomically.

    DIR/catalog.json                            the snapshot, as the catalog endpoint serves it
    DIR/model_prices_and_context_window.json    the same models in LiteLLM's model-map format
    DIR/state.json                              digest, revision, last success and last error

Every file is replaced by write-to-temporary, fsync, rename, fsync-directory: a reader sees
the old file or the new one, never a mix, and a crash at any moment leaves the last good
configuration. The catalog is written after the model map, so a crash between the two leaves
a map that `LocalConfig.repair` notices and rebuilds from the catalog.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from budconnect.domain.documents import LITELLM_MAP, catalog_digest, litellm_map
from budconnect.domain.records import JSONObject

CATALOG = "catalog.json"
STATE = "state.json"
LOCK = ".lock"


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that no reader or crash ever sees a partial file.

    The temporary file gets an unpredictable name and is created exclusively (O_EXCL) in the
    same directory: a file or symlink planted there cannot redirect the write elsewhere.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        # mkstemp creates 0600; the file gets the mode it had, or what the umask gives a new
        # file, so that a process of another user (LiteLLM's) can still read it.
        try:
            # The mode of the file it replaces, if that is a regular file (not of what a
            # symlink in its place points to: /dev/zero is 0666).
            found = os.lstat(path)
            regular = stat.S_ISREG(found.st_mode)
            mode = stat.S_IMODE(found.st_mode) if regular else 0o666 & ~_UMASK
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a crash
    finally:
        os.close(directory)


def _map_of(catalog: JSONObject) -> JSONObject:
    """LiteLLM's model-map format of a (verified) catalog, as the registry serves it."""
    return litellm_map(catalog["providers"], catalog.get("extras") or {})


def verified_digest(catalog: Any) -> str:
    """The content digest of a catalog document, or ValueError when it is not one.

    A digest proves only that the document is self-consistent, so its shape is checked too:
    what a deployment writes from it (LiteLLM's model map) must be a map LiteLLM can load,
    holding at least one model, each an object, none overwritten by an extra entry."""
    try:
        engine, version = catalog["engine"], catalog["engine_version"]
        providers, extras = catalog["providers"], catalog.get("extras", {})
        if not isinstance(extras, dict):
            raise TypeError("extras is not an object")
        uris: set[str] = set()
        for provider in providers:
            for model in provider["models"]:
                if not isinstance(model["uri"], str) or not isinstance(model["id"], str):
                    raise TypeError("model without uri or id")
                if not isinstance(model["source_entry"], dict):
                    raise TypeError(f"the source entry of {model['uri'][:80]!r} is not an object")
                uris.add(model["uri"])
        if not uris:
            raise TypeError("it holds no model (the registry never serves an empty version)")
        # A pointer (`"key": "other-key"`) is served as a model and kept as an extra of
        # the same key, whose string the map serves back; any other extra on a model's key
        # would replace that model in the map with what LiteLLM cannot load.
        clash = next(
            (key for key, value in extras.items() if key in uris and not isinstance(value, str)),
            None,
        )
        if clash is not None:
            raise TypeError(f"the extra entry {clash[:80]!r} has the key of a model")
        for name, count in (("provider_count", len(providers)), ("model_count", len(uris))):
            if name in catalog and catalog[name] != count:
                raise TypeError(f"{name} {str(catalog[name])[:20]} is not the {count} it holds")
        digest = catalog_digest(engine=engine, version=version, providers=providers, extras=extras)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a catalog document: {exc}") from None
    claimed = str(catalog.get("digest"))
    if digest != claimed:
        raise ValueError(f"content has digest {digest[:16]}..., it claims {claimed[:16]}...")
    return digest


@dataclass(slots=True)
class LocalConfig:
    """What a deployment holds: the catalog (None until the first sync) and the sync state."""

    directory: Path
    catalog: JSONObject | None = None
    state: JSONObject = field(default_factory=dict)
    # The model map the loaded catalog implies, until `repair` has checked the file.
    expected_map: JSONObject | None = None
    # (inode, size, mtime, ctime) of the catalog and the map as last written or checked.
    stamps: tuple[tuple[int, int, int, int] | None, ...] = ()
    # Stamps taken in the same clock tick as a write cannot tell a later edit in that tick
    # (coarse timestamps): such files are checked once more, at the next poll.
    unsettled: bool = False

    @property
    def digest(self) -> str | None:
        return self.catalog["digest"] if self.catalog else None

    @staticmethod
    def load(directory: Path) -> LocalConfig:
        """Read DIR, writing nothing; an unreadable or unverifiable catalog counts as none (it
        is fetched again)."""
        directory.mkdir(parents=True, exist_ok=True)
        config = LocalConfig(directory)
        state = _read_json(directory / STATE)
        config.state = state if isinstance(state, dict) and _writable(state) else {}
        catalog = _read_json(directory / CATALOG)
        if catalog is not None:
            try:
                verified_digest(catalog)
                config.expected_map = _map_of(catalog)
            except (ValueError, KeyError, TypeError, AttributeError):
                catalog = None  # not a catalog this client wrote: start over
        config.catalog = catalog
        config._stamp()
        return config

    def repair(self) -> None:
        """Once, before the first poll (under the directory's lock): rewrite a model map that
        is out of step with the catalog, as a crash between their two writes leaves it."""
        expected, self.expected_map = self.expected_map, None
        if expected is not None and _read_json(self.directory / LITELLM_MAP) != expected:
            atomic_write(self.directory / LITELLM_MAP, orjson.dumps(expected))
        if expected is not None:
            self._stamp()

    def apply(self, catalog: JSONObject) -> None:
        """Make `catalog` (already verified) the local configuration."""
        self.expected_map = None
        atomic_write(
            self.directory / LITELLM_MAP,
            orjson.dumps(_map_of(catalog)),
        )
        try:
            atomic_write(self.directory / CATALOG, orjson.dumps(catalog))
        except OSError:
            # Put the map back in step with the catalog still in place, if the disk lets us.
            if self.catalog is not None:
                with contextlib.suppress(OSError):
                    atomic_write(
                        self.directory / LITELLM_MAP,
                        orjson.dumps(_map_of(self.catalog)),
                    )
            raise
        self.catalog = catalog
        self._stamp()

    def files_changed(self) -> bool:
        """Whether the catalog or the model map on disk is not what this process last wrote
        or checked (removed, truncated, edited): a long-running client notices at its next
        poll, not at its next start."""
        return self._stamps() != self.stamps

    def unsettled_once(self) -> bool:
        """Whether the files were stamped in the tick they were written in, and are to be
        checked once more (true once)."""
        unsettled, self.unsettled = self.unsettled, False
        return unsettled

    def recheck(self) -> None:
        """Read the catalog again and put the model map back in step with it (as at a start);
        a catalog that no longer verifies counts as none, and is fetched whole."""
        reread = LocalConfig.load(self.directory)
        self.catalog, self.expected_map = reread.catalog, reread.expected_map
        self.repair()
        if self.catalog is None:
            self._stamp()

    def _stamps(self) -> tuple[tuple[int, int, int, int] | None, ...]:
        found: list[tuple[int, int, int, int] | None] = []
        for name in (CATALOG, LITELLM_MAP):
            try:
                info = os.stat(self.directory / name)
                found.append((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
            except OSError:
                found.append(None)
        return tuple(found)

    def _stamp(self) -> None:
        """Take the stamps of the files as they are now (just written or checked)."""
        self.stamps = self._stamps()
        now = time.time_ns()
        # A time ahead of this clock (another host's, a clock stepped back) settles too once
        # it is more than a tick away, either way.
        self.unsettled = any(
            stamp is not None and abs(now - stamp[2]) < _TICK_NS for stamp in self.stamps
        )

    def sweep_temporaries(self) -> None:
        """Remove what a crash in the middle of `atomic_write` left (under the lock: no write
        of this directory is under way). Only this client's own names are touched."""
        for name in (LITELLM_MAP, CATALOG, STATE):
            for leftover in self.directory.glob(f".{glob.escape(name)}.*.tmp"):
                with contextlib.suppress(OSError):
                    if leftover.is_file() or leftover.is_symlink():
                        leftover.unlink()

    def save_state(self, **values: Any) -> None:
        self.state.update(values)
        atomic_write(self.directory / STATE, orjson.dumps(self.state, option=orjson.OPT_INDENT_2))


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold DIR's lock: two sync processes on one directory would fight over its files."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK
    # Never through a symlink planted there (it would create or lock a file elsewhere), and
    # only a regular file: a FIFO or device would block or misbehave.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise RuntimeError(f"cannot open the lock {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RuntimeError(f"the lock {path} is not a regular file")
    with os.fdopen(fd, "r+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sync process holds {path}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Timestamps coarser than this (FAT's 2 s) are not expected of a state directory.
_TICK_NS = 2_000_000_000


# Larger than any catalog the registry serves by far; a file beyond it (or a device
# standing in for one) is not one this client wrote.
MAX_FILE_BYTES = 1024 * 1024 * 1024


def _read_json(path: Path) -> Any:
    """The JSON document in `path`, or None when there is none this client could have
    written: missing, not a regular file (a FIFO would block, a device never end), too
    large, or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        try:
            return orjson.loads(handle.read(info.st_size + 1))  # not a buffer of the bound
        except (OSError, orjson.JSONDecodeError):
            return None


def _writable(state: JSONObject) -> bool:
    """Whether `state` can be written back (orjson writes fewer nesting levels than it
    reads: a hand-edited state.json could otherwise fail every later write)."""
    try:
        orjson.dumps(state)
    except orjson.JSONEncodeError:
        return False
    return True
