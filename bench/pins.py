"""Memory held by compatible-models sweep pins: page 1 of every version under many user agents.

Each page 1 pins the snapshot it was cut from for that client (address, User-Agent), so that
the client's later pages come from it whatever seeds in between. A snapshot of a large
version is about 20 MB: pins that hold snapshots outside every cache's bound let one client
hold them all. This starts `budconnect serve` (one worker, a small snapshot cache) on a
SQLite file holding the bundled versions and copies of them under other names, asks page 1
(limit 1) of every version under `--agents` user agents, and prints the worker's RSS before
and after, with the bytes the pins hold (`budconnect_cache_bytes{cache="sweep-pins"}`).

`--compare PATH` runs the same against the code of another checkout (its `src/`), side by
side in one run: `git worktree add /tmp/before <commit>` gives one.

    .venv/bin/python bench/pins.py [--copies 20] [--agents 3] [--compare /tmp/before]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "budconnect" / "seeders" / "data" / "litellm"
COMPAT = "/model/get-compatible-models"
CACHE_MB = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare(db: Path, copies: int) -> list[str]:
    """The bundled versions, and `copies` more: the newest map under pre-release names."""
    env = {**os.environ, "BUDCONNECT_DATABASE_URL": f"sqlite:///{db}"}
    run = [sys.executable, "-m", "budconnect"]
    subprocess.run([*run, "seed", "litellm", "--all"], env=env, check=True, capture_output=True)
    newest = max(DATA.glob("*.json"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))
    names = [f"9.0.0rc{n}" for n in range(1, copies + 1)]
    for name in names:
        subprocess.run([*run, "seed", "litellm", "--version", name, "--file", str(newest),
                        "--force"], env=env, check=True, capture_output=True)  # fmt: skip
    return [p.stem for p in DATA.glob("*.json")] + names


def measure(label: str, src: Path, db: Path, versions: list[str], agents: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BUDCONNECT_DATABASE_URL": f"sqlite:///{db}",
        "BUDCONNECT_SNAPSHOT_CACHE_MB": str(CACHE_MB),
        "PYTHONPATH": str(src),
    }
    command = [sys.executable, "-m", "budconnect", "serve", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: the server did not start")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=120) as client:
            client.get(COMPAT, params={"limit": 1})
            before = rss_mb(process.pid)
            started = time.perf_counter()
            for agent in range(agents):
                for version in versions:
                    client.get(
                        COMPAT,
                        params={"engine": "litellm", "engine_version": version, "limit": 1},
                        headers={"user-agent": f"sweeper-{agent}"},
                    ).raise_for_status()
            seconds = time.perf_counter() - started
            after = rss_mb(process.pid)
            pinned = next(
                (line.split()[-1] for line in client.get("/metrics").text.splitlines()
                 if line.startswith('budconnect_cache_bytes{cache="sweep-pins"}')),
                "not reported",
            )  # fmt: skip
        requests = agents * len(versions)
        print(
            f"{label}: worker RSS {before:.0f} MB before, {after:.0f} MB after "
            f"{requests} page-1 requests ({seconds:.1f} s); pins hold {pinned} bytes"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="versions beyond the bundled")
    parser.add_argument("--agents", type=int, default=3, help="user agents per version")
    parser.add_argument("--compare", type=Path, help="another checkout, measured beside this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budconnect-pins-") as tmp:
        db = Path(tmp) / "pins.db"
        versions = prepare(db, args.copies)
        print(f"{len(versions)} versions, snapshot cache {CACHE_MB} MB, {args.agents} agents")
        measure("this checkout", ROOT / "src", db, versions, args.agents)
        if args.compare is not None:
            measure(f"{args.compare}", args.compare / "src", db, versions, args.agents)


if __name__ == "__main__":
    main()
