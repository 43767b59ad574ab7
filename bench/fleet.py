"""A fleet under load: simulated deployments polling while versions are published and yanked.

    .venv/bin/python bench/fleet.py [--deployments 500] [--minutes 3] [--interval 2]
        [--workers 2] [--postgres URL]

Starts `budconnect serve --workers 2` on a fresh PostgreSQL database holding 1.80.17, then
runs `--deployments` clients for `--minutes`, each polling `latest` as the sync client does
(`changes?since=R` with `If-None-Match`; a new version's catalog when `latest` moves), every
`--interval` seconds with +-10% jitter. Meanwhile it publishes a new version every 20 s
(`PUT .../source`, a variant of 1.80.17) and yanks every second one 10 s later, so `latest`
moves forward and back. It prints: requests and errors (anything but 200/304, and transport
failures), latency p50/p99 by kind, for each publish or yank the time until every deployment
held the new `latest` digest, and the server's RSS (all processes) before and after.

Figures only: no assertions. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budconnect.domain.tokens import new_token, token_hash
from budconnect.seeders import bundled_data_dir

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BASE = bundled_data_dir() / "litellm" / "1.80.17.json"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    # Requests sent once more after the server closed the connection without answering.
    resent: int = 0

    def record(self, kind: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.statuses[f"{kind} {status}"] += 1
        if status not in (200, 304):
            self.errors.append(f"{kind} answered {status}")


@dataclass
class Deployment:
    digest: str | None = None
    # `latest` moved to another version (or the feed is gone): fetch its catalog whole,
    # still reporting what is held until then, as the sync client does.
    refetch: bool = True
    revision: int | None = None
    version: str | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(postgres: str) -> Iterator[str]:
    name = f"budconnect_fleet_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rss_mb(root: int) -> float:
    """RSS of a process and its children (uvicorn's supervisor and its workers)."""
    pids = [root]
    with contextlib.suppress(FileNotFoundError):
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
        pids += [int(pid) for pid in children]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


FIELDS = {
    name: re.compile(pattern)
    for name, pattern in (
        ("engine_version", rb'"engine_version":"([^"]+)"'),
        ("digest", rb'"digest":"([0-9a-f]+)"'),
        ("revision", rb'"revision":(\d+)'),
    )
}


def head_of(raw: bytes, encoding: str | None) -> tuple[str, str, int]:
    """Version, digest and revision of a catalog or change set, from its first bytes only.

    One process plays 500 deployments on a machine it shares with the server: inflating
    and parsing a 4 MB body per deployment at every publish would measure this client, not
    the server. Every byte is still transferred; only the head (where the server writes
    these fields, before any provider) is inflated and read.
    """
    head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 4096)
    if encoding != "gzip":
        head = raw[:4096]
    values = []
    for name, pattern in FIELDS.items():
        found = pattern.search(head)
        if found is None:
            raise ValueError(f"no {name} in {head[:200]!r}")
        values.append(found[1])
    return values[0].decode(), values[1].decode(), int(values[2])


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, int],
    stats: Stats,
) -> tuple[int, tuple[str, str, int] | None]:
    """GET `url` gzipped, read every byte, and return its status and head (when 200). A
    request the server closed the connection on without answering (a kept-alive connection
    its idle timeout closed) is sent once more, as the sync client does."""
    headers = headers | {"accept-encoding": "gzip"}
    request = client.build_request("GET", url, headers=headers, params=params)
    try:
        answer = await client.send(request, stream=True)
    except httpx.RemoteProtocolError:
        stats.resent += 1
        answer = await client.send(request, stream=True)
    try:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    finally:
        await answer.aclose()
    if answer.status_code != 200:
        return answer.status_code, None
    return 200, head_of(raw, answer.headers.get("content-encoding"))


def report(name: str, me: Deployment) -> dict[str, str]:
    """The headers the sync client sends with every poll (fleet status)."""
    headers = {"x-budconnect-deployment": name, "x-budconnect-follows": "latest"}
    if me.digest is not None:
        headers |= {
            "x-budconnect-engine-version": me.version or "",
            "x-budconnect-digest": me.digest,
            "x-budconnect-revision": str(me.revision),
            "x-budconnect-applied": "ok",
        }
    return headers


async def poll_forever(
    client: httpx.AsyncClient,
    name: str,
    me: Deployment,
    stats: Stats,
    interval: float,
    stop: asyncio.Event,
    writing: asyncio.Event,
) -> None:
    await asyncio.sleep(random.uniform(0, interval))
    while not stop.is_set():
        started = time.perf_counter()
        during = " (while a PUT or yank runs)" if writing.is_set() else ""
        try:
            if me.refetch:
                url = "/v1/engines/litellm/versions/latest/catalog"
                status, head = await fetch(client, url, report(name, me), {}, stats)
                stats.record("catalog" + during, time.perf_counter() - started, status)
                if head is not None:
                    me.version, me.digest, me.revision = head
                    me.refetch = False
            else:
                status, head = await fetch(
                    client,
                    "/v1/engines/litellm/versions/latest/changes",
                    report(name, me) | {"if-none-match": f'"{me.digest}"'},
                    {"since": me.revision},
                    stats,
                )
                stats.record("changes" + during, time.perf_counter() - started, status)
                if head is not None and head[0] != me.version:
                    me.refetch = True  # `latest` moved to another version: fetch it whole
                    continue  # now, as the sync client does
                if head is not None:
                    me.digest, me.revision = head[1], head[2]
                elif status == 410:
                    me.refetch = True
                    continue
        except (httpx.HTTPError, ValueError) as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))


async def converge_time(
    deployments: list[Deployment], digest: str, started: float, limit: float
) -> float | None:
    while time.monotonic() - started < limit:
        if all(d.digest == digest for d in deployments):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def operate(
    base: str,
    token: str,
    deployments: list[Deployment],
    stop: asyncio.Event,
    writing: asyncio.Event,
    events: list[str],
) -> None:
    """Publish a new version every 20 s, yank every second one 10 s later."""
    document = orjson.loads(BASE.read_bytes())
    keys = [k for k, v in document.items() if isinstance(v, dict) and "mode" in v]
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as admin:
        number = 0
        while not stop.is_set():
            await asyncio.sleep(20)
            if stop.is_set():
                return
            number += 1
            for key in keys[number * 10 : number * 10 + 10]:
                document[key] = {**document[key], "input_cost_per_token": number * 1e-9}
            version = f"9.0.{number}"
            started = time.monotonic()
            writing.set()
            answer = await admin.put(f"/v1/engines/litellm/versions/{version}/source",
                                     content=orjson.dumps(document))  # fmt: skip
            writing.clear()
            digest = answer.json()["digest"]
            answered = time.monotonic() - started
            took = await converge_time(deployments, digest, started, 18)
            when = f"{took:.1f} s" if took is not None else "more than 18 s"
            events.append(
                f"publish {version} (PUT answered in {answered:.1f} s): every deployment"
                f" held it after {when}"
            )
            if number % 2 == 0:
                await asyncio.sleep(max(0.0, 10 - (time.monotonic() - started)))
                started = time.monotonic()
                writing.set()
                yanked = await admin.post(f"/v1/engines/litellm/versions/{version}/yank")
                writing.clear()
                latest = (await admin.get("/v1/engines/litellm/versions/latest")).json()
                took = await converge_time(deployments, latest["digest"], started, 9)
                when = f"{took:.1f} s" if took is not None else "more than 9 s"
                events.append(
                    f"yank {version} ({yanked.status_code}): every deployment back on "
                    f"{latest['version']} after {when}"
                )


async def run_load(base: str, token: str, args: argparse.Namespace, pid: int) -> None:
    stats = Stats()
    deployments = [Deployment() for _ in range(args.deployments)]
    stop, writing = asyncio.Event(), asyncio.Event()
    events: list[str] = []
    # One client (and connection) per deployment, as in a real fleet; one pool shared by
    # all of them costs the load generator time that grows with the number of connections.
    async with contextlib.AsyncExitStack() as clients:
        pool = [
            await clients.enter_async_context(httpx.AsyncClient(base_url=base, timeout=60))
            for _ in deployments
        ]
        client = pool[0]
        before = rss_mb(pid)
        tasks = [
            asyncio.create_task(
                poll_forever(pool[i], f"bench-{i:04d}", d, stats, args.interval, stop, writing)
            )
            for i, d in enumerate(deployments)
        ]
        operator = asyncio.create_task(operate(base, token, deployments, stop, writing, events))
        await asyncio.sleep(args.minutes * 60)
        fleet = await client.get("/v1/fleet", headers={"authorization": f"Bearer {token}"})
        stop.set()
        await asyncio.gather(*tasks, operator, return_exceptions=True)
        after = rss_mb(pid)
    total = sum(stats.statuses.values())
    print(f"\n{args.deployments} deployments, {args.minutes:g} min, polls every"
          f" {args.interval:g} s +-10%, {args.workers} workers on PostgreSQL")  # fmt: skip
    print(f"  requests: {total:,} ({total / (args.minutes * 60):.0f}/s);"
          f" errors: {len(stats.errors)}; sent once more after an unanswered close:"
          f" {stats.resent}")  # fmt: skip
    for line in sorted(set(stats.errors))[:5]:
        print(f"    ! {line}")
    for kind, samples in sorted(stats.latencies.items()):
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        p50 = statistics.median(samples)
        print(f"  {kind:<36} {len(samples):7,} requests  p50 {p50 * 1e3:6.1f} ms"
              f"  p99 {p99 * 1e3:6.1f} ms")  # fmt: skip
    print("  statuses: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(stats.statuses.items())))
    for event in events:
        print(f"  {event}")
    summary = fleet.json()["summary"] if fleet.status_code == 200 else fleet.status_code
    print(f"  GET /v1/fleet at the end: {summary}")
    print(f"  server RSS (all processes): {before:.0f} MB before, {after:.0f} MB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    token = new_token()
    with database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "litellm").mkdir()
        seeded = subprocess.run(
            [sys.executable, "-m", "budconnect", "seed", "litellm", "--version", "1.80.17"],
            env={**os.environ, "BUDCONNECT_DATABASE_URL": url},
            capture_output=True,
            text=True,
        )
        if seeded.returncode:
            raise SystemExit(seeded.stderr)
        port = free_port()
        env = {
            **os.environ,
            "BUDCONNECT_DATABASE_URL": url,
            "BUDCONNECT_DATA_DIR": tmp,
            "BUDCONNECT_ADMIN_TOKENS": f"bench={token_hash(token)}",
            "BUDCONNECT_WRITE_RATE": "600",
        }
        command = [sys.executable, "-m", "budconnect", "serve", "--port", str(port)]
        command += ["--workers", str(args.workers), "--log-level", "warning"]
        server = subprocess.Popen(command, env=env, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            asyncio.run(run_load(base, token, args, server.pid))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
