"""Shared fixtures: real SQLite files, real PostgreSQL databases, and real server processes.

Every database is built by the real migrations. PostgreSQL tests fail (not skip) when the
server is missing and CI=true.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budconnect.api.app import create_app
from budconnect.api.polls import Polls
from budconnect.config import Settings
from budconnect.domain.records import Provenance
from budconnect.seeders import bundled_data_dir, bundled_versions
from budconnect.services.seeding import seed, seed_bundled
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "BUDCONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]
LITELLM_DIR = bundled_data_dir() / "litellm"
VERSIONS = bundled_versions("litellm")


def source_bytes(version: str) -> bytes:
    return (LITELLM_DIR / f"{version}.json").read_bytes()


def source_models(version: str) -> dict[str, Any]:
    """The model entries of a bundled file, read without BudConnect's parser.

    A model is an object entry with a string `litellm_provider`; `sample_spec` is LiteLLM's
    documentation of the format. Later duplicates win, as in LiteLLM's own loader.
    """
    document = json.loads(source_bytes(version))
    return {
        key: value
        for key, value in document.items()
        if key != "sample_spec"
        and isinstance(value, dict)
        and isinstance(value.get("litellm_provider"), str)
    }


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing was written."""
    from sqlalchemy import select

    from budconnect.storage.tables import metadata

    result = {}
    with db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            result[table.name] = [tuple(row) for row in rows]
    return result


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON documents, types included: 1, 1.0 and true are three different values."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
        return False


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (or one session), dropped afterwards."""
    name = f"budconnect_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database(backend: str, directory: Path, postgres_ok: bool) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    if not postgres_ok:
        pytest.skip("PostgreSQL is not reachable (set CI=true to make this a failure)")
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[str]:
    """The URL of a fresh, empty database (no schema yet), on each backend."""
    with empty_database(request.param, tmp_path, postgres_available) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A new, empty PostgreSQL database, for what only a database server can show."""
    if not postgres_available:
        pytest.skip("PostgreSQL is not reachable (set CI=true to make this a failure)")
    with postgres_database() as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A fresh database with the schema built by the migrations."""
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def seeded_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[str]:
    """A database holding every bundled LiteLLM version. Tests must not change it."""
    directory = tmp_path_factory.mktemp("seeded")
    with empty_database(request.param, directory, postgres_available) as url:
        database = Database(url)
        upgrade(database.engine)
        seed_bundled(database, engine="litellm")
        database.dispose()
        yield url


# --- the app in-process ----------------------------------------------------------------------


class InProcess:
    """The ASGI app on httpx's ASGI transport: the same code as a server, in this process, so
    a test can see which path answered (`polls.answered`) and reach into the app's state."""

    def __init__(self, database_url: str, *, fast_path: bool = True, **settings: Any) -> None:
        self.settings = Settings(
            database_url=database_url,
            # No background refresher runs in-process: the view a route reads stays fresh
            # for the fast path this long (0 turns the fast path off).
            snapshot_check_interval=60.0 if fast_path else 0.0,
            **settings,
        )
        self.app = create_app(self.settings)
        inner: Any = self.app
        while not hasattr(inner, "state"):  # middleware, down to the FastAPI app
            inner = inner.app
        self.fastapi = inner
        self.polls: Polls = inner.state.polls
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://budconnect.test"
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(path, **kwargs))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, path, **kwargs))

    def get_concurrently(self, paths: list[str], **kwargs: Any) -> list[httpx.Response]:
        async def all_of_them() -> list[httpx.Response]:
            return list(await asyncio.gather(*(self._client.get(p, **kwargs) for p in paths)))

        return self._loop.run_until_complete(all_of_them())

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run `awaitable` on the loop the app's requests run on."""
        return self._loop.run_until_complete(awaitable)

    def answered(self, path: str, kind: str, status: int) -> int:
        """How many answers of `kind` and `status` the given path ("fast" or "routes") gave."""
        return self.polls.answered[path, kind, status]

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
        self.polls.catalog.db.dispose()

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- server processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A `budconnect serve` process on a free port."""

    def __init__(
        self,
        database_url: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        *,
        seed_bundled: bool = False,
        args: tuple[str, ...] = (),
    ) -> None:
        """`seed_bundled`: let `serve` add the bundled versions the database lacks, as it does
        in production; off by default so a test's database holds exactly what the test put.
        `args`: more options of `serve` (`--workers 2`)."""
        self.args = args
        self.database_url = database_url
        self.port = port or free_port()
        self._no_data = tempfile.TemporaryDirectory()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "BUDCONNECT_DATABASE_URL": database_url,
            "BUDCONNECT_SNAPSHOT_CHECK_INTERVAL": "0.2",
            **({} if seed_bundled else {"BUDCONNECT_DATA_DIR": self._no_data.name}),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()

    def start(self, timeout: float = 60.0) -> Server:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "budconnect",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *self.args,
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: a server that logs much must never block on a full pipe.
            stderr=self.log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        self._no_data.cleanup()

    def output(self) -> str:
        """What the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def seeded_server(seeded_url: str) -> Iterator[Server]:
    """The real server process over the fully seeded database of each backend."""
    with Server(seeded_url) as server:
        yield server


def run_cli(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real `budconnect` command."""
    return subprocess.run(
        [sys.executable, "-m", "budconnect", *args],
        env={**os.environ, "BUDCONNECT_DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def raw_head(base_url: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers, body) of a HEAD of `path`, read from the socket itself: httpx
    reads no body after HEAD whatever the server sends."""
    url = httpx.URL(base_url)
    with socket.create_connection((url.host, url.port)) as sock:
        sock.sendall(
            f"HEAD {path} HTTP/1.1\r\nHost: {url.host}\r\nAccept-Encoding: identity\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}, body


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when it is absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def seed_with_a_backport(db: Database) -> None:
    """Releases as LiteLLM uploads them, a patch of an older line after a newer release:
    1.60.9 (2025-02-01), 1.65.8 (03-01), 1.60.10 (04-01: 1.60.9 with gpt-4o's input price
    changed), 1.70.4 (05-01)."""
    backport = json.loads(source_bytes("1.60.9"))
    backport["gpt-4o"]["input_cost_per_token"] = 1e-3
    sources = {
        "1.60.9": (source_bytes("1.60.9"), dt.datetime(2025, 2, 1, tzinfo=dt.UTC)),
        "1.65.8": (source_bytes("1.65.8"), dt.datetime(2025, 3, 1, tzinfo=dt.UTC)),
        "1.60.10": (json.dumps(backport).encode(), dt.datetime(2025, 4, 1, tzinfo=dt.UTC)),
        "1.70.4": (source_bytes("1.70.4"), dt.datetime(2025, 5, 1, tzinfo=dt.UTC)),
    }
    for version, (raw, released) in sources.items():
        provenance = Provenance("index", released, "index", f"litellm-{version}.whl", "0")
        seed(db, engine="litellm", version=version, raw=raw, provenance=provenance)


def data_dir_with_bad_files(root: Path) -> Path:
    """A BUDCONNECT_DATA_DIR with one good LiteLLM file (1.60.9), one the gates hold back
    (1.70.4: 20 models), one cut mid-JSON (1.80.17) and one whose name is no version
    (notes.json); returns `root`."""
    data = root / "litellm"
    data.mkdir()
    (data / "notes.json").write_text("{}")
    (data / "1.60.9.json").write_bytes(source_bytes("1.60.9"))
    truncated = dict(list(source_models("1.70.4").items())[:20])
    (data / "1.70.4.json").write_text(json.dumps(truncated))
    (data / "1.80.17.json").write_bytes(source_bytes("1.80.17")[:5000])
    return root
