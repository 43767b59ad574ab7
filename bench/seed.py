"""Seed cost next to parse cost: fresh seeds and unchanged re-seeds on SQLite and PostgreSQL.

    .venv/bin/python bench/seed.py [--runs 5] [--postgres URL]

For each file it prints, in one run, the median of `--runs` timings of: `json.loads` of the
file; a fresh seed into a new, migrated database; an unchanged re-seed (same bytes); a
re-seed of the same content in different bytes (which compares every row); and the ratios to
the parse time. Peak memory is the maximum RSS of a child process that seeds the file once.
Targets (issue 2): fresh <= 25x parse on SQLite, <= 40x on PostgreSQL; unchanged re-seed
<= 5x; 1.70.4 into PostgreSQL < 0.15 s; peak memory < 250 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budconnect.seeders import bundled_data_dir
from budconnect.services.derived import DERIVATIONS
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade

FILES = ("1.100.5", "1.70.4")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@contextmanager
def fresh_database(backend: str, postgres_url: str, workdir: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}")
        upgrade(db.engine)
        yield db
        db.dispose()
        return
    name = f"budconnect_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = Database(make_url(postgres_url).set(database=name).render_as_string(False))
        upgrade(db.engine)
        # Warm the pool so the timing measures the seed, not the first connection.
        with db.read() as c:
            c.execute(text("SELECT 1"))
        yield db
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def time_parse(raw: bytes) -> float:
    """One sample of json.loads: the mean of 5 back-to-back loads, to tame timer noise."""
    start = time.perf_counter()
    for _ in range(5):
        json.loads(raw)
    return (time.perf_counter() - start) / 5


def time_fresh(
    backend: str, version: str, raw: bytes, runs: int, pg: str, work: Path
) -> tuple[float, float]:
    """Medians of (json.loads, fresh seed), sampled in pairs so both see the same machine.

    Each seed is a process's first: the parse the last seed left (services/derived.py) would
    let the parser take every entry of the same file as it is."""
    parses, seeds = [], []
    for _ in range(runs):
        with fresh_database(backend, pg, work) as db:
            DERIVATIONS.clear()
            parses.append(time_parse(raw))
            start = time.perf_counter()
            seed(db, engine="litellm", version=version, raw=raw)
            seeds.append(time.perf_counter() - start)
    return statistics.median(parses), statistics.median(seeds)


def time_reseeds(
    backend: str, version: str, raw: bytes, runs: int, pg: str, work: Path
) -> tuple[float, float]:
    reformatted = json.dumps(json.loads(raw), indent=2).encode()
    with fresh_database(backend, pg, work) as db:
        seed(db, engine="litellm", version=version, raw=raw)
        unchanged = median_seconds(
            lambda: seed(db, engine="litellm", version=version, raw=raw), runs
        )

        def same_content() -> None:
            # Alternate the two spellings so every run compares rows instead of short-cutting.
            seed(db, engine="litellm", version=version, raw=reformatted)
            seed(db, engine="litellm", version=version, raw=raw)

        compared = median_seconds(same_content, runs) / 2
    return unchanged, compared


def peak_rss_mb(version: str, work: Path) -> tuple[float, float]:
    """(peak RSS of a child that seeds the file, of a child that only imports and migrates)."""
    code = (
        "import sys\n"
        "from budconnect.seeders import bundled_data_dir\n"
        "from budconnect.services.seeding import seed\n"
        "from budconnect.storage.database import Database\n"
        "from budconnect.storage.migrate import upgrade\n"
        "db = Database(sys.argv[1]); upgrade(db.engine)\n"
        "if sys.argv[2] != '-':\n"
        "    raw = (bundled_data_dir() / 'litellm' / f'{sys.argv[2]}.json').read_bytes()\n"
        "    seed(db, engine='litellm', version=sys.argv[2], raw=raw)\n"
        # VmHWM belongs to this program's address space; ru_maxrss would include the parent's
        # peak, which Linux carries across exec.
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(int(status.split()[0]))\n"
    )
    results = []
    for arg in (version, "-"):
        url = f"sqlite:///{work / f'{uuid.uuid4().hex}.db'}"
        out = subprocess.run(
            [sys.executable, "-c", code, url, arg], capture_output=True, text=True, check=True
        )
        results.append(int(out.stdout.strip()) / 1024)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()

    print(f"medians of {args.runs} runs; ratios are to json.loads of the same file, same run")
    header = (
        f"{'file':>8} {'backend':>8} {'models':>6} {'parse ms':>9} {'fresh ms':>9} "
        f"{'x':>6} {'reseed ms':>10} {'x':>5} {'compare ms':>11} {'x':>5}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for version in FILES:
            raw = (bundled_data_dir() / "litellm" / f"{version}.json").read_bytes()
            models = sum(
                1
                for k, v in json.loads(raw).items()
                if isinstance(v, dict)
                and isinstance(v.get("litellm_provider"), str)
                and k != "sample_spec"
            )
            for backend in ("sqlite", "postgres"):
                parse, fresh = time_fresh(backend, version, raw, args.runs, args.postgres, work)
                unchanged, compared = time_reseeds(
                    backend, version, raw, args.runs, args.postgres, work
                )
                print(
                    f"{version:>8} {backend:>8} {models:>6} {parse * 1e3:>9.1f} "
                    f"{fresh * 1e3:>9.1f} {fresh / parse:>6.1f} {unchanged * 1e3:>10.2f} "
                    f"{unchanged / parse:>5.2f} {compared * 1e3:>11.1f} "
                    f"{compared / parse:>5.1f}",
                    flush=True,
                )
        seeded, baseline = peak_rss_mb("1.100.5", work)
        print(
            f"peak RSS seeding 1.100.5 into SQLite: {seeded:.0f} MB "
            f"(imports and migration alone: {baseline:.0f} MB; "
            f"the seed adds {seeded - baseline:.0f} MB)"
        )
    print(
        f"this process: max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
