"""The sync client against the real server process and a real database, faults included."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from budconnect.domain.documents import LITELLM_MAP
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.sync import SyncClient, SyncOutcome
from budconnect.sync.files import CATALOG, STATE
from tests.conftest import Server, run_cli, source_bytes, source_models
from tests.faults import FaultProxy

VERSION = "1.14.4"


@pytest.fixture
def live(db: Database) -> Iterator[tuple[Database, Server]]:
    """A real server over a real database holding one small version."""
    seed(db, engine="litellm", version=VERSION, raw=source_bytes(VERSION))
    with Server(db.url) as server:
        yield db, server


_open_clients: list[SyncClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def client(server_url: str, state_dir: Path, **kwargs: Any) -> SyncClient:
    opened = SyncClient(server_url, "litellm", VERSION, state_dir, timeout=10, **kwargs)
    _open_clients.append(opened)
    return opened


def files(state_dir: Path) -> dict[str, bytes]:
    return {name: (state_dir / name).read_bytes() for name in (CATALOG, LITELLM_MAP)}


def server_catalog(server: Server) -> Any:
    return httpx.get(f"{server.base_url}/v1/engines/litellm/versions/{VERSION}/catalog").json()


def reseed_changed(db: Database, server: Server, **changes: Any) -> dict[str, Any]:
    """Seed a changed 1.14.4 and wait until the server serves it; returns the new source."""
    before = server_catalog(server)["digest"]
    document = json.loads(source_bytes(VERSION))
    document["gpt-4"]["input_cost_per_token"] = changes.get("price", 1.0)
    del document["gpt-3.5-turbo"]
    for key in [k for k, v in document.items() if v.get("litellm_provider") == "nlp_cloud"]:
        del document[key]
    document["brand-new"] = {"litellm_provider": "openai", "mode": "chat"}
    seed(
        db,
        engine="litellm",
        version=VERSION,
        raw=json.dumps(document).encode(),
        history=changes.get("history", 1000),
    )
    deadline = time.monotonic() + 10
    while server_catalog(server)["digest"] == before:
        assert time.monotonic() < deadline, "the server never served the new seed"
        time.sleep(0.05)
    return document


def test_a_client_converges_to_the_exact_snapshot_from_empty(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live
    sync = client(server.base_url, tmp_path)
    outcome = sync.sync_once()
    assert (outcome.status, outcome.method) == ("updated", "catalog")
    assert outcome.added == len(source_models(VERSION))
    assert json.loads((tmp_path / CATALOG).read_bytes()) == server_catalog(server)
    assert json.loads((tmp_path / LITELLM_MAP).read_bytes()) == source_models(VERSION)
    state = json.loads((tmp_path / STATE).read_bytes())
    assert state["digest"] == server_catalog(server)["digest"]
    assert state["last_success"]
    assert state["consecutive_failures"] == 0


def test_a_second_poll_is_not_modified(live: tuple[Database, Server], tmp_path: Path) -> None:
    _, server = live
    sync = client(server.base_url, tmp_path)
    sync.sync_once()
    before = files(tmp_path)
    outcome = sync.sync_once()
    assert (outcome.status, outcome.method) == ("unchanged", "not-modified")
    assert files(tmp_path) == before


def test_the_change_feed_reaches_the_same_state_as_a_full_download(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    db, server = live
    incremental = client(server.base_url, tmp_path / "incremental")
    incremental.sync_once()
    document = reseed_changed(db, server)

    outcome = incremental.sync_once()
    assert (outcome.status, outcome.method) == ("updated", "changes")
    removed = len(source_models(VERSION).keys() - document.keys())
    assert (outcome.added, outcome.removed, outcome.changed) == (1, removed, 1)

    full = client(server.base_url, tmp_path / "full")
    assert full.sync_once().method == "catalog"
    for name in (CATALOG, LITELLM_MAP):
        assert json.loads((tmp_path / "incremental" / name).read_bytes()) == json.loads(
            (tmp_path / "full" / name).read_bytes()
        )
    assert json.loads((tmp_path / "full" / LITELLM_MAP).read_bytes()) == document


def test_a_revision_too_old_for_the_feed_leads_to_a_full_resync(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    db, server = live
    sync = client(server.base_url, tmp_path)
    sync.sync_once()
    reseed_changed(db, server, price=2.0, history=1)
    reseed_changed(db, server, price=3.0, history=1)  # prunes what the client would need
    with FaultProxy(server.base_url) as proxy:
        outcome = client(proxy.base_url, tmp_path).sync_once()  # the same state, via a proxy
    assert [status for path, status in proxy.statuses if "/changes?" in path] == [410]
    assert (outcome.status, outcome.method) == ("updated", "catalog")
    assert json.loads((tmp_path / CATALOG).read_bytes()) == server_catalog(server)


@pytest.mark.parametrize("fault", ["500", "429", "429-date", "truncate", "reset", "corrupt"])
def test_a_fault_on_the_first_download_writes_no_configuration(
    live: tuple[Database, Server], tmp_path: Path, fault: str
) -> None:
    _, server = live
    with FaultProxy(server.base_url) as proxy:
        proxy.mode = fault
        sync = client(proxy.base_url, tmp_path)
        outcome = sync.sync_once()
        assert outcome.status == "failed"
        assert not (tmp_path / CATALOG).exists()
        assert not (tmp_path / LITELLM_MAP).exists()
        if fault.startswith("429"):
            assert outcome.retry_after is not None
            assert 3 <= outcome.retry_after <= 7  # a date is whole seconds: some are lost
        proxy.mode = "pass"
        assert sync.sync_once().status == "updated"
    assert json.loads((tmp_path / CATALOG).read_bytes()) == server_catalog(server)


def test_an_answer_sent_a_byte_at_a_time_is_given_up_at_the_deadline(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live
    with FaultProxy(server.base_url) as proxy:
        proxy.mode = "dribble"
        sync = client(proxy.base_url, tmp_path, deadline=1.0)
        started = time.monotonic()
        outcome = sync.sync_once()
        assert time.monotonic() - started < 10
        assert outcome.status == "failed"
        assert "longer than 1 s" in (outcome.error or "")
        assert not (tmp_path / CATALOG).exists()


@pytest.mark.parametrize("fault", ["500", "429", "truncate", "reset", "corrupt"])
def test_a_fault_leaves_the_last_good_configuration_intact(
    live: tuple[Database, Server], tmp_path: Path, fault: str
) -> None:
    db, server = live
    with FaultProxy(server.base_url) as proxy:
        sync = client(proxy.base_url, tmp_path)
        assert sync.sync_once().status == "updated"
        reseed_changed(db, server)  # something new to fetch, so the fault hits a real update
        before = files(tmp_path)

        proxy.mode = fault
        outcome = sync.sync_once()
        assert outcome.status == "failed"
        assert outcome.error
        assert files(tmp_path) == before
        state = json.loads((tmp_path / STATE).read_bytes())
        assert state["consecutive_failures"] == 1
        assert state["last_error"]["message"] == outcome.error
        if fault == "429":
            assert outcome.retry_after == 7
            assert sync.next_delay(outcome, interval=1) >= 7

        proxy.mode = "pass"
        recovered = sync.sync_once()
        assert recovered.status == "updated"
        assert json.loads((tmp_path / CATALOG).read_bytes()) == server_catalog(server)
        assert json.loads((tmp_path / STATE).read_bytes())["consecutive_failures"] == 0


def test_the_server_killed_and_restarted_while_polling_is_survived(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    db, server = live
    sync = client(server.base_url, tmp_path, backoff_base=0.05, backoff_cap=0.2)
    outcomes: list[Any] = []
    original = sync.sync_once

    def recording() -> Any:
        outcome = original()
        outcomes.append(outcome)
        return outcome

    sync.sync_once = recording  # type: ignore[method-assign]
    poller = threading.Thread(target=sync.run, kwargs={"interval": 0.05}, daemon=True)
    poller.start()
    try:
        deadline = time.monotonic() + 20
        while not any(o.status == "updated" for o in outcomes):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        good = files(tmp_path)

        server.kill()  # no goodbye: connections refused or cut mid-request
        failures_seen = len([o for o in outcomes if o.status == "failed"])
        while len([o for o in outcomes if o.status == "failed"]) < failures_seen + 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert files(tmp_path) == good

        restarted = Server(db.url, port=server.port).start()
        try:
            document = reseed_changed(db, restarted)
            while json.loads((tmp_path / LITELLM_MAP).read_bytes()) != document:
                assert time.monotonic() < deadline, "the client did not converge after restart"
                time.sleep(0.02)
        finally:
            restarted.stop()
    finally:
        sync.stop()
        poller.join(timeout=10)
    assert not poller.is_alive()


def test_on_change_runs_after_a_change_is_applied_and_not_otherwise(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live
    marker = tmp_path / "reloads"
    command = f'echo "$BUDCONNECT_SYNC_DIGEST" >> {marker}'
    sync = client(server.base_url, tmp_path / "state", on_change=command)
    sync.sync_once()
    sync.sync_once()
    assert marker.read_text().split() == [server_catalog(server)["digest"]]


def test_requests_name_the_deployment(live: tuple[Database, Server], tmp_path: Path) -> None:
    _, server = live
    with FaultProxy(server.base_url) as proxy:
        client(proxy.base_url, tmp_path, deployment="eu-west-prod-7").sync_once()
    (_, headers), *_ = proxy.requests
    agent = {k.lower(): v for k, v in headers.items()}["user-agent"]
    assert "eu-west-prod-7" in agent
    assert agent.startswith("budconnect-sync/")


def test_a_damaged_local_copy_is_fetched_again_and_a_missing_map_rebuilt(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live
    marker = tmp_path / "reloads"
    command = f'echo "$BUDCONNECT_SYNC_DIGEST" >> {marker}'
    state_dir = tmp_path / "state"
    client(server.base_url, state_dir, on_change=command).sync_once()
    good = files(state_dir)
    applied = json.loads((state_dir / "state.json").read_bytes())["last_change"]

    (state_dir / LITELLM_MAP).unlink()
    # The first poll repairs the map, whether or not the server answers.
    outcome = client("http://127.0.0.1:9", state_dir).sync_once()
    assert outcome.status == "failed"
    assert files(state_dir) == good

    # A catalog damaged or removed is fetched again and put back. The configuration is the
    # one applied before: no change is recorded and the on-change command does not run again.
    for damage in ("truncate", "remove"):
        if damage == "truncate":
            (state_dir / CATALOG).write_bytes(good[CATALOG][: len(good[CATALOG]) // 2])
        else:
            (state_dir / CATALOG).unlink()
        outcome = client(server.base_url, state_dir, on_change=command).sync_once()
        assert (outcome.status, outcome.method, outcome.ok) == ("unchanged", "catalog", True)
        assert files(state_dir) == good
        assert json.loads((state_dir / "state.json").read_bytes())["last_change"] == applied
    assert marker.read_text().split() == [server_catalog(server)["digest"]]


def test_failures_back_off_exponentially_with_jitter_up_to_a_cap(tmp_path: Path) -> None:
    sync = SyncClient(
        "http://127.0.0.1:9",
        "litellm",
        VERSION,
        tmp_path,
        timeout=1,
        backoff_base=1.0,
        backoff_cap=30.0,
    )
    delays = []
    for _ in range(8):
        outcome = sync.sync_once()
        assert outcome.status == "failed"
        delays.append(sync.next_delay(outcome, interval=300))
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert not (tmp_path / CATALOG).exists()
    polls = [sync.next_delay(SyncOutcome("unchanged"), 300) for _ in range(50)]
    assert all(270 <= d <= 330 for d in polls)
    assert len({round(d, 3) for d in polls}) > 40  # jittered, not one value


def test_the_sync_command_polls_once_and_reports_failure_in_one_line(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live

    def sync_cli(url: str) -> subprocess.CompletedProcess[str]:
        args = ["--server", url, "--engine-version", VERSION, "--state-dir", str(tmp_path)]
        return run_cli("sync", *args, "--once", database_url="sqlite://")

    done = sync_cli(server.base_url)
    assert done.returncode == 0, done.stderr
    assert f"{len(source_models(VERSION))} models added" in done.stderr
    assert json.loads((tmp_path / LITELLM_MAP).read_bytes()) == source_models(VERSION)

    dead = sync_cli("http://127.0.0.1:9")
    assert dead.returncode == 1
    assert dead.stderr.strip().splitlines()[-1].startswith("error: sync failed:")
    assert json.loads((tmp_path / LITELLM_MAP).read_bytes()) == source_models(VERSION)

    bad = sync_cli("ftp://x")
    assert bad.returncode == 1
    assert "--server must be an http" in bad.stderr


def test_failures_add_up_across_runs_of_one_server_and_start_over_for_another(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    """`--once` from cron is a new process each time: the count (and the backoff it sets)
    must survive it, yet failures against a server no longer followed say nothing."""
    _, server = live
    dead = "http://127.0.0.1:9"
    for expected in (1, 2, 3):
        assert client(dead, tmp_path).sync_once().status == "failed"
        assert json.loads((tmp_path / STATE).read_bytes())["consecutive_failures"] == expected
    moved = client(server.base_url, tmp_path)
    assert moved.failures == 0  # not "4 in a row" against a server it never asked
    assert moved.sync_once().status == "updated"


def test_a_garbled_state_file_is_not_fatal(live: tuple[Database, Server], tmp_path: Path) -> None:
    _, server = live
    for garbage in (b"[1]", b'{"consecutive_failures": null}', b"{not json"):
        (tmp_path / STATE).write_bytes(garbage)
        assert client(server.base_url, tmp_path).sync_once().status in ("updated", "unchanged")
        assert json.loads((tmp_path / STATE).read_bytes())["consecutive_failures"] == 0


def test_a_local_disk_error_is_a_failed_poll_not_a_crash(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    db, server = live
    sync = client(server.base_url, tmp_path)
    sync.sync_once()
    good = files(tmp_path)
    reseed_changed(db, server)
    # No file can be created in the directory, as on a full or broken disk: it is made a
    # file for the duration of the poll.
    away = tmp_path.with_name(tmp_path.name + "-away")
    tmp_path.rename(away)
    tmp_path.write_bytes(b"")
    try:
        outcome = sync.sync_once()
    finally:
        tmp_path.unlink()
        away.rename(tmp_path)
    assert outcome.status == "failed"
    assert outcome.error
    assert "local files" in outcome.error
    assert files(tmp_path) == good
    assert sync.sync_once().status == "updated"


def test_a_deployment_name_is_made_header_safe(
    live: tuple[Database, Server], tmp_path: Path
) -> None:
    _, server = live
    with FaultProxy(server.base_url) as proxy:
        outcome = client(proxy.base_url, tmp_path, deployment="dépl\r\nX-Evil: 1").sync_once()
    assert outcome.status == "updated"
    (_, headers), *_ = proxy.requests
    assert "x-evil" not in {k.lower() for k in headers}
    assert "d_pl__X-Evil__1" in {k.lower(): v for k, v in headers.items()}["user-agent"]
