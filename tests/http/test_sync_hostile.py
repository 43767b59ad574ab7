"""The sync client against hostile and misconfigured servers: it never applies wrong data.

Each server here is real (a process or a thread listening on a port) and answers what the
test decides: another version's real catalog, a redirect to another origin, a gzip bomb, an
endless body. After each, the deployment's configuration files are byte-identical and the
failure is recorded in state.json.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from budconnect.domain.documents import LITELLM_MAP, catalog_digest
from budconnect.domain.tokens import new_token, token_hash
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import upgrade
from budconnect.sync import SyncClient
from budconnect.sync.files import CATALOG, STATE, exclusive
from tests.conftest import Server, source_bytes
from tests.hostile import DROP, HostileServer, Reply, gzip_bomb

FOLLOWED, OTHER = "1.60.9", "1.14.4"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server holding two versions: the one followed and another."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'real.db'}"
    db = Database(url)
    upgrade(db.engine)
    for version in (OTHER, FOLLOWED):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    db.dispose()
    with Server(url) as server:
        yield server


def forward(real: Server, path: str, headers: dict[str, str] | None = None) -> Reply:
    """What the real server answers to `path` (decoded, re-sent without content-encoding)."""
    answer = httpx.get(real.base_url + path, headers=headers or {}, timeout=30)
    kept = {k: v for k, v in answer.headers.items() if k in ("content-type", "etag")}
    return answer.status_code, kept, [answer.content]


def synced(real: Server, state: Path, **kwargs: Any) -> dict[str, bytes]:
    """Bring `state` up to date from the real server; returns its files."""
    with SyncClient(real.base_url, "litellm", FOLLOWED, state, **kwargs) as client:
        assert client.sync_once().status == "updated"
    return config_files(state)


def config_files(state: Path) -> dict[str, bytes]:
    return {n: (state / n).read_bytes() for n in (CATALOG, LITELLM_MAP) if (state / n).exists()}


def last_error(state: Path) -> str:
    message: str = json.loads((state / STATE).read_bytes())["last_error"]["message"]
    return message


def sync_cli(
    server: str, state: Path, *args: str, **popen: Any
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "budconnect", "sync", "--server", server]
    command += ["--engine-version", FOLLOWED, "--state-dir", str(state), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **popen)


# --- the wrong data ---------------------------------------------------------------------------


def test_an_answer_about_another_version_is_refused(real: Server, tmp_path: Path) -> None:
    """Asked for 1.60.9, the server answers with the real 1.14.4 catalog (which verifies)."""

    def other_version(path: str) -> Reply:
        return forward(real, path.replace(FOLLOWED, OTHER))

    state = tmp_path / "state"
    before = synced(real, state)
    empty = tmp_path / "empty"
    with HostileServer(other_version) as hostile:
        for directory, files in ((state, before), (empty, {})):
            with SyncClient(hostile.base_url, "litellm", FOLLOWED, directory) as client:
                outcome = client.sync_once()
            assert outcome.status == "failed"
            assert f"litellm {OTHER}, not the litellm {FOLLOWED}" in (outcome.error or "")
            assert hostile.base_url in (outcome.error or "")  # the error names the server
            assert config_files(directory) == files
            assert last_error(directory) == outcome.error
        paths = [path for path, _ in hostile.requests]
        assert any("/changes?since=" in p for p in paths)  # the delta was refused too
        assert any(p.endswith("/catalog") for p in paths)
        done = sync_cli(hostile.base_url, state, "--once")
    assert done.returncode == 1
    assert "nothing applied" in done.stderr.splitlines()[-1]
    assert config_files(state) == before


def test_following_latest_accepts_another_version_but_not_another_engine(
    real: Server, tmp_path: Path
) -> None:
    def other_engine(path: str) -> Reply:
        status, kept, [body] = forward(real, path)
        return status, kept, [body.replace(b'"engine":"litellm"', b'"engine":"vllm"', 1)]

    with SyncClient(real.base_url, "litellm", "latest", tmp_path / "latest") as client:
        assert client.sync_once().status == "updated"
    with (
        HostileServer(other_engine) as hostile,
        SyncClient(hostile.base_url, "litellm", "latest", tmp_path / "other") as client,
    ):
        outcome = client.sync_once()
    assert outcome.status == "failed"
    assert "vllm" in (outcome.error or "")
    assert config_files(tmp_path / "other") == {}


@pytest.mark.parametrize("name", ["1.200.0rc1", "1.200.0+local", "../../etc/x", "1.200.0\x00"])
def test_following_latest_refuses_a_name_latest_cannot_have(
    real: Server, tmp_path: Path, name: str
) -> None:
    """The catalog verifies (its digest is recomputed for the new name), but `latest` names
    only final releases, and the name would reach state.json, headers and the hook."""

    def renamed(path: str) -> Reply:
        if "/changes" in path:  # too old: the client fetches the catalog
            return 410, {"content-type": "application/problem+json"}, [b"{}"]
        status, kept, [body] = forward(real, path)
        if status != 200:
            return status, kept, [body]
        catalog = json.loads(body)
        catalog["engine_version"] = name
        catalog["digest"] = catalog_digest(
            engine=catalog["engine"], version=name, providers=catalog["providers"],
            extras=catalog["extras"],
        )  # fmt: skip
        kept["etag"] = f'"{catalog["digest"]}"'
        return status, kept, [json.dumps(catalog).encode()]

    state = tmp_path / "state"
    with SyncClient(real.base_url, "litellm", "latest", state) as client:
        assert client.sync_once().status == "updated"
    before = config_files(state)
    with (
        HostileServer(renamed) as hostile,
        SyncClient(hostile.base_url, "litellm", "latest", state, on_change="true") as client,
    ):
        outcome = client.sync_once()
        assert outcome.status == "failed"
        assert "not a final release's version; nothing applied" in (outcome.error or "")
        assert config_files(state) == before
        # Still in working order: the next poll of the real server goes through.
        client.server = real.base_url
        client.origin = (
            "http", "127.0.0.1", int(real.base_url.rsplit(":", 1)[1]),
        )  # fmt: skip
        assert client.sync_once().status == "unchanged"


def test_a_redirect_to_another_origin_is_not_followed_unless_allowed(
    real: Server, tmp_path: Path
) -> None:
    def redirect(path: str) -> Reply:
        if path.startswith("/same-origin"):
            return forward(real, path.removeprefix("/same-origin"))
        if "/catalog" in path and "hop" not in path:
            return 302, {"location": "/same-origin" + path}, [b""]
        return 302, {"location": real.base_url + path}, [b""]

    with HostileServer(redirect) as hostile:
        refused = tmp_path / "refused"
        with SyncClient(hostile.base_url, "litellm", FOLLOWED, refused) as client:
            # The catalog is redirected within the origin: followed; then the change feed
            # (on the next poll) is redirected to another port: refused.
            assert client.sync_once().status == "updated"
            before = config_files(refused)
            outcome = client.sync_once()
        assert outcome.status == "failed"
        assert "another origin" in (outcome.error or "")
        assert real.base_url in (outcome.error or "")
        assert config_files(refused) == before

        allowed = tmp_path / "allowed"
        with SyncClient(
            hostile.base_url, "litellm", FOLLOWED, allowed, allow_cross_origin_redirects=True
        ) as client:
            assert client.sync_once().status == "updated"
            assert client.sync_once().status == "unchanged"


# --- bounded resources ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MB on the wire


def _address_space_limit() -> None:
    limit = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_gzip_bomb_is_refused_within_the_size_bound(
    real: Server, tmp_path: Path, bomb: bytes
) -> None:
    assert len(bomb) < 2 << 20

    def exploding(_: str) -> Reply:
        return 200, {"content-type": "application/json", "content-encoding": "gzip"}, [bomb]

    state = tmp_path / "state"
    before = synced(real, state)
    with HostileServer(exploding) as hostile:
        # In a process that cannot hold the expanded body: only a bounded decoder survives.
        done = sync_cli(
            hostile.base_url,
            state,
            "--once",
            "--max-body-mb",
            "32",
            preexec_fn=_address_space_limit,
        )
        assert done.returncode == 1, done.stderr
        assert "larger than 33,554,432 bytes decoded" in done.stderr.splitlines()[-1]
        assert "Traceback" not in done.stderr
        with SyncClient(hostile.base_url, "litellm", FOLLOWED, tmp_path / "fresh") as client:
            outcome = client.sync_once()  # the default bound, 256 MiB
        assert outcome.status == "failed"
        assert "larger than" in (outcome.error or "")
    assert config_files(state) == before
    assert config_files(tmp_path / "fresh") == {}
    assert "larger than" in last_error(state)


def test_an_endless_body_ends_in_a_recorded_error(real: Server, tmp_path: Path) -> None:
    def endless(_: str) -> Reply:
        def forever() -> Iterator[bytes]:
            while True:
                yield b" " * (1 << 20)

        return 200, {"content-type": "application/json", "content-length": str(1 << 40)}, forever()

    state = tmp_path / "state"
    before = synced(real, state)
    with HostileServer(endless) as hostile:
        done = sync_cli(hostile.base_url, state, "--once", "--max-body-mb", "8")
    assert done.returncode == 1
    assert "larger than" in done.stderr.splitlines()[-1]
    assert config_files(state) == before
    assert "larger than" in last_error(state)


def test_temporary_files_cannot_be_redirected_by_planted_links(
    real: Server, tmp_path: Path
) -> None:
    state, outside = tmp_path / "state", tmp_path / "outside"
    outside.write_bytes(b"precious")
    state.mkdir()
    for name in (CATALOG, LITELLM_MAP, STATE):
        for guess in (f".{name}.tmp", f".{name}.{os.getpid()}.tmp", f".{name}.1.tmp"):
            (state / guess).symlink_to(outside)
    synced(real, state)
    assert outside.read_bytes() == b"precious"
    assert json.loads((state / CATALOG).read_bytes())["engine_version"] == FOLLOWED


# --- the on-change command ---------------------------------------------------------------


def test_a_failing_hook_is_recorded_retried_and_fails_the_run(real: Server, tmp_path: Path) -> None:
    state, marker = tmp_path / "state", tmp_path / "reloaded"
    failed = sync_cli(real.base_url, state, "--once", "--on-change", "exit 3")
    assert failed.returncode == 1
    assert "on-change command exited with 3" in failed.stderr.splitlines()[-1]
    recorded = json.loads((state / STATE).read_bytes())
    digest = json.loads((state / CATALOG).read_bytes())["digest"]
    assert recorded["hook_pending"] == digest
    assert "exited with 3" in recorded["hook_last_error"]["message"]

    # Nothing changed on the server, yet the owed command runs again, and now succeeds.
    fixed = sync_cli(real.base_url, state, "--once", "--on-change", f"touch {marker}")
    assert fixed.returncode == 0, fixed.stderr
    assert marker.exists()
    recorded = json.loads((state / STATE).read_bytes())
    assert (recorded["hook_pending"], recorded["hook_last_error"]) == (None, None)

    marker.unlink()
    again = sync_cli(real.base_url, state, "--once", "--on-change", f"touch {marker}")
    assert again.returncode == 0
    assert not marker.exists()  # owed no more: not run for an unchanged configuration


def test_a_hook_that_hangs_is_ended_at_its_timeout(real: Server, tmp_path: Path) -> None:
    started = time.monotonic()
    done = sync_cli(
        real.base_url, tmp_path, "--once", "--on-change", "sleep 30", "--hook-timeout", "1"
    )
    assert time.monotonic() - started < 15
    assert done.returncode == 1
    assert "timed out after 1 s" in done.stderr.splitlines()[-1]


def test_sigterm_ends_a_hanging_hook_and_the_client_at_once(real: Server, tmp_path: Path) -> None:
    started = tmp_path / "hook-started"
    command = [sys.executable, "-m", "budconnect", "sync", "--server", real.base_url]
    command += ["--engine-version", FOLLOWED, "--state-dir", str(tmp_path / "state")]
    command += ["--on-change", f"touch {started}; exec sleep 30.25"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            deadline = time.monotonic() + 60
            while not started.exists():
                assert time.monotonic() < deadline, "the hook never started"
                time.sleep(0.05)
            time.sleep(0.2)
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, log = process.communicate(timeout=10)
            assert time.monotonic() - stopping < 3
        finally:
            if process.poll() is None:
                process.kill()
    left = subprocess.run(["pgrep", "-f", "sleep 30.25"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the hook outlived the client"
    assert f"following litellm {FOLLOWED} from {real.base_url}" in log


# --- what the client says -------------------------------------------------------------------


def test_the_client_says_when_it_starts_and_when_it_recovers(
    real: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([(503, {}, [b"down"]), (503, {}, [b"down"])])

    def flaky(path: str) -> Reply:
        return next(answers, None) or forward(real, path)

    caplog.set_level(logging.INFO, logger="budconnect.sync")
    with (
        HostileServer(flaky) as hostile,
        SyncClient(hostile.base_url, "litellm", FOLLOWED, tmp_path) as client,
    ):
        outcomes = [client.sync_once().status for _ in range(3)]
        assert outcomes == ["failed", "failed", "updated"]
        messages = [r.getMessage() for r in caplog.records]
        assert any(hostile.base_url in m and "503" in m for m in messages)
        assert f"{hostile.base_url} answers again, after 2 failed polls" in messages


def test_a_request_closed_unanswered_is_sent_once_more(real: Server, tmp_path: Path) -> None:
    """A server's idle timeout may close a kept-alive connection just as a poll goes out on
    it: the client sends that GET again, once, instead of failing the poll."""
    dropped: set[str] = set()

    def drops_each_request_once(path: str) -> Reply:
        if path not in dropped:
            dropped.add(path)
            return DROP, {}, []
        return forward(real, path)

    with (
        HostileServer(drops_each_request_once) as hostile,
        SyncClient(hostile.base_url, "litellm", FOLLOWED, tmp_path) as client,
    ):
        assert client.sync_once().status == "updated"
        paths = [path for path, _ in hostile.requests]
    assert paths  # each path asked twice in a row: dropped, then answered
    assert paths[0::2] == paths[1::2]
    assert json.loads((tmp_path / STATE).read_bytes()).get("last_error") is None
    assert config_files(tmp_path) == synced(real, tmp_path / "direct")


def test_a_server_that_never_answers_fails_the_poll_after_one_more_try(
    real: Server, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    before = synced(real, state)
    with (
        HostileServer(lambda _path: (DROP, {}, [])) as hostile,
        SyncClient(hostile.base_url, "litellm", FOLLOWED, state) as client,
    ):
        outcome = client.sync_once()
        paths = [path for path, _ in hostile.requests]
    assert outcome.status == "failed"
    assert "RemoteProtocolError" in (outcome.error or "")
    assert hostile.base_url in (outcome.error or "")
    assert paths[0::2] == paths[1::2]  # each request sent twice, not more
    assert config_files(state) == before
    assert last_error(state) == outcome.error


# --- the local directory ----------------------------------------------------------------------


def test_a_304_labelled_gzip_is_still_not_modified(real: Server, tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = synced(real, state)

    def not_modified(_: str) -> Reply:
        return 304, {"content-encoding": "gzip", "etag": f'"{digest}"'}, [b""]

    digest = json.loads(before[CATALOG])["digest"]
    with (
        HostileServer(not_modified) as hostile,
        SyncClient(hostile.base_url, "litellm", FOLLOWED, state) as client,
    ):
        outcome = client.sync_once()
    assert (outcome.status, outcome.method) == ("unchanged", "not-modified"), outcome.error
    assert config_files(state) == before


def test_a_process_refused_the_lock_writes_nothing(real: Server, tmp_path: Path) -> None:
    """A map out of step with the catalog (as a crash between their writes leaves it) is
    repaired by the process that holds the directory, never by one refused its lock."""
    state = tmp_path / "state"
    before = synced(real, state)
    (state / LITELLM_MAP).write_bytes(b"{}")
    with exclusive(state):
        refused = sync_cli(real.base_url, state, "--once")
        assert refused.returncode == 1
        [line] = refused.stderr.strip().splitlines()[-1:]
        assert "another sync process holds" in line
        assert f"(to sync {real.base_url})" in line  # every message names the server
        assert (state / LITELLM_MAP).read_bytes() == b"{}"
    done = sync_cli(real.base_url, state, "--once")
    assert done.returncode == 0, done.stderr
    assert config_files(state) == before


def test_files_keep_their_mode_or_get_the_umask_s(real: Server, tmp_path: Path) -> None:
    """Temporary files are created 0600; the files they replace must not end up so, or a
    LiteLLM process of another user could no longer read its model map."""
    state = tmp_path / "state"
    synced(real, state)
    umask = os.umask(0)
    os.umask(umask)
    for name in (CATALOG, LITELLM_MAP, STATE):
        assert (state / name).stat().st_mode & 0o777 == 0o666 & ~umask
    (state / STATE).chmod(0o640)
    with SyncClient(real.base_url, "litellm", FOLLOWED, state) as client:
        assert client.sync_once().status == "unchanged"
    assert (state / STATE).stat().st_mode & 0o777 == 0o640


def test_a_local_catalog_this_client_did_not_write_is_fetched_again(
    real: Server, tmp_path: Path
) -> None:
    """A catalog whose digest verifies but from which no model map can be made (a model
    without its source entry) counts as no local copy: the one applied before is put back
    (no change for the deployment)."""
    state = tmp_path / "state"
    before = synced(real, state)
    catalog = json.loads(before[CATALOG])
    del catalog["providers"][0]["models"][0]["source_entry"]
    catalog["digest"] = catalog_digest(
        engine=catalog["engine"], version=catalog["engine_version"],
        providers=catalog["providers"], extras=catalog["extras"],
    )  # fmt: skip
    (state / CATALOG).write_bytes(json.dumps(catalog).encode())
    with SyncClient(real.base_url, "litellm", FOLLOWED, state) as client:
        outcome = client.sync_once()
    assert (outcome.status, outcome.method) == ("unchanged", "catalog"), outcome.error
    assert config_files(state) == before


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--interval", "inf", "--interval"),
        ("--interval", "nan", "--interval"),
        ("--timeout", "-1", "--timeout"),
        ("--timeout", "nan", "--timeout"),
        ("--max-body-mb", "99999999999999999", "--max-body-mb"),
        ("--server", "http://[::1", "--server"),
        ("--server", "http://", "--server"),
        ("--server", "http://127.0.0.1:9/?x=1", "--server"),
    ],
)
def test_sync_options_are_checked_before_anything_starts(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    state = tmp_path / "state"
    command = [sys.executable, "-m", "budconnect", "sync", "--engine-version", FOLLOWED]
    command += ["--state-dir", str(state), "--once"]
    command += [option, value] if option == "--server" else ["--server", "http://127.0.0.1:9"]
    if option != "--server":
        command += [option, value]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert message in done.stderr
    assert not (state / STATE).exists()


def test_a_lock_path_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / ".lock").mkdir(parents=True)
    done = sync_cli("http://127.0.0.1:9", state, "--once")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert ".lock" in line


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(
    real: Server, tmp_path: Path
) -> None:
    """Each byte comes well within --timeout, so only a bound on the whole answer ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):
                    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60:
                        if stop.is_set():
                            break
                        conn.sendall(bytes([byte]))
                        time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    state = tmp_path / "state"
    before = synced(real, state)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with SyncClient(url, "litellm", FOLLOWED, state, timeout=5, deadline=2) as client:
            started = time.monotonic()
            outcome = client.sync_once()
            took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert outcome.status == "failed"
    assert "took longer than 2 s" in (outcome.error or "")
    assert took < 4  # one deadline (the changes request ends the poll), not one per byte
    assert config_files(state) == before
    assert last_error(state) == outcome.error


# --- what a crash, a stale read or a bad revision must not break ------------------------------


def test_a_crash_right_after_the_apply_still_owes_the_on_change_command(
    real: Server, tmp_path: Path
) -> None:
    """Killed (SIGKILL) between writing the files and recording the poll: the next run finds
    the new configuration in place, and must still run the command for it."""
    state, marker = tmp_path / "state", tmp_path / "reloaded"
    crashing = (
        "import os, signal, sys\n"
        "from budconnect.sync.files import LocalConfig\n"
        "from budconnect import cli\n"
        "applied = LocalConfig.apply\n"
        "def apply_then_die(self, catalog):\n"
        "    applied(self, catalog)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "LocalConfig.apply = apply_then_die\n"
        "sys.argv = ['budconnect', *sys.argv[1:]]\n"
        "cli.main()\n"
    )
    command = [sys.executable, "-c", crashing, "sync", "--server", real.base_url, "--once"]
    command += ["--engine-version", FOLLOWED, "--state-dir", str(state)]
    died = subprocess.run([*command, "--on-change", f"touch {marker}"], timeout=120)
    assert died.returncode == -signal.SIGKILL
    assert json.loads((state / CATALOG).read_bytes())["engine_version"] == FOLLOWED
    assert not marker.exists()

    again = sync_cli(real.base_url, state, "--once", "--on-change", f"touch {marker}")
    assert again.returncode == 0, again.stderr
    assert marker.exists()  # owed, though the server has nothing new
    assert json.loads((state / STATE).read_bytes())["hook_pending"] is None


@pytest.mark.parametrize("revision", [-5, 2**63 + 5, 1e30, True, "7", None])
def test_a_catalog_whose_revision_no_poll_could_send_back_is_refused(
    real: Server, tmp_path: Path, revision: object
) -> None:
    """The revision is outside the digest: taken as it came, it would make every later poll
    ask the server for changes it refuses, for good."""
    state = tmp_path / "state"
    before = synced(real, state)
    catalog = json.loads(before[CATALOG])

    def odd_revision(path: str) -> Reply:
        if "/changes" in path:
            return 410, {"content-type": "application/problem+json"}, [b"{}"]
        body = json.dumps({**catalog, "digest": catalog["digest"], "revision": revision})
        # Another digest than the one held, or the client would stop at "unchanged".
        altered = json.loads(body)
        return (
            200,
            {"content-type": "application/json"},
            [forged(altered, providers=altered["providers"][:-1])],
        )

    with HostileServer(odd_revision) as hostile:
        done = sync_cli(hostile.base_url, state, "--once")
    assert done.returncode == 1
    assert "revision" in done.stderr.splitlines()[-1]
    assert config_files(state) == before
    assert "is not one of 0..2**62" in last_error(state)


def test_a_change_feed_that_refuses_the_revision_held_falls_back_to_the_catalog(
    real: Server, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    before = synced(real, state)

    def refusing_changes(path: str) -> Reply:
        if "/changes" in path:
            problem = {"status": 422, "detail": "since: must be a whole number"}
            return 422, {"content-type": "application/problem+json"}, [json.dumps(problem).encode()]
        return forward(real, path)

    with HostileServer(refusing_changes) as hostile:
        done = sync_cli(hostile.base_url, state, "--once")
        asked = [path.split("?")[0].rsplit("/", 1)[1] for path, _ in hostile.requests]
    assert done.returncode == 0, done.stderr
    assert asked == ["changes", "catalog"]
    assert config_files(state) == before
    assert json.loads((state / STATE).read_bytes())["last_error"] is None


def test_a_client_that_waited_for_the_lock_acts_on_what_the_holder_left(
    real: Server, tmp_path: Path
) -> None:
    """A client reads the directory, then another process syncs it to another version before
    the first gets the lock: what the first read is stale, and must not be written back."""
    state = tmp_path / "state"
    synced(real, state)  # FOLLOWED
    with SyncClient("http://127.0.0.1:9", "litellm", FOLLOWED, state, timeout=2) as late:
        with SyncClient(real.base_url, "litellm", OTHER, state) as other:
            assert other.run(1, once=True).status == "updated"
        written = config_files(state)
        assert late.run(1, once=True).status == "failed"  # no server: nothing to apply
    assert config_files(state) == written  # the map was not put back to FOLLOWED's
    assert json.loads(written[CATALOG])["engine_version"] == OTHER


def test_leftovers_of_an_interrupted_write_are_removed(real: Server, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    left = [state / f".{name}.k2j4h8x1.tmp" for name in (CATALOG, LITELLM_MAP, STATE)]
    for path in left:
        path.write_bytes(b"half a file")
    (state / "notes.tmp").write_text("not ours")
    done = sync_cli(real.base_url, state, "--once")
    assert done.returncode == 0, done.stderr
    assert [p for p in left if p.exists()] == []
    assert (state / "notes.tmp").read_text() == "not ours"


def test_a_command_no_longer_configured_is_owed_no_more(real: Server, tmp_path: Path) -> None:
    state = tmp_path / "state"
    failed = sync_cli(real.base_url, state, "--once", "--on-change", "exit 3")
    assert failed.returncode == 1
    assert json.loads((state / STATE).read_bytes())["hook_pending"] is not None
    without = sync_cli(real.base_url, state, "--once")
    assert without.returncode == 0, without.stderr
    recorded = json.loads((state / STATE).read_bytes())
    assert (recorded["hook_pending"], recorded["hook_last_error"]) == (None, None)


def test_credentials_in_the_server_url_are_sent_but_never_written(
    real: Server, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with HostileServer(lambda path: forward(real, path)) as hostile:
        url = hostile.base_url.replace("http://", "http://alice:s3cret@")
        done = sync_cli(url, state, "--once")
        sent = [headers.get("authorization") for _, headers in hostile.requests]
    assert done.returncode == 0, done.stderr
    assert sent
    assert all(a == "Basic YWxpY2U6czNjcmV0" for a in sent)
    assert "s3cret" not in done.stderr
    recorded = json.loads((state / STATE).read_bytes())
    assert recorded["server"] == hostile.base_url


def test_sigterm_cuts_a_poll_under_way_short(tmp_path: Path) -> None:
    asked = threading.Event()

    def hanging(_: str) -> Reply:
        asked.set()
        time.sleep(20)
        return 503, {}, [b""]

    with HostileServer(hanging) as hostile:
        command = [sys.executable, "-m", "budconnect", "sync", "--server", hostile.base_url]
        command += ["--state-dir", str(tmp_path / "state"), "--interval", "60"]
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
            try:
                assert asked.wait(60), "the client never asked"
                stopping = time.monotonic()
                process.send_signal(signal.SIGTERM)
                _, log = process.communicate(timeout=15)
                assert time.monotonic() - stopping < 3, log
            finally:
                if process.poll() is None:
                    process.kill()
    assert "stopped during a poll" in log
    assert not (tmp_path / "state" / STATE).exists()  # a stop is no failure to record


def test_a_server_that_needs_a_read_token_is_followed_with_one(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'reads.db'}"
    db = Database(database_url)
    upgrade(db.engine)
    seed(db, engine="litellm", version=FOLLOWED, raw=source_bytes(FOLLOWED))
    db.dispose()
    reader = new_token()
    env = {"BUDCONNECT_READ_TOKENS": f"fleet={token_hash(reader)}"}
    token_file = tmp_path / "token"
    token_file.write_text(reader + "\n")
    with Server(database_url, env=env) as server:
        refused = sync_cli(server.base_url, tmp_path / "none", "--once")
        assert refused.returncode == 1
        assert "401" in refused.stderr.splitlines()[-1]
        from_file = sync_cli(
            server.base_url, tmp_path / "file", "--once", "--token-file", str(token_file)
        )
        assert from_file.returncode == 0, from_file.stderr
        from_env = sync_cli(
            server.base_url, tmp_path / "env", "--once",
            env={**os.environ, "BUDCONNECT_SYNC_TOKEN": reader},
        )  # fmt: skip
        assert from_env.returncode == 0, from_env.stderr
    assert reader not in from_file.stderr + from_env.stderr
    assert (tmp_path / "file" / CATALOG).read_bytes() == (tmp_path / "env" / CATALOG).read_bytes()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    unusable = sync_cli(server.base_url, tmp_path / "x", "--once", "--token-file", str(empty))
    assert unusable.returncode == 1
    assert unusable.stderr.strip() == f"error: --token-file {empty} is empty"


# --- what a digest does not prove ----------------------------------------------------------


def forged(catalog: dict[str, Any], **changes: Any) -> bytes:
    """`catalog` with `changes`, its counts and a digest that match them: it verifies."""
    providers = changes.get("providers", catalog["providers"])
    counts = {"provider_count": len(providers),
              "model_count": sum(len(p["models"]) for p in providers)}  # fmt: skip
    altered = {**catalog, **counts, **changes}
    altered["digest"] = catalog_digest(
        engine=altered["engine"], version=altered["engine_version"],
        providers=altered["providers"], extras=altered.get("extras") or {},
    )  # fmt: skip
    return json.dumps(altered).encode()


def _unusable(catalog: dict[str, Any], how: str) -> bytes:
    providers = json.loads(json.dumps(catalog["providers"]))
    model = providers[0]["models"][0]
    if how == "source entry null":
        model["source_entry"] = None
        return forged(catalog, providers=providers)
    if how == "source entry text":
        model["source_entry"] = "boom"
        return forged(catalog, providers=providers)
    if how == "extra on a model's key":
        return forged(catalog, extras={**(catalog.get("extras") or {}), model["uri"]: 42})
    if how == "no model":
        return forged(catalog, providers=[], provider_count=0, model_count=0)
    assert how == "model count"
    return forged(catalog, model_count=-7)


@pytest.mark.parametrize(
    "how",
    ["source entry null", "source entry text", "extra on a model's key", "no model",
     "model count"],
)  # fmt: skip
def test_a_catalog_that_verifies_but_a_deployment_could_not_use_is_refused(
    real: Server, tmp_path: Path, how: str
) -> None:
    state = tmp_path / "state"
    before = synced(real, state)
    body = _unusable(json.loads(before[CATALOG]), how)

    def unusable(path: str) -> Reply:
        if "/changes" in path:
            return 410, {"content-type": "application/problem+json"}, [b"{}"]
        return 200, {"content-type": "application/json"}, [body]

    with HostileServer(unusable) as hostile:
        for directory, files in ((state, before), (tmp_path / "fresh", {})):
            with SyncClient(hostile.base_url, "litellm", FOLLOWED, directory) as client:
                outcome = client.sync_once()
            assert outcome.status == "failed", how
            assert "not a catalog document" in (outcome.error or ""), outcome.error
            assert config_files(directory) == files


def test_a_catalog_older_than_the_one_held_is_refused(real: Server, tmp_path: Path) -> None:
    """A version's revision only grows: an older one from the server that gave the one held
    (a stale cache, a replayed answer) must not roll the deployment back. Unless that server
    has just refused the revision held (a 410: a registry restored from a backup knows no
    such revision), or it is another server: then its catalog is the way."""
    state = tmp_path / "state"
    catalog = json.loads(synced(real, state)[CATALOG])
    assert catalog["revision"] > 1
    older = forged(catalog, providers=catalog["providers"][:-1], revision=1)
    feed: list[Reply] = []  # what the change feed answers; nothing: the real one

    def replaying(path: str) -> Reply:
        if not feed:
            return forward(real, path)
        if "/changes" in path:
            return feed[0]
        return 200, {"content-type": "application/json"}, [older]

    with HostileServer(replaying) as server:
        moved = tmp_path / "moved"
        assert sync_cli(server.base_url, moved, "--once").returncode == 0  # held from it
        before = config_files(moved)
        feed.append((200, {"content-type": "application/json"}, [b"{not json"]))
        done = sync_cli(server.base_url, moved, "--once")
        assert done.returncode == 1
        assert "is older than the revision" in done.stderr.splitlines()[-1]
        assert config_files(moved) == before

        feed[0] = (404, {"content-type": "application/problem+json"}, [b"{}"])
        assert sync_cli(server.base_url, moved, "--once").returncode == 1  # only a 410 says so
        assert config_files(moved) == before

        feed[0] = (410, {"content-type": "application/problem+json"}, [b"{}"])
        restored = sync_cli(server.base_url, moved, "--once")
        assert restored.returncode == 0, restored.stderr
        assert json.loads((moved / CATALOG).read_bytes())["revision"] == 1

        # Held from the real server, the same catalog from this one is another registry's,
        # even after a poll of this one failed (the server last polled is not the one the
        # revision held came from).
        feed[0] = (503, {"content-type": "application/problem+json"}, [b"{}"])
        assert sync_cli(server.base_url, state, "--once").returncode == 1
        feed[0] = (200, {"content-type": "application/json"}, [b"{not json"])
        other = sync_cli(server.base_url, state, "--once")
        assert other.returncode == 0, other.stderr
        assert json.loads((state / CATALOG).read_bytes())["revision"] == 1


@pytest.mark.parametrize("odd", ["since another", "revision backwards", "nothing new"])
def test_a_delta_that_is_not_an_answer_to_the_question_applies_nothing(
    real: Server, tmp_path: Path, odd: str
) -> None:
    """A delta from another revision than the one asked about, or going backwards, is
    not applied (the catalog is fetched instead); one that changes nothing changes nothing
    (a proxy that drops If-None-Match gets it): no rewrite, no on-change command."""
    state, runs = tmp_path / "state", tmp_path / "runs"
    marker = f"echo run >> {runs}"
    before = synced(real, state, on_change=marker)
    assert runs.read_text().count("run") == 1
    catalog = json.loads(before[CATALOG])
    held = catalog["revision"]
    providers = catalog["providers"]
    dropped = {"removed": [{"id": providers[-1]["id"]}], "upserted": []}
    delta = {
        "object": "changes", "engine": "litellm", "engine_version": FOLLOWED,
        "since": held, "revision": held + 1, "digest": catalog["digest"],
        "providers": {"removed": [], "upserted": []},
        "models": {"removed": [], "upserted": []}, "extras": catalog.get("extras") or {},
    }  # fmt: skip
    if odd != "nothing new":  # a real change, with the digest it makes
        after = json.loads(forged(catalog, providers=providers[:-1]))
        delta["providers"] = dropped
        delta["models"]["removed"] = [{"id": m["id"]} for m in providers[-1]["models"]]
        delta["digest"] = after["digest"]
        delta.update({"since": held - 1} if odd == "since another" else {"revision": held - 1})

    def answering(path: str) -> Reply:
        if "/changes" in path:
            return 200, {"content-type": "application/json"}, [json.dumps(delta).encode()]
        return forward(real, path)

    with HostileServer(answering) as hostile:
        with SyncClient(hostile.base_url, "litellm", FOLLOWED, state, on_change=marker) as client:
            for _ in range(3):
                outcome = client.sync_once()
                assert outcome.status == "unchanged", outcome
        asked = [path.split("?")[0].rsplit("/", 1)[1] for path, _ in hostile.requests]
    assert config_files(state) == before
    assert runs.read_text().count("run") == 1
    assert ("catalog" in asked) == (odd != "nothing new")


def _files_up_to(limit: int) -> Any:
    def preexec() -> None:
        # Writing past the limit fails (EFBIG) instead of killing the process (SIGXFSZ):
        # a disk that takes the small state file but not a catalog.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_failed_apply_keeps_the_command_owed_for_the_configuration_in_place(
    real: Server, tmp_path: Path
) -> None:
    state, marker = tmp_path / "state", tmp_path / "ran"
    first = sync_cli(real.base_url, state, "--once", "--on-change", "exit 3")
    assert first.returncode == 1
    held = json.loads((state / CATALOG).read_bytes())
    before = config_files(state)
    newer = forged(held, providers=held["providers"][:-1])

    def changed(path: str) -> Reply:
        if "/changes" in path:
            return 410, {"content-type": "application/problem+json"}, [b"{}"]
        return 200, {"content-type": "application/json"}, [newer]

    with HostileServer(changed) as hostile:
        failed = sync_cli(hostile.base_url, state, "--once", "--on-change", "exit 3",
                          preexec_fn=_files_up_to(256 * 1024))  # fmt: skip
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert config_files(state) == before  # nothing applied
    recorded = json.loads((state / STATE).read_bytes())
    assert recorded["hook_pending"] == held["digest"]  # still owed for what is in place

    again = sync_cli(real.base_url, state, "--once", "--on-change", f"touch {marker}")
    assert again.returncode == 0, again.stderr
    assert marker.exists()


def test_a_command_owed_runs_even_while_the_server_is_down(real: Server, tmp_path: Path) -> None:
    state, marker = tmp_path / "state", tmp_path / "ran"
    assert sync_cli(real.base_url, state, "--once", "--on-change", "exit 3").returncode == 1
    down = sync_cli("http://127.0.0.1:9", state, "--once", "--on-change", f"touch {marker}")
    assert down.returncode == 1  # the poll failed
    assert marker.exists()  # but the configuration in place got its command
    assert json.loads((state / STATE).read_bytes())["hook_pending"] is None


def test_data_after_the_gzip_body_is_refused(real: Server, tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = synced(real, state)
    catalog = json.loads(before[CATALOG])
    body = gzip.compress(forged(catalog, providers=catalog["providers"][:-1]))

    def trailing(endless: bool) -> Any:
        def answer(path: str) -> Reply:
            if "/changes" in path:
                return 410, {"content-type": "application/problem+json"}, [b"{}"]

            def chunks() -> Iterator[bytes]:
                yield body
                while True:
                    yield b"junk" * 4096
                    if not endless:
                        return

            headers = {"content-type": "application/json", "content-encoding": "gzip"}
            return (
                200,
                {**headers, "content-length": str(1 << 40)} if endless else headers,
                chunks(),
            )

        return answer

    for endless in (False, True):
        with HostileServer(trailing(endless)) as hostile:
            started = time.monotonic()
            done = sync_cli(hostile.base_url, state, "--once")
        assert done.returncode == 1, done.stderr
        assert "data after the end of the gzip body" in done.stderr.splitlines()[-1]
        assert time.monotonic() - started < 60
        assert config_files(state) == before


def test_a_state_file_this_client_cannot_write_back_is_started_afresh(
    real: Server, tmp_path: Path
) -> None:
    """orjson reads deeper nesting than it writes: a hand-edited state.json failed every
    later write, with a traceback, at every start."""
    state = tmp_path / "state"
    synced(real, state)
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    (state / STATE).write_text(json.dumps({"note": deep}))
    done = sync_cli(real.base_url, state, "--once")
    assert done.returncode == 0, done.stderr
    assert "note" not in json.loads((state / STATE).read_bytes())


def test_special_files_in_the_state_directory_neither_hang_nor_fill_memory(
    real: Server, tmp_path: Path
) -> None:
    state, outside = tmp_path / "state", tmp_path / "outside"
    state.mkdir()
    os.mkfifo(state / STATE)
    (state / CATALOG).symlink_to("/dev/zero")
    done = sync_cli(real.base_url, state, "--once", preexec_fn=_address_space_limit)
    assert done.returncode == 0, done.stderr
    assert json.loads((state / CATALOG).read_bytes())["engine_version"] == FOLLOWED

    # A lock planted as a symlink is not followed (it would create a file elsewhere).
    other = tmp_path / "other"
    other.mkdir()
    (other / ".lock").symlink_to(outside)
    refused = sync_cli(real.base_url, other, "--once")
    assert refused.returncode == 1
    assert ".lock" in refused.stderr.strip().splitlines()[-1]
    assert not outside.exists()
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / ".lock")
    refused = sync_cli(real.base_url, fifo, "--once")
    assert refused.returncode == 1
    assert "is not a regular file" in refused.stderr.strip().splitlines()[-1]


def test_files_damaged_under_a_running_client_are_put_right_at_its_next_poll(
    real: Server, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with SyncClient(real.base_url, "litellm", FOLLOWED, state) as client:
        assert client.sync_once().status == "updated"
        good = config_files(state)
        (state / LITELLM_MAP).unlink()
        client.sync_once()
        assert config_files(state) == good
        (state / CATALOG).write_bytes(good[CATALOG][:100])
        client.sync_once()
        assert config_files(state) == good
        # A time ahead of this clock (another host's) is checked once, not at every poll.
        ahead = time.time_ns() + 3600 * 10**9
        for name in (CATALOG, LITELLM_MAP):
            os.utime(state / name, ns=(ahead, ahead))
        client.sync_once()
        assert not client.local.unsettled
        assert not client.local.files_changed()
        # Edited in place, same size, its time put back (as on a filesystem whose clock
        # ticks in seconds): still noticed.
        path = state / LITELLM_MAP
        time.sleep(2.1)
        client.sync_once()  # checked once more, and settled: stamped well after its write
        assert not client.local.unsettled
        times = path.stat()
        with path.open("r+b") as handle:
            handle.write(b"[" * 64)
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
        client.sync_once()
        assert config_files(state) == good


def test_a_pointer_entry_is_followed_as_the_server_serves_it(tmp_path: Path) -> None:
    """`"key": "other-key"` is a model of the catalog and an extra of the same key, whose
    string the map serves back: not an extra that would overwrite a model."""
    url = f"sqlite:///{tmp_path / 'pointer.db'}"
    db = Database(url)
    upgrade(db.engine)
    document = json.loads(source_bytes(FOLLOWED))
    document["my-gpt-4-pointer"] = "gpt-4"
    seed(db, engine="litellm", version=FOLLOWED, raw=json.dumps(document).encode())
    db.dispose()
    with Server(url) as server:
        state = tmp_path / "state"
        done = sync_cli(server.base_url, state, "--once")
        assert done.returncode == 0, done.stderr
        served = httpx.get(
            f"{server.base_url}/v1/engines/litellm/versions/{FOLLOWED}/"
            "model_prices_and_context_window.json"
        ).json()
    held = json.loads((state / LITELLM_MAP).read_bytes())
    assert held["my-gpt-4-pointer"] == served["my-gpt-4-pointer"] == "gpt-4"
