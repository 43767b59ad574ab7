"""`GET /metrics`: what an operator scrapes, added up over the workers of one server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from budconnect.domain.tokens import new_token, token_hash
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.sync import SyncClient
from tests.conftest import Server, source_bytes
from tests.conftest import metric as sample

COMPAT = "/model/get-compatible-models"


def test_metrics_count_requests_by_route_and_status_over_every_worker(
    db: Database, tmp_path: Path
) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    admin = new_token()
    env = {
        "BUDCONNECT_ADMIN_TOKENS": f"ops={token_hash(admin)}",
        "BUDCONNECT_FLEET_FLUSH_SECONDS": "0.2",
    }
    with Server(db.url, env=env, args=("--workers", "2")) as server:
        url = server.base_url
        first = httpx.get(f"{url}{COMPAT}")
        etag = first.headers["etag"]
        # New connections each time: the two workers share the requests between them.
        for _ in range(20):
            assert httpx.get(f"{url}{COMPAT}", headers={"if-none-match": etag}).status_code == 304
        models = f"{url}/v1/engines/litellm/versions/1.14.4/models"
        for _ in range(3):
            assert httpx.get(models, params={"limit": 2}).status_code == 200
        assert httpx.get(f"{url}/v1/engines/litellm/versions/9.9.9/models").status_code == 404
        with SyncClient(url, "litellm", "1.14.4", tmp_path / "state", deployment="eu-1") as sync:
            sync.sync_once()

        # Two deployments: eu-1, and the sweeper above counted by address and User-Agent
        # (page 1 of compatible-models). Each worker flushes what it heard on its own
        # schedule, so wait until both have reached the database and been counted. eu-1
        # reported holding nothing when it polled (it applied after): only the sweeper is
        # current.
        deadline = time.monotonic() + 30
        while True:
            text = httpx.get(f"{url}/metrics").text
            if sample(text, "budconnect_fleet_deployments", state="deployments") == 2 or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.2)
        kinds = httpx.get(f"{url}/v1/fleet", headers={"authorization": f"Bearer {admin}"})

    assert sample(text, "budconnect_requests_total", route="compat", status="304") == 20
    assert sample(text, "budconnect_requests_total", route="compat", status="200") >= 1
    template = "/v1/engines/{engine}/versions/{version}/models"
    assert sample(text, "budconnect_requests_total", route=template, status="200") == 3
    assert sample(text, "budconnect_requests_total", route=template, status="404") == 1
    assert not sample(text, "budconnect_requests_total", route="other")
    assert sample(text, "budconnect_request_duration_seconds_count", route="compat") >= 21
    assert sample(text, "budconnect_versions", engine="litellm", state="final") == 1
    assert sample(text, "budconnect_cache_bytes", cache="snapshots") > 0
    assert sample(text, "budconnect_fleet_deployments", state="deployments") == 2
    assert sample(text, "budconnect_fleet_deployments", state="current") == 1
    assert sorted(d["kind"] for d in kinds.json()["items"]) == ["budserve", "sync"]
    assert sample(text, "budconnect_fleet_deployments", state="failing") == 0


def _workers(pid: int) -> set[int]:
    """The worker processes of the server `pid` (its children that multiprocessing spawned
    to run the app, not its resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def test_a_dead_workers_gauges_leave_the_sums_and_the_files_leave_with_the_server(
    db: Database, tmp_path: Path
) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    with Server(db.url, env={"TMPDIR": str(tmp_path)}, args=("--workers", "2")) as server:
        assert server.process is not None
        [directory] = tmp_path.glob("budconnect-metrics-*")
        workers = _workers(server.process.pid)
        assert len(workers) == 2
        victim = min(workers)
        deadline = time.monotonic() + 30
        while not list(directory.glob(f"gauge_live*_{victim}.db")):
            assert time.monotonic() < deadline, "the worker never set a gauge"
            httpx.get(f"{server.base_url}/v1/engines/litellm/versions/1.14.4/catalog")
            time.sleep(0.1)
        os.kill(victim, signal.SIGKILL)
        while len(_workers(server.process.pid) - {victim}) < 2:  # restarted
            assert time.monotonic() < deadline, "no worker took the dead one's place"
            time.sleep(0.1)
        text = httpx.get(f"{server.base_url}/metrics").text
        assert sample(text, "budconnect_versions", engine="litellm", state="final") == 1
        # Sweep pins live in one worker: several behind one port are said to be a risk.
        assert "2 workers on one port: a compatible-models sweep is pinned" in server.output()
        assert list(directory.glob(f"gauge_live*_{victim}.db")) == []
        assert list(directory.glob("counter_*.db"))  # what was counted stays counted
    assert not directory.exists()
