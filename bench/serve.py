"""Serving cost next to nginx and bare-Python references: 304 polls, gzip snapshots, sweeps.

    .venv/bin/python bench/serve.py [--duration 10] [--runs 3] [--connections 32]

In one run, inside a temporary directory, it starts BudConnect (1 worker, SQLite), nginx
(its own nginx.conf, one worker, `gzip_static`) serving the exact catalog bytes BudConnect
serves, a raw ASGI app answering every request with a 304, and a plain FastAPI route doing the
same after checking If-None-Match (both under uvicorn, 1 worker). Then it prints:

1. wrk requests/s and latency p50/p99 (medians of `--runs` rounds; each round measures every
   server side by side, in a rotated order) for 304 polling of the 1.100.5 catalog and for the
   full catalog gzipped, and the ratios BudConnect/nginx (targets: 304 >= 0.5, gzip >= 0.7),
   BudConnect/raw ASGI and BudConnect/FastAPI;
2. cold and warm latency of the gzipped catalog on a second BudConnect process (bytes read
   raw, not decompressed, so the client's gunzip is not counted);
3. what one deployment spends fetching everything (sequential httpx, fresh pool per method,
   bodies decoded but not parsed except page 1): the paged compatible-models sweep without
   and with gzip, the catalog in one gzipped request, and a 304 poll;
4. 304 polls of other clients alone and during a flood of 20 concurrent `changes?since=0`
   requests (a second wrk, 3.6 MB identity bodies), side by side in each round, and the
   slowdown ratio (target < 2x);
5. the snapshot check interval, which bounds how stale a worker's view can be.

It prints figures only: no assertions, no pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from budconnect.config import Settings

CATALOG = "/v1/engines/litellm/versions/1.100.5/catalog"
COMPAT = "/model/get-compatible-models"
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

RAW_ASGI = """
ETAG = b'"raw-asgi"'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", ETAG)]})
    await send({"type": "http.response.body", "body": b""})
"""

PLAIN_FASTAPI = """
from fastapi import FastAPI, Request, Response

ETAG = '"plain-fastapi"'
app = FastAPI()


@app.get("/catalog")
async def catalog(request: Request) -> Response:
    if request.headers.get("if-none-match") == ETAG:
        return Response(status_code=304, headers={"etag": ETAG})
    return Response(b"{}", media_type="application/json", headers={"etag": ETAG})
"""

NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        etag on;
        gzip_static on;
        gzip_vary on;
        location / {{ }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Every server this script starts, each in its own session; `stop_all` ends them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []

    def serve(self, name: str, cmd: list[str], port: int, ready: str, **env: str) -> str:
        """Start `cmd` listening on `port`; return its base URL once `ready` answers."""
        with (self.workdir / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                env={**os.environ, **env}, start_new_session=True,
            )  # fmt: skip
        self.started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited; see {name}.log in {self.workdir}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}{ready}", timeout=2.0).status_code < 500:
                    return base
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after 180 s")

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
                proc.wait()


def start_budconnect(processes: Processes, name: str, db: Path) -> str:
    port = free_port()
    cmd = [sys.executable, "-m", "budconnect", "serve", "--port", str(port), "--workers", "1"]
    cmd += ["--log-level", "warning"]
    url = f"sqlite:///{db}"
    return processes.serve(name, cmd, port, "/healthz", BUDCONNECT_DATABASE_URL=url)


def start_uvicorn(processes: Processes, module: str, source: str) -> str:
    (processes.workdir / f"{module}.py").write_text(source)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)]
    cmd += ["--workers", "1", "--no-access-log", "--log-level", "warning", "--no-server-header"]
    return processes.serve(module, cmd, port, "/catalog", PYTHONPATH=str(processes.workdir))


def start_nginx(processes: Processes, identity: bytes, gzipped: bytes) -> str:
    tmp = processes.workdir
    (tmp / "nginx-temp").mkdir()
    (tmp / "www").mkdir()
    (tmp / "www" / "catalog.json").write_bytes(identity)
    (tmp / "www" / "catalog.json.gz").write_bytes(gzipped)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers as nobody could not read tmp
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, port=port))
    cmd = [NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")]
    return processes.serve("nginx", cmd, port, "/catalog.json")


def fetch_raw(
    client: httpx.Client, url: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """GET, with the body as sent on the wire (still compressed when gzipped)."""
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


@dataclass(frozen=True)
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    problems: str


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def run_wrk(url: str, headers: dict[str, str], connections: int, duration: int) -> Wrk:
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    latency = {
        pct: float(number) * _UNITS_MS[unit]
        for pct, number, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
    }
    problems = "; ".join(
        line.strip() for line in out.splitlines() if "Socket errors" in line or "Non-2xx" in line
    )
    if rps is None or len(latency) != 2:
        raise RuntimeError(f"unparsable wrk output: {out!r}")
    return Wrk(float(rps.group(1)), latency["50"], latency["99"], problems)


def check_304(name: str, url: str, headers: dict[str, str]) -> None:
    """One request with exactly wrk's headers (httpx would add Accept-Encoding)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request("GET", parts.path, headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    if status != 304:
        print(f"WARNING: {name} answered {status}, not 304, to {headers}")


Targets = dict[str, tuple[str, dict[str, str]]]


def measure_servers(targets: Targets, args: argparse.Namespace) -> dict[str, list[Wrk]]:
    results: dict[str, list[Wrk]] = {name: [] for name in targets}
    names = list(targets)
    for round_number in range(args.runs):
        shift = round_number % len(names)
        order = names[shift:] + names[:shift]
        print(f"  round {round_number + 1}/{args.runs}: {', '.join(order)}", flush=True)
        for name in order:
            url, headers = targets[name]
            results[name].append(run_wrk(url, headers, args.connections, args.duration))
    return results


def median_of(samples: list[Wrk], field: Callable[[Wrk], float]) -> float:
    return statistics.median(field(sample) for sample in samples)


def print_ratio(label: str, num: list[Wrk], den: list[Wrk], note: str = "") -> None:
    ratio = median_of(num, lambda w: w.rps) / median_of(den, lambda w: w.rps)
    per_round = ", ".join(f"{a.rps / b.rps:.2f}" for a, b in zip(num, den, strict=True))
    print(f"  {label:<32} {ratio:5.2f}  (per round: {per_round}){note}")


def print_wrk_table(title: str, results: dict[str, list[Wrk]]) -> None:
    print(f"\n{title}")
    print(f"  {'target':<26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   req/s per round")
    for name, samples in results.items():
        rounds = ", ".join(f"{sample.rps:.0f}" for sample in samples)
        print(
            f"  {name:<26} {median_of(samples, lambda w: w.rps):9.0f}"
            f" {median_of(samples, lambda w: w.p50_ms):8.2f}"
            f" {median_of(samples, lambda w: w.p99_ms):8.2f}   {rounds}"
        )
        for problem in {sample.problems for sample in samples if sample.problems}:
            print(f"    ! {problem}")


def cold_and_warm(processes: Processes, db: Path) -> None:
    base = start_budconnect(processes, "budconnect-2", db)
    with httpx.Client(base_url=base) as client:
        start = time.perf_counter()
        first, first_body = fetch_raw(client, CATALOG, GZIP)
        cold = time.perf_counter() - start
        warm = []
        for _ in range(20):
            start = time.perf_counter()
            fetch_raw(client, CATALOG, GZIP)
            warm.append(time.perf_counter() - start)
    print("\nCold vs warm, gzipped 1.100.5 catalog, second BudConnect process on the same database")
    print(
        f"  cold (first request, builds from the DB): {cold * 1e3:8.1f} ms"
        f"  ({first.status_code}, {len(first_body):,} bytes)"
    )
    print(f"  warm (median of 20 sequential requests):  {statistics.median(warm) * 1e3:8.1f} ms")
    print(f"  cold / warm: {cold / statistics.median(warm):.0f}x")


@dataclass(frozen=True)
class Fetch:
    requests: int
    body_bytes: int
    header_bytes: int
    seconds: float


def _header_bytes(response: httpx.Response) -> int:
    status_line = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    return status_line + sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2


def sweep(base: str, headers: dict[str, str], pages: list[bytes] | None = None) -> Fetch:
    """Page 1, read total_pages, then pages 2..total_pages, as deployed clients do."""
    url = f"{COMPAT}?engine=litellm&engine_version=1.100.5&limit=5&page="
    body = head = 0
    start = time.perf_counter()
    with httpx.Client(base_url=base) as client:
        response = client.get(f"{url}1", headers=headers)
        total_pages = int(response.json()["total_pages"])
        responses = [response]
        responses += [
            client.get(f"{url}{page}", headers=headers) for page in range(2, total_pages + 1)
        ]
    seconds = time.perf_counter() - start
    for response in responses:
        response.raise_for_status()
        body += response.num_bytes_downloaded
        head += _header_bytes(response)
        if pages is not None:
            pages.append(response.content)
    return Fetch(len(responses), body, head, seconds)


def one_request(base: str, headers: dict[str, str]) -> Fetch:
    start = time.perf_counter()
    with httpx.Client(base_url=base) as client:
        response = client.get(CATALOG, headers=headers)
    seconds = time.perf_counter() - start
    return Fetch(1, response.num_bytes_downloaded, _header_bytes(response), seconds)


def deployment_fetch(base: str, etag: str, runs: int) -> None:
    pages: list[bytes] = []
    cold = sweep(base, IDENTITY, pages)
    sweep(base, GZIP)  # warms the gzipped pages too
    providers = [item for page in pages for item in json.loads(page)["items"]]
    models = sum(len(item.get("models", [])) for item in providers)
    methods: dict[str, Callable[[], Fetch]] = {
        "(a) sweep, identity": lambda: sweep(base, IDENTITY),
        "(b) sweep, gzip": lambda: sweep(base, GZIP),
        "(c) catalog, one gzip request": lambda: one_request(base, GZIP),
        "(d) poll answered 304": lambda: one_request(base, {**GZIP, "If-None-Match": etag}),
    }
    samples: dict[str, list[Fetch]] = {name: [] for name in methods}
    for _ in range(runs):
        for name, method in methods.items():
            samples[name].append(method())
    print(
        f"\nOne deployment fetching 1.100.5 ({len(providers)} providers, {models:,} models),"
        f" sequential httpx, median of {runs}"
    )
    print(f"  {'method':<32} {'requests':>8} {'body bytes':>12} {'hdr bytes':>10} {'seconds':>8}")
    for name, fetches in samples.items():
        print(
            f"  {name:<32} {fetches[0].requests:8d} {fetches[0].body_bytes:12,d}"
            f" {fetches[0].header_bytes:10,d} {statistics.median(f.seconds for f in fetches):8.3f}"
        )
    print(f"  first sweep (cold pages, identity): {cold.seconds:.3f} s")
    print("  reference implementation (issue): 12 requests, 1.7 s, 654 KB for 1,007 models")


def change_flood(base: str, etag: str, args: argparse.Namespace) -> None:
    """Other clients' 304 polls alone, then while 20 more connections pull: `changes?since=0`
    (identity, gzip), or, as a control, yet more 304 polls. A flood of expensive requests
    should cost no more than a flood of the cheapest ones."""
    changes = f"{base}/v1/engines/litellm/versions/1.100.5/changes?since=0"
    poll = (f"{base}{CATALOG}", {"If-None-Match": etag})
    floods = {
        "changes?since=0, identity": (changes, IDENTITY),
        "changes?since=0, gzip": (changes, GZIP),
        "control: 304 polls": poll,
    }
    with httpx.Client(timeout=120) as client:
        start = time.perf_counter()
        first, first_body = fetch_raw(client, changes, IDENTITY)
        cold = time.perf_counter() - start
        gzip_size = len(fetch_raw(client, changes, GZIP)[1])
    alone: list[Wrk] = []
    during: dict[str, list[Wrk]] = {name: [] for name in floods}
    flood_rates: dict[str, list[Wrk]] = {name: [] for name in floods}
    for round_number in range(args.runs):
        print(f"  flood round {round_number + 1}/{args.runs}", flush=True)
        alone.append(run_wrk(*poll, args.connections, args.duration))
        for name, (url, headers) in floods.items():
            with ThreadPoolExecutor(1) as pool:
                flood = pool.submit(run_wrk, url, headers, 20, args.duration + 2)
                time.sleep(1.0)  # the flood is under way before the polls are measured
                during[name].append(run_wrk(*poll, args.connections, args.duration))
                flood_rates[name].append(flood.result())
    print(
        f"\n304 polls (wrk -c{args.connections}) alone and during a flood of 20 more connections"
        f" (wrk -c20); changes?since=0 on 1.100.5 is {len(first_body):,} B identity,"
        f" {gzip_size:,} B gzip; its first (cold) answer took {cold:.2f} s ({first.status_code})"
    )
    print(
        f"  {'304 polls':<34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'slowdown':>9}"
        f"   {'flood answers/s':>15}"
    )
    base_rps = median_of(alone, lambda w: w.rps)
    rows = [("alone", alone, None), *((f"during {n}", during[n], flood_rates[n]) for n in floods)]
    for name, samples, rates in rows:
        rps = median_of(samples, lambda w: w.rps)
        flood = f"{median_of(rates, lambda w: w.rps):15.0f}" if rates else ""
        print(
            f"  {name:<34} {rps:8.0f} {median_of(samples, lambda w: w.p50_ms):7.2f}"
            f" {median_of(samples, lambda w: w.p99_ms):7.2f} {base_rps / rps:8.2f}x   {flood}"
        )
    print("  target: a since=0 flood slows 304 polls by < 2x (medians of rounds, side by side)")


def crawl(processes: Processes, db: Path) -> None:
    """RSS of a fresh worker before and after one request for every distinct URL of every
    version: every compatible-models page at every limit, with and without engine, catalogs,
    maps, every change-feed revision and every diff. The caches are bounded in bytes."""
    base = start_budconnect(processes, "budconnect-crawl", db)
    pid = processes.started[-1].pid
    with httpx.Client(base_url=base, timeout=120, headers=GZIP) as client:
        versions = [v["version"] for v in client.get("/engines/litellm/versions").json()["items"]]
        revision = max(
            v["revision"] for v in client.get("/engines/litellm/versions").json()["items"]
        )
        before = _rss_mb(pid)
        urls = []
        for version in versions:
            leaf = f"/v1/engines/litellm/versions/{version}"
            urls += [f"{leaf}/catalog", f"{leaf}/model_prices_and_context_window.json"]
            urls += [f"{leaf}/changes?since={since}" for since in range(revision + 1)]
            providers = client.get(f"{leaf}/catalog").json()["provider_count"]
            for limit in range(1, 101):
                for page in range(1, -(-providers // limit) + 1):
                    urls.append(
                        f"{COMPAT}?engine=litellm&engine_version={version}&limit={limit}&page={page}"
                    )
        everything = client.get(f"{COMPAT}?limit=1").json()["total_items"]
        for limit in range(1, 101):
            urls += [
                f"{COMPAT}?limit={limit}&page={p}" for p in range(1, -(-everything // limit) + 1)
            ]
        urls += [
            f"/v1/engines/litellm/diff?from={a}&to={b}"
            for a in versions
            for b in versions
            if a != b
        ]
        started = time.perf_counter()
        for url in urls:
            client.get(url).raise_for_status()
        seconds = time.perf_counter() - started
        after = _rss_mb(pid)
    print(
        f"\nCrawl of every distinct URL of {len(versions)} versions"
        f" ({len(urls):,} requests, {seconds:.0f} s)"
    )
    print(f"  worker RSS {before:.0f} MB before, {after:.0f} MB after"
          " (bounded by BUDCONNECT_SNAPSHOT_CACHE_MB + BUDCONNECT_BODY_CACHE_MB)")  # fmt: skip


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement")
    parser.add_argument("--runs", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--sections",
        default="wrk,cold,fetch,flood,crawl",
        help="comma-separated subset of: wrk (vs nginx), cold, fetch (one deployment), flood,"
        " crawl (memory after every distinct URL)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` runs on kill
    with tempfile.TemporaryDirectory(prefix="budconnect-bench-") as tmp:
        workdir = Path(tmp)
        processes = Processes(workdir)
        try:
            run(processes, workdir, args)
        finally:
            processes.stop_all()


def run(processes: Processes, workdir: Path, args: argparse.Namespace) -> None:
    db = workdir / "budconnect.db"
    print("starting BudConnect (migrate + seed) ...", flush=True)
    bud = start_budconnect(processes, "budconnect", db)
    with httpx.Client(base_url=bud, timeout=60.0) as client:
        for _ in range(3):
            fetch_raw(client, CATALOG, IDENTITY)
            fetch_raw(client, CATALOG, GZIP)
        time.sleep(2.0)  # the fast path answers once the background view was refreshed
        identity, identity_body = fetch_raw(client, CATALOG, IDENTITY)
        gzipped, gzip_body = fetch_raw(client, CATALOG, GZIP)
    etag = identity.headers["etag"]
    gzip_etag = etag[:-1] + '-gzip"'
    if gzipped.headers.get("content-encoding") != "gzip" or gzipped.headers["etag"] != gzip_etag:
        print(f"WARNING: unexpected gzip answer: {dict(gzipped.headers)}")
    print(
        f"BudConnect {bud}: identity {len(identity_body):,} B, gzip {len(gzip_body):,} B"
        f', ETag {etag[:18]}..."'
    )
    nginx = start_nginx(processes, identity_body, gzip_body)
    with httpx.Client(base_url=nginx) as client:
        nginx_etag = client.head("/catalog.json", headers=IDENTITY).headers["etag"]
        nginx_gzip, nginx_gzip_body = fetch_raw(client, "/catalog.json", GZIP)
    if nginx_gzip.headers.get("content-encoding") != "gzip" or nginx_gzip_body != gzip_body:
        print(f"WARNING: nginx gzip_static differs: {dict(nginx_gzip.headers)}")
    lengths = (nginx_gzip.headers.get("content-length"), gzipped.headers.get("content-length"))
    print(
        f"nginx {nginx}: ETag {nginx_etag}, gzip content-length nginx {lengths[0]}"
        f" vs BudConnect {lengths[1]} ({'match' if lengths[0] == lengths[1] else 'DIFFER'})"
    )
    sections = set(args.sections.split(","))
    if "wrk" in sections:
        compare_with_references(processes, args, bud, etag, nginx, nginx_etag, len(gzip_body))
    if "cold" in sections:
        cold_and_warm(processes, db)
    if "fetch" in sections:
        deployment_fetch(bud, etag, args.runs)
    if "flood" in sections:
        change_flood(bud, etag, args)
    if "crawl" in sections:
        crawl(processes, db)
    interval = Settings().snapshot_check_interval
    print(
        f"\nFreshness: snapshot check interval {interval:g} s (BUDCONNECT_SNAPSHOT_CHECK_INTERVAL);"
    )
    print("  a seed is visible to every worker within one check interval (plus one refresh query).")


def compare_with_references(
    processes: Processes,
    args: argparse.Namespace,
    bud: str,
    etag: str,
    nginx: str,
    nginx_etag: str,
    gzip_size: int,
) -> None:
    raw = start_uvicorn(processes, "raw_asgi", RAW_ASGI)
    plain = start_uvicorn(processes, "plain_fastapi", PLAIN_FASTAPI)

    polls = {
        "nginx": (f"{nginx}/catalog.json", {"If-None-Match": nginx_etag}),
        "BudConnect": (f"{bud}{CATALOG}", {"If-None-Match": etag}),
        "raw ASGI (uvicorn)": (f"{raw}/catalog", {"If-None-Match": '"raw-asgi"'}),
        "plain FastAPI (uvicorn)": (f"{plain}/catalog", {"If-None-Match": '"plain-fastapi"'}),
    }
    full = {
        "nginx gzip_static": (f"{nginx}/catalog.json", GZIP),
        "BudConnect gzip": (f"{bud}{CATALOG}", GZIP),
    }
    for name, (url, headers) in polls.items():
        check_304(name, url, headers)
    print(f"\nwrk -t1 -c{args.connections} -d{args.duration}s, {args.runs} rounds", flush=True)
    both = measure_servers({**{f"304 {k}": v for k, v in polls.items()}, **full}, args)
    poll_results = {name: both[f"304 {name}"] for name in polls}
    full_results = {name: both[name] for name in full}
    print_wrk_table("304 polling, 1.100.5 catalog (median of rounds)", poll_results)
    print_wrk_table(f"Full catalog gzipped, {gzip_size:,} B (median)", full_results)
    bud_304, bud_gzip = poll_results["BudConnect"], full_results["BudConnect gzip"]
    print("\nRatios of median req/s")
    print_ratio("BudConnect / nginx, 304", bud_304, poll_results["nginx"], "  target >= 0.5")
    print_ratio(
        "BudConnect / nginx, gzip", bud_gzip, full_results["nginx gzip_static"], "  target >= 0.7"
    )
    print_ratio("BudConnect / raw ASGI, 304", bud_304, poll_results["raw ASGI (uvicorn)"])
    print_ratio("BudConnect / plain FastAPI, 304", bud_304, poll_results["plain FastAPI (uvicorn)"])


if __name__ == "__main__":
    main()
