"""Storage that grows with change: many versions of ~3,400 models, on SQLite and PostgreSQL.

    .venv/bin/python bench/storage.py [--versions 1000] [--backends sqlite,postgres]
                                      [--seeding-only]     # 1. and 2. below only
    .venv/bin/python bench/storage.py --network [--releases 60]     # never in CI

Synthetic run (per backend, side by side in one run): version 0 is the bundled 1.100.5 map
(as `json.dump` writes it); each next version changes 10 models of the one before (their input
price), so consecutive versions differ in exactly 10 models. It prints:

1. the seed time of the 2nd version and of the last one, with their ratios to `json.loads` of
   the same file timed just before it (the machine's speed drifts), the median of those
   ratios over every added version, and the medians of the first and last ten added versions,
   since one seed is one noisy sample (targets: an added version < 3x `json.loads`; the last
   within 1.5x).
   These seeds run one after another in one process, as the tracker ingests releases, so each
   parses only what changed since the one before; the same added version seeded as a
   process's first seed (a one-off `seed`) is timed too;
2. database growth per added version (target < 64 KB), and the size with every version;
3. a server on the database of every version next to a server on a database of the newest
   version alone: wrk req/s for 304 polls, a compatible-models page and the gzipped catalog
   of the newest version (target: within 1.2x);
4. the oldest version's first (cold) catalog request (target < 1 s) and the server's RSS
   before and after every version's catalog was requested once (target < 400 MB).

Network run (`--network`): `budconnect track litellm --once` against the package index pip is
configured with, from the release that leaves `--releases` final releases, into SQLite;
prints the time, the database size, and its ratio to a database holding the newest release
alone (target <= 3x).

Figures only: no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
from packaging.version import Version
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budconnect.seeders import bundled_data_dir
from budconnect.services.derived import DERIVATIONS
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
BASE = bundled_data_dir() / "litellm" / "1.100.5.json"


def version_name(index: int) -> str:
    return f"3.0.{index}"


def variants(count: int) -> Iterator[bytes]:
    """The source files of versions 0..count-1: version 0 holds the bundled 1.100.5 map, and
    each next one changes 10 models of the one before.

    Written as LiteLLM writes its map (`json.dump` with an indent of 4), so that entries
    unchanged since the version before are the same text, as in consecutive real releases.
    """
    document = orjson.loads(BASE.read_bytes())
    keys = [
        k
        for k, v in document.items()
        if isinstance(v, dict) and isinstance(v.get("litellm_provider"), str) and k != "sample_spec"
    ]
    for index in range(count):
        for offset in range(10 if index else 0):
            key = keys[(index * 10 + offset) % len(keys)]
            document[key] = {**document[key], "input_cost_per_token": (index + 1) * 1e-9}
        yield json.dumps(document, indent=4, ensure_ascii=False).encode() + b"\n"


@contextlib.contextmanager
def database(backend: str, postgres: str, workdir: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{workdir / f'{uuid.uuid4().hex[:8]}.db'}")
        upgrade(db.engine)
        yield db
        db.dispose()
        return
    name = f"budconnect_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(make_url(postgres).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(db.engine)
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def size_of(db: Database) -> int:
    """Bytes the database uses: SQLite pages in use, or PostgreSQL's database size."""
    if db.is_sqlite:
        path = db.engine.url.database
        assert path is not None
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            page = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * page)
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = (workdir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "budconnect",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "BUDCONNECT_DATABASE_URL": url, "BUDCONNECT_DATA_DIR": str(workdir)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url: str, headers: dict[str, str], duration: int = 5) -> float:
    command = [WRK, "-t1", "-c16", f"-d{duration}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else float("nan")


def serving(bases: dict[str, str], newest: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    """wrk req/s of each server for each kind of request, rounds interleaved side by side."""
    results: dict[str, dict[str, list[float]]] = {name: {} for name in bases}
    targets = {}
    for name, base in bases.items():
        catalog = f"{base}/v1/engines/litellm/versions/{newest}/catalog"
        page = f"{base}/model/get-compatible-models?engine=litellm&engine_version={newest}&limit=5"
        etag = httpx.get(catalog, headers={"accept-encoding": "identity"}, timeout=60).headers[
            "etag"
        ]
        httpx.get(page, timeout=60)
        httpx.get(catalog, timeout=60)
        targets[name] = {
            "304 poll": (catalog, {"If-None-Match": etag}),
            "compat page": (page, {"Accept-Encoding": "gzip"}),
            "gzip catalog": (catalog, {"Accept-Encoding": "gzip"}),
        }
    time.sleep(2.5)  # the fast path serves once the background view holds the version
    for _ in range(rounds):
        for name, kinds in targets.items():
            for kind, (url, headers) in kinds.items():
                results[name].setdefault(kind, []).append(wrk(url, headers))
    return results


def synthetic(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n== {backend}: {args.versions} versions of 1.100.5, 10 models changed each ==")
    timings: list[float] = []
    # json.loads of each file, timed just before its seed: the machine's speed drifts over
    # a run, so each seed is compared with a parse made at the same moment.
    loads: list[float] = []
    sizes: list[int] = []
    last = args.versions - 1
    newest = version_name(last)
    with database(backend, args.postgres, workdir) as db:
        files = variants(args.versions + 1)
        raw = b""
        for index, raw in zip(range(args.versions), files, strict=False):
            before = time.perf_counter()
            json.loads(raw)
            loads.append(time.perf_counter() - before)
            before = time.perf_counter()
            seed(db, engine="litellm", version=version_name(index), raw=raw)
            timings.append(time.perf_counter() - before)
            if index < 12 or index == last:
                sizes.append(size_of(db))
            if index and index % 100 == 0:
                print(f"  {index} versions seeded", flush=True)
        growth = [b - a for a, b in itertools.pairwise(sizes[1:12])]
        parse = statistics.median(loads[1:])
        ratios = [t / p for t, p in zip(timings[1:], loads[1:], strict=True)]
        print(f"  json.loads of each file: median {parse * 1e3:.1f} ms")
        first, final = statistics.median(timings[1:11]), statistics.median(timings[-10:])
        print(
            f"  seed of the 2nd version: {timings[1] * 1e3:.0f} ms ({ratios[0]:.1f}x its"
            f" json.loads); of the last: {timings[last] * 1e3:.0f} ms ({ratios[-1]:.1f}x);"
            f" versions 2..{last + 1}: median {statistics.median(timings[1:]) * 1e3:.0f} ms,"
            f" median ratio to json.loads {statistics.median(ratios):.2f}x (quartiles"
            f" {statistics.quantiles(ratios)[0]:.2f}x..{statistics.quantiles(ratios)[2]:.2f}x);"
            f" median of versions 2..11 {first * 1e3:.0f} ms, of the last 10"
            f" {final * 1e3:.0f} ms: {final / first:.2f}x; in ratios to json.loads"
            f" {statistics.median(ratios[:10]):.2f}x and {statistics.median(ratios[-10:]):.2f}x:"
            f" {statistics.median(ratios[-10:]) / statistics.median(ratios[:10]):.2f}x"
            " (targets: < 3x json.loads; the last within 1.5x of the first)"
        )
        with database(backend, args.postgres, workdir) as alone:
            seed(alone, engine="litellm", version=newest, raw=raw)
            # A process's first seed parses the whole file (services/derived.py): a one-off
            # `budconnect seed` or `track --once` of one new release. Timed here on a copy.
            with database(backend, args.postgres, workdir) as other:
                seed(other, engine="litellm", version=newest, raw=raw)
                added = next(files)
                DERIVATIONS.clear()
                before = time.perf_counter()
                seed(other, engine="litellm", version=version_name(last + 1), raw=added)
                one_off = time.perf_counter() - before
            print(
                f"  the same added version as a process's first seed: {one_off * 1e3:.0f} ms"
                f" ({one_off / parse:.1f}x json.loads)"
            )
            print(
                f"  database: {sizes[0] / 1e6:.1f} MB with one version, {sizes[-1] / 1e6:.1f} MB"
                f" with {args.versions} ({sizes[-1] / size_of(alone):.2f}x the newest alone);"
                f" growth per added version (3rd..12th): median"
                f" {statistics.median(growth) / 1024:.1f} KB, max {max(growth) / 1024:.1f} KB"
                " (target < 64 KB)"
            )
            if args.seeding_only:
                return
            with server(db.url, workdir) as (many, pid), server(alone.url, workdir) as (one, _):
                oldest = f"{many}/v1/engines/litellm/versions/{version_name(0)}/catalog"
                before = time.perf_counter()
                status = httpx.get(oldest, headers={"accept-encoding": "gzip"}, timeout=60)
                cold = time.perf_counter() - before
                print(f"  oldest version's first catalog request: {cold * 1e3:.0f} ms"
                      f" ({status.status_code}; target < 1 s)")  # fmt: skip
                results = serving({"every version": many, "newest alone": one}, newest, args.rounds)
                print(f"  newest version served, wrk -c16, median req/s of {args.rounds} rounds:")
                for kind in ("304 poll", "compat page", "gzip catalog"):
                    every = statistics.median(results["every version"][kind])
                    single = statistics.median(results["newest alone"][kind])
                    print(
                        f"    {kind:<14} every version {every:8.0f}   newest alone {single:8.0f}"
                        f"   ratio {single / every:.2f}x (target within 1.2x)"
                    )
                start_rss = rss_mb(pid)
                before = time.perf_counter()
                with httpx.Client(timeout=60, headers={"accept-encoding": "gzip"}) as client:
                    for index in range(args.versions):
                        url = f"{many}/v1/engines/litellm/versions/{version_name(index)}/catalog"
                        client.get(url).raise_for_status()
                print(
                    f"  every version's catalog requested once ({time.perf_counter() - before:.0f}"
                    f" s): server RSS {start_rss:.0f} MB before, {rss_mb(pid):.0f} MB after"
                    " (target < 400 MB; snapshot cache BUDCONNECT_SNAPSHOT_CACHE_MB and body"
                    " cache BUDCONNECT_BODY_CACHE_MB bound it)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds (medians)")
    parser.add_argument("--network", action="store_true", help="ingest real releases")
    parser.add_argument("--releases", type=int, default=60)
    parser.add_argument(
        "--seeding-only", action="store_true", help="seeds and sizes; no servers (minutes)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budconnect-storage-") as tmp:
        workdir = Path(tmp)
        (workdir / "litellm").mkdir()  # an empty data directory: servers seed nothing
        if args.network:
            network(args, workdir)
            return
        for backend in args.backends.split(","):
            synthetic(backend, args, workdir)


def network(args: argparse.Namespace, workdir: Path) -> None:
    """The last `--releases` final releases of LiteLLM from the index pip is configured with."""
    from budconnect.releases.index import SimpleIndex, configured_index_url

    index_url = configured_index_url()
    with httpx.Client(timeout=60) as client:
        releases = SimpleIndex(index_url, client).releases("litellm")
    finals = sorted(
        (r for r in releases if not r.is_prerelease and not r.yanked and r.wheel()),
        key=lambda r: Version(r.version),
    )
    chosen = finals[-args.releases :]
    since, newest = chosen[0].version, chosen[-1].version
    print(f"\n== network: {len(chosen)} final releases of litellm, {since} .. {newest} ==")
    url = f"sqlite:///{workdir / 'releases.db'}"
    before = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "budconnect", "track", "litellm", "--once", "--since", since],
        env={**os.environ, "BUDCONNECT_DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - before
    db = Database(url)
    every = size_of(db)
    db.dispose()
    alone_url = f"sqlite:///{workdir / 'newest.db'}"
    run_alone = subprocess.run(
        [sys.executable, "-m", "budconnect", "track", "litellm", "--once", "--since", newest],
        env={**os.environ, "BUDCONNECT_DATABASE_URL": alone_url},
        capture_output=True,
        text=True,
    )
    alone = Database(alone_url)
    single = size_of(alone)
    alone.dispose()
    print(f"  track exit codes {run.returncode}, {run_alone.returncode}; {seconds:.0f} s")
    print(
        f"  database: {every / 1e6:.1f} MB with every release, {single / 1e6:.1f} MB with the"
        f" newest alone: {every / single:.2f}x (target <= 3x)"
    )
    for line in run.stderr.splitlines()[-5:]:
        print(f"  | {line}")


if __name__ == "__main__":
    main()
