"""The query API and the web catalog on the largest bundled version: warm and cold latency.

    .venv/bin/python bench/query.py [--runs 50]

Starts BudConnect (1 worker, SQLite, every bundled version) and prints the median and p95 of
`--runs` sequential requests (after one warm-up request) for: a filtered, sorted query of
1.100.5's models; a free-text search; one model; a model's history (across every version);
the web catalog's version page with filters; a model's page. Also the first (cold) request of
the history. Target (issue 10): a filtered query or a history under 50 ms warm.

Figures only: no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

VERSION = "1.100.5"
REQUESTS = {
    "filtered query": f"/v1/engines/litellm/versions/{VERSION}/models?provider=openai"
    "&supports_vision=true&min_context=100000&max_input_price=5&sort=-context&limit=50",
    "text search": f"/v1/engines/litellm/versions/{VERSION}/models?q=claude&sort=input_price",
    "one model": f"/v1/engines/litellm/versions/{VERSION}/models/bedrock/ap-northeast-1/"
    "anthropic.claude-v2:1",
    "history": "/v1/engines/litellm/models/gpt-4o/history",
    "web: version page": f"/catalog/litellm/{VERSION}?q=gpt&capability=supports_vision"
    "&sort=-input_price",
    "web: model page": f"/catalog/litellm/{VERSION}/models/gpt-4o",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "BUDCONNECT_DATABASE_URL": f"sqlite:///{Path(tmp) / 'q.db'}"}
        server = subprocess.Popen(
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
            env=env,
            start_new_session=True,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            with httpx.Client(base_url=base, timeout=60) as client:
                started = time.perf_counter()
                client.get(REQUESTS["history"]).raise_for_status()
                cold = time.perf_counter() - started
                print(f"\nQuery API and web catalog, {VERSION} (3,409 models), 1 worker, SQLite;"
                      f" median and p95 of {args.runs} sequential requests, warm")  # fmt: skip
                for name, path in REQUESTS.items():
                    client.get(path).raise_for_status()
                    samples = []
                    for _ in range(args.runs):
                        started = time.perf_counter()
                        answer = client.get(path)
                        samples.append(time.perf_counter() - started)
                        answer.raise_for_status()
                    samples.sort()
                    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
                    print(f"  {name:<20} {statistics.median(samples) * 1e3:7.1f} ms"
                          f"   p95 {p95 * 1e3:7.1f} ms   {len(answer.content):>9,} B")  # fmt: skip
                print(f"  history, first (cold) request: {cold * 1e3:.1f} ms")
                print("  target: a filtered query or a history under 50 ms warm")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
