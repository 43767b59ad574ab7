"""`budconnect track`: every release on a package index ingested, by itself, against a real
index (a local server over wheels built from the bundled maps)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from budconnect.services.catalog import RegistryView
from budconnect.services.publishing import Actor, set_yanked
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from tests.conftest import InProcess, free_port, run_cli, source_bytes, source_models
from tests.conftest import metric as sample
from tests.package_index import PackageIndex

FINAL = ["1.14.4", "1.60.9", "1.65.8", "1.70.4"]


def held(url: str) -> dict[str, repo.VersionRow]:
    db = Database(url)
    try:
        with db.read() as conn:
            return {row.version: row for row in repo.list_versions(conn, engine_key="litellm")}
    finally:
        db.dispose()


def latest(url: str) -> str | None:
    db = Database(url)
    try:
        found = RegistryView.load(db).engine("litellm").latest
        return found.version if found else None
    finally:
        db.dispose()


def track(url: str, index: PackageIndex, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("track", "litellm", "--once", "--index-url", index.url, *args, database_url=url)


@pytest.fixture
def index() -> Iterator[PackageIndex]:
    with PackageIndex() as served:
        for version in FINAL:
            served.publish(version, source_bytes(version))
        served.publish("1.71.0rc1", source_bytes("1.70.4"))
        served.publish("1.70.5", source_bytes("1.70.4"), yanked=True)
        served.publish("1.70.6", None)  # a release without a model map
        yield served


def test_new_releases_are_ingested_oldest_first_with_their_provenance(
    database_url: str, index: PackageIndex
) -> None:
    run = track(database_url, index)
    assert run.returncode == 2, run.stderr  # the release without a map is reported
    assert "refused litellm 1.70.6" in run.stderr
    assert "holds no litellm/model_prices_and_context_window_backup.json" in run.stderr
    versions = held(database_url)
    assert sorted(versions) == FINAL  # no pre-release, no yanked release
    assert index.downloads[:4] == FINAL  # oldest first
    for version in FINAL:
        row = versions[version]
        release = index.releases[version]
        assert row.origin == "index"
        assert row.released_at == dt.datetime.fromisoformat(release.uploaded)
        assert row.released_at_source == "index"
        assert (row.wheel_filename, row.wheel_sha256) == (release.filename, release.sha256)
        assert row.source_digest == hashlib.sha256(source_bytes(version)).hexdigest()
        assert row.model_count == len(source_models(version))
    assert f"litellm {FINAL[-1]}: created" in run.stdout  # the same summary as `seed`

    # The next run ingests only what is new, and does not fetch the noted release again.
    index.publish("1.80.17", source_bytes("1.80.17"))
    downloads = len(index.downloads)
    again = track(database_url, index)
    assert again.returncode == 0, again.stderr
    assert index.downloads[downloads:] == ["1.80.17"]
    assert sorted(held(database_url), key=lambda v: tuple(map(int, v.split(".")))) == [
        *FINAL,
        "1.80.17",
    ]
    assert track(database_url, index, "--retry").returncode == 2  # asked to: tried again


def test_pre_releases_and_yanked_releases_only_when_asked(
    database_url: str, index: PackageIndex
) -> None:
    track(database_url, index, "--pre", "--include-yanked", "--since", "1.70.4")
    assert sorted(held(database_url)) == ["1.70.4", "1.70.5", "1.71.0rc1"]


def test_the_html_form_gives_no_upload_time_so_first_seen_is_recorded(
    database_url: str, index: PackageIndex
) -> None:
    index.json_form = False
    before = dt.datetime.now(dt.UTC)
    assert track(database_url, index, "--since", "1.65.8").returncode == 2
    versions = held(database_url)
    assert sorted(versions) == ["1.65.8", "1.70.4"]
    for row in versions.values():
        assert row.released_at_source == "first-seen"
        assert row.released_at is not None
        assert row.released_at >= before - dt.timedelta(seconds=1)


def test_a_wheel_whose_hash_does_not_match_is_refused(
    database_url: str, index: PackageIndex
) -> None:
    index.releases["1.65.8"].wrong_hash = True
    run = track(database_url, index)
    assert run.returncode == 2
    assert "refused litellm 1.65.8" in run.stderr
    assert "is not the 0000000000000000..." in run.stderr
    assert "1.65.8" not in held(database_url)


def test_a_version_seeded_from_a_file_gets_its_provenance_without_a_rewrite(
    database_url: str, index: PackageIndex
) -> None:
    assert (
        run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url).returncode == 0
    )
    before = held(database_url)["1.70.4"]
    track(database_url, index, "--since", "1.70.4")
    after = held(database_url)["1.70.4"]
    assert (after.origin, after.wheel_filename) == ("index", index.releases["1.70.4"].filename)
    assert (after.revision, after.content_digest) == (before.revision, before.content_digest)


def test_an_operators_version_with_another_map_is_kept_not_replaced(
    database_url: str, index: PackageIndex, tmp_path: Path
) -> None:
    """A version an operator seeded from a file (or published) is theirs: the release of the
    same name is not ingested over it, and later runs do not fetch it again."""
    other = tmp_path / "1.65.8-patched.json"
    document = orjson.loads(source_bytes("1.65.8"))
    document["gpt-4"]["input_cost_per_token"] = 1.0
    other.write_bytes(orjson.dumps(document))
    seeded = run_cli("seed", "litellm", "--version", "1.65.8", "--file", str(other),
                     database_url=database_url)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    before = held(database_url)["1.65.8"]
    first = track(database_url, index, "--since", "1.65.8")
    # Exit 2 for 1.70.6 (no map in it) alone: keeping an operator's version is no failure.
    assert first.returncode == 2, first.stderr
    assert "kept litellm 1.65.8: litellm 1.65.8 was seeded from a file" in first.stderr
    after = held(database_url)["1.65.8"]
    assert (after.content_digest, after.origin, after.wheel_filename) == (
        before.content_digest, "file", None)  # fmt: skip
    again = track(database_url, index, "--since", "1.65.8")
    assert "1.65.8" not in again.stderr.split("to ingest")[1]  # noted: not fetched again


def test_a_bundled_version_with_another_map_is_replaced_by_the_release_and_audited(
    database_url: str, index: PackageIndex, tmp_path: Path
) -> None:
    data = tmp_path / "litellm"
    data.mkdir()
    document = orjson.loads(source_bytes("1.65.8"))
    document["gpt-4"]["input_cost_per_token"] = 1.0
    (data / "1.65.8.json").write_bytes(orjson.dumps(document))
    bundled = run_cli("seed", "litellm", "--version", "1.65.8", database_url=database_url,
                      BUDCONNECT_DATA_DIR=str(tmp_path))  # fmt: skip
    assert bundled.returncode == 0, bundled.stderr
    before = held(database_url)["1.65.8"]
    assert before.origin == "bundled"
    run = track(database_url, index, "--since", "1.65.8")
    after = held(database_url)["1.65.8"]
    assert after.content_digest != before.content_digest, run.stderr
    assert (after.origin, after.wheel_filename) == ("index", index.releases["1.65.8"].filename)
    assert after.source_digest == hashlib.sha256(source_bytes("1.65.8")).hexdigest()
    audit = run_cli("audit", "--json", database_url=database_url).stdout.splitlines()
    entry = orjson.loads(audit[0])
    assert (entry["actor"], entry["action"], entry["engine_version"]) == (
        "tracker", "publish", "1.65.8")  # fmt: skip
    assert entry["detail"] == {"replaced": "bundled", "wheel": index.releases["1.65.8"].filename}
    assert (entry["digest_before"], entry["digest_after"]) == (
        before.content_digest, after.content_digest)  # fmt: skip


def test_a_run_killed_mid_way_is_resumed_by_the_next(
    database_url: str, index: PackageIndex
) -> None:
    index.stall.add("1.65.8")  # the third wheel never finishes downloading
    command = [sys.executable, "-m", "budconnect", "track", "litellm", "--once"]
    command += ["--index-url", index.url]
    env = {**os.environ, "BUDCONNECT_DATABASE_URL": database_url}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as first:
        deadline = time.monotonic() + 60
        while "1.65.8" not in index.downloads:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    assert sorted(held(database_url)) == ["1.14.4", "1.60.9"]
    index.stall.clear()
    resumed = track(database_url, index)
    assert resumed.returncode == 2  # the release without a map, reported
    assert sorted(held(database_url)) == FINAL
    assert index.downloads.count("1.14.4") == 1


def test_two_trackers_at_once_ingest_each_release_once(
    database_url: str, index: PackageIndex
) -> None:
    command = [sys.executable, "-m", "budconnect", "track", "litellm", "--once"]
    command += ["--index-url", index.url]
    env = {**os.environ, "BUDCONNECT_DATABASE_URL": database_url}
    runs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    # The release without a map is reported (exit 2) by whichever tracker finds it first; a
    # tracker that starts after the other has noted it finds nothing left, and says so.
    codes = [run.returncode for run in runs]
    assert 2 in codes, outputs
    for code, (_, err) in zip(codes, outputs, strict=True):
        assert code == 2 or (code == 0 and "0 release(s) of litellm to ingest" in err), outputs
    versions = held(database_url)
    assert sorted(versions) == FINAL
    created = sum(out.count(f"litellm {v}: created") for out, _ in outputs for v in FINAL)
    assert created == len(FINAL)  # each version created by exactly one of them
    db = Database(database_url)
    try:
        with db.read() as conn:
            assert repo.registry_state(conn)[0] == len(FINAL)  # one revision per version
    finally:
        db.dispose()


def test_an_index_that_is_down_writes_nothing_and_is_retried_with_backoff(
    database_url: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}/simple/"
    once = run_cli("track", "litellm", "--once", "--index-url", down, database_url=database_url)
    assert once.returncode == 1
    [line] = once.stderr.strip().splitlines()
    assert line.startswith(f"error: index {down}")
    assert held(database_url) == {}

    command = [sys.executable, "-m", "budconnect", "track", "litellm", "--index-url", down]
    env = {**os.environ, "BUDCONNECT_DATABASE_URL": database_url}
    log = tmp_path / "track.log"
    with log.open("w") as out, subprocess.Popen(command, env=env, stderr=out, stdout=out) as loop:
        time.sleep(8)
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=10) == 0
    failures = [line for line in log.read_text().splitlines() if "unreadable" in line]
    # 1 s, 2 s, 4 s (each jittered down to half): a few tries in 8 s, not hundreds.
    assert 2 <= len(failures) <= 6, failures
    assert "(2 in a row)" in failures[1]
    assert held(database_url) == {}


@pytest.mark.parametrize("interval", ["inf", "1e308", "604801"])
def test_an_interval_no_loop_can_wait_is_refused_before_anything_is_fetched(
    database_url: str, index: PackageIndex, interval: str
) -> None:
    command = ["track", "litellm", "--index-url", index.url, "--interval", interval]
    run = run_cli(*command, database_url=database_url)
    assert run.returncode == 1, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line == "error: --interval must be at least 1 and at most 604800 s (7 days)"
    assert index.downloads == []


@pytest.mark.parametrize("json_form", [True, False], ids=["json", "html"])
def test_a_yanked_release_ingested_on_request_is_yanked_in_the_registry(
    database_url: str, index: PackageIndex, json_form: bool
) -> None:
    index.json_form = json_form
    index.publish("1.80.17", source_bytes("1.80.17"), yanked="wrong prices for gpt-5")
    run = track(database_url, index, "--include-yanked", "--since", "1.70.4")
    assert run.returncode == 2, run.stderr  # the release without a map
    versions = held(database_url)
    assert {"1.70.4", "1.70.5", "1.80.17"} <= versions.keys()
    newest = versions["1.80.17"]
    assert newest.yanked_at is not None
    assert newest.yank_reason == "yanked on the package index: wrong prices for gpt-5"
    assert versions["1.70.5"].yanked_at is not None  # yanked without a reason given
    assert versions["1.70.5"].yank_reason == "yanked on the package index"
    assert versions["1.70.4"].yanked_at is None
    assert latest(database_url) == "1.70.4"  # never the yanked ones
    assert "yanked litellm 1.80.17: yanked on the package index: wrong prices" in run.stderr
    db = Database(database_url)
    try:
        with db.read() as conn:
            audit = repo.list_audit(conn, limit=10)
    finally:
        db.dispose()
    # Recorded as `POST .../yank` records a yank: by the tracker, from the index.
    assert {(e.actor, e.action, e.version) for e in audit} == {
        ("tracker", "yank", "1.70.5"),
        ("tracker", "yank", "1.80.17"),
    }
    assert {e.client for e in audit} == {index.url}
    # Yanked as they came in, never served: no guard was overridden, and none was forced.
    assert [e.forced for e in audit] == [False, False]


def test_a_release_yanked_on_the_index_later_is_yanked_unless_an_operator_unyanked_it(
    database_url: str, index: PackageIndex
) -> None:
    assert track(database_url, index, "--since", "1.65.8").returncode == 2  # 1.70.6: no map
    assert latest(database_url) == "1.70.4"
    index.releases["1.70.4"].yanked = "broken"
    run = track(database_url, index, "--since", "1.65.8")
    assert run.returncode == 0, run.stderr  # a yank is no failure
    assert "yanked litellm 1.70.4: yanked on the package index: broken" in run.stderr
    assert held(database_url)["1.70.4"].yank_reason == "yanked on the package index: broken"
    assert latest(database_url) == "1.65.8"

    # An operator who unyanks it has the last word.
    db = Database(database_url)
    try:
        set_yanked(
            db,
            engine="litellm",
            version="1.70.4",
            yanked=False,
            reason=None,
            actor=Actor("ops", "127.0.0.1"),
        )
    finally:
        db.dispose()
    again = track(database_url, index, "--since", "1.65.8")
    assert again.returncode == 0, again.stderr
    assert "yanked" not in again.stderr
    assert held(database_url)["1.70.4"].yanked_at is None
    assert latest(database_url) == "1.70.4"


def test_provenance_recorded_for_a_version_held_is_served_by_a_running_server(
    database_url: str, index: PackageIndex
) -> None:
    seeded = run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    # fast_path off: the server's view is as fresh as it can be (read at every request).
    with InProcess(database_url, fast_path=False) as server:
        for path in ("/engines/litellm/versions", "/v1/engines/litellm/versions"):
            [item] = server.get(path).json()["items"]
            assert item["provenance"]["origin"] == "bundled"
        run = track(database_url, index, "--since", "1.70.4")
        assert "provenance-recorded litellm 1.70.4" in run.stderr
        assert "1.70.4: unchanged" not in run.stdout
        for path in ("/engines/litellm/versions", "/v1/engines/litellm/versions"):
            [item] = server.get(path).json()["items"]
            assert item["provenance"]["origin"] == "index", path
            assert item["provenance"]["wheel_filename"] == index.releases["1.70.4"].filename
            assert item["provenance"]["released_at_source"] == "index"


def test_force_ingests_a_release_the_gates_held_back_before(
    database_url: str, index: PackageIndex
) -> None:
    # A release whose map has far fewer models than the one before: held back.
    few = dict(list(orjson.loads(source_bytes("1.80.17")).items())[:20])
    index.publish("1.80.17", orjson.dumps(few))
    first = track(database_url, index, "--since", "1.70.4")
    assert first.returncode == 2
    assert "held-back litellm 1.80.17" in first.stderr
    assert "`budconnect track litellm --force` ingests it anyway" in first.stderr
    assert "1.80.17" not in held(database_url)

    downloads = len(index.downloads)
    forced = track(database_url, index, "--since", "1.70.4", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "litellm 1.80.17: created" in forced.stdout
    assert held(database_url)["1.80.17"].origin == "index"
    # What was refused for another reason (no map) stays noted: forcing changes nothing there.
    assert index.downloads[downloads:] == ["1.80.17"]


def test_a_run_writes_its_metrics_for_the_textfile_collector(
    database_url: str, index: PackageIndex, tmp_path: Path
) -> None:
    """A cron job's process lives for one run: the file says what the last run did, and
    when a run last completed, carried over runs that fail."""
    path = tmp_path / "budconnect-track.prom"
    run = track(database_url, index, "--metrics-file", str(path))
    assert run.returncode == 2, run.stderr  # the release without a map is reported
    text = path.read_text()
    outcome = "budconnect_track_last_run_outcome"
    # Refused (no map), not held back: `--force` would not help, and the outcome says so.
    assert sample(text, outcome, engine="litellm", outcome="refused") == 1
    assert sample(text, outcome, engine="litellm", outcome="held-back") == 0
    assert sample(text, outcome, engine="litellm", outcome="ok") == 0
    releases = "budconnect_track_last_run_releases"
    assert sample(text, releases, engine="litellm", outcome="ingested") == len(FINAL)
    assert sample(text, releases, engine="litellm", outcome="refused") == 1
    completed = sample(text, "budconnect_track_last_success_timestamp_seconds", engine="litellm")
    assert completed == sample(text, "budconnect_track_last_run_timestamp_seconds")
    assert abs(completed - time.time()) < 120
    # Only the tracker's own figures: no process or runtime metrics of a process long gone.
    assert "process_" not in text
    assert "python_" not in text

    again = track(database_url, index, "--metrics-file", str(path))
    assert again.returncode == 0, again.stderr  # the refused release is noted, not retried
    text = path.read_text()
    assert sample(text, outcome, engine="litellm", outcome="ok") == 1
    assert sample(text, releases, engine="litellm", outcome="ingested") == 0
    completed = sample(text, "budconnect_track_last_success_timestamp_seconds")

    down = run_cli(
        "track", "litellm", "--once", "--index-url", "http://127.0.0.1:9/simple/",
        "--metrics-file", str(path), database_url=database_url,
    )  # fmt: skip
    assert down.returncode == 1
    text = path.read_text()
    assert sample(text, outcome, engine="litellm", outcome="index-unavailable") == 1
    assert sample(text, outcome, engine="litellm", outcome="ok") == 0
    # The last completed run is still known, and older than the last run.
    assert sample(text, "budconnect_track_last_success_timestamp_seconds") == completed
    assert sample(text, "budconnect_track_last_run_timestamp_seconds") > completed


@pytest.mark.parametrize("compress", ["accepted", "always"])
def test_a_wheel_compressed_on_the_wire_is_checked_as_the_file_it_is(
    database_url: str, index: PackageIndex, compress: str
) -> None:
    """Web servers in front of mirrors gzip what the client accepts (or even what it does
    not): the hash the index publishes is of the wheel, not of the bytes on the wire."""
    index.compress = compress
    run = track(database_url, index, "--since", "1.65.8")
    assert run.returncode == 2, run.stderr  # 1.70.6 has no map, as in every run
    assert sorted(held(database_url)) == ["1.65.8", "1.70.4"]
    assert held(database_url)["1.70.4"].wheel_sha256 == index.releases["1.70.4"].sha256
    assert "is not the" not in run.stderr


def test_a_wheel_the_index_does_not_serve_is_reported_and_asked_for_again(
    database_url: str, index: PackageIndex
) -> None:
    """A mirror still syncing lists a file it does not serve yet: that release waits for
    the next run; the releases after it are ingested now."""
    index.missing.add("1.60.9")
    first = track(database_url, index)
    assert first.returncode == 2
    assert "unavailable litellm 1.60.9: GET " in first.stderr
    assert "answered 404; asked again at the next run" in first.stderr
    assert sorted(held(database_url)) == ["1.14.4", "1.65.8", "1.70.4"]

    index.missing.clear()
    downloads = len(index.downloads)
    second = track(database_url, index)
    assert second.returncode == 0, second.stderr  # not noted as refused: fetched again
    assert index.downloads[downloads:] == ["1.60.9"]
    assert sorted(held(database_url)) == FINAL


def test_a_release_the_registry_cannot_name_is_skipped_and_the_rest_ingested(
    database_url: str, index: PackageIndex
) -> None:
    """A valid release whose version the registry does not take (a local label longer than
    a version may be) is said to be skipped; it does not stop the run, nor fail it."""
    odd = "1.65.9+" + "a" * 70
    index.publish(odd, source_bytes("1.65.8"))
    del index.releases["1.70.6"]  # the release without a map: this run refuses nothing
    run = track(database_url, index, "--since", "1.65.8")
    assert run.returncode == 0, run.stderr
    assert f"skipped litellm {odd}: the registry cannot hold it: " in run.stderr
    assert sorted(held(database_url)) == ["1.65.8", "1.70.4"]  # 1.70.4 comes after it
    assert odd not in index.downloads


def test_a_release_spelling_a_version_held_another_way_is_refused_and_the_rest_ingested(
    database_url: str, index: PackageIndex
) -> None:
    """1.70.4.0 is 1.70.4 to PEP 440: the registry holds one of the two, refuses the other
    (noted, reported), and goes on with the releases after them."""
    index.publish("1.70.4.0", source_bytes("1.70.4"))
    index.publish("1.80.17", source_bytes("1.80.17"))
    run = track(database_url, index, "--since", "1.70.4")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    [refused] = [
        line for line in run.stderr.splitlines() if line.startswith("refused litellm 1.70.4")
    ]
    assert "is the same version as" in refused, refused
    versions = held(database_url)
    assert "1.80.17" in versions
    assert len({"1.70.4", "1.70.4.0"} & set(versions)) == 1
    downloads = len(index.downloads)
    track(database_url, index, "--since", "1.70.4")
    assert index.downloads[downloads:] == []  # noted: not fetched at every run


def _with_compression_method(wheel: bytes, method: int) -> bytes:
    """`wheel` (stored, not deflated) saying every member is compressed with `method`."""
    data = bytearray(wheel)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature)
        while start != -1:
            data[start + offset : start + offset + 2] = method.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    return bytes(data)


def test_a_wheel_this_python_cannot_unzip_is_refused(
    database_url: str, index: PackageIndex
) -> None:
    index.publish("1.80.17", source_bytes("1.70.4"))
    stored = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(index.releases["1.80.17"].wheel)) as original,
        zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as copy,
    ):
        for info in original.infolist():
            copy.writestr(info.filename, original.read(info))
    index.releases["1.80.17"].wheel = _with_compression_method(stored.getvalue(), 99)
    run = track(database_url, index, "--since", "1.70.4")
    assert run.returncode == 2
    assert (
        "refused litellm 1.80.17: litellm-1.80.17-py3-none-any.whl is not a readable wheel: "
        in (run.stderr)
    )
    assert "compression method is not supported" in run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(held(database_url)) == ["1.70.4"]


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (b'{"files": ["x"]}', "file 0 is not an object"),
        (b'{"files": {"a": 1}}', "no list of files"),
        (b"[1, 2]", "no list of files"),
        (b'{"files": [{"filename": 5, "url": "/x.whl"}]}', "has no filename and url strings"),
        (
            b'{"files": [{"filename": "litellm-1.0.0-py3-none-any.whl", "url": "/x.whl",'
            b' "hashes": []}]}',
            "has hashes that are not an object of strings",
        ),
        (
            b'{"files": [{"filename": "litellm-1.0.0-py3-none-any.whl", "url": "/x.whl",'
            b' "hashes": {"sha256": 5}}]}',
            "has hashes that are not an object of strings",
        ),
        (
            b'{"files": [{"filename": "litellm-1.0.0-py3-none-any.whl", "url": "/x.whl",'
            b' "upload-time": 5}]}',
            "has an upload-time that is not a string",
        ),
        (
            b'{"files": [{"filename": "litellm-1.0.0-py3-none-any.whl", "url": "http://[::1/x"}]}',
            "a link that is no URL",
        ),
        (b'{"files": [', "is not JSON"),
    ],
)
def test_an_index_page_that_is_not_pep_691_is_one_line_and_writes_nothing(
    database_url: str, index: PackageIndex, page: bytes, problem: str
) -> None:
    index.page = page
    run = track(database_url, index)
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"error: index {index.url}: ")
    assert problem in line
    assert held(database_url) == {}


def test_a_mirrors_password_in_the_index_url_is_used_and_never_printed(
    database_url: str, index: PackageIndex
) -> None:
    index.credentials = ("reader", "s3cret-pass")
    index.releases["1.65.8"].wrong_hash = True  # a refusal names the wheel's URL
    index.missing.add("1.60.9")  # and so does a wheel the mirror does not serve
    url = index.url_with_credentials()
    run = run_cli("track", "litellm", "--once", "--index-url", url, database_url=database_url)
    assert run.returncode == 2, run.stderr
    assert sorted(held(database_url)) == ["1.14.4", "1.70.4"]  # the password was used
    assert f"{index.url}: " in run.stderr  # the index named without it
    assert "s3cret-pass" not in run.stdout + run.stderr

    index.page = b"[]"  # a failed run prints the index's URL too
    failed = run_cli("track", "litellm", "--once", "--index-url", url, database_url=database_url)
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"error: index {index.url}: ")
    assert "s3cret-pass" not in failed.stdout + failed.stderr


def test_a_version_whose_provenance_a_downgrade_forgot_is_restored_from_its_release(
    database_url: str, index: PackageIndex
) -> None:
    """Below the provenance schema, versions forget where they came from (and the extras of
    their map); upgraded again they hold no known map. The tracker takes the release's map
    back, rather than keeping them as an operator's files."""
    assert track(database_url, index, "--since", "1.70.4").returncode == 2  # 1.70.6: no map
    assert (
        run_cli("migrate", "--revision", "20261126_02", database_url=database_url).returncode == 0
    )
    assert run_cli("migrate", database_url=database_url).returncode == 0
    forgotten = held(database_url)["1.70.4"]
    assert (forgotten.origin, forgotten.source_digest) == ("file", "")

    run = track(database_url, index, "--since", "1.70.4", "--retry")
    assert "kept litellm 1.70.4" not in run.stderr
    row = held(database_url)["1.70.4"]
    release = index.releases["1.70.4"]
    assert (row.origin, row.wheel_filename) == ("index", release.filename)
    assert row.source_digest == hashlib.sha256(source_bytes("1.70.4")).hexdigest()


def test_the_index_yanking_the_last_final_release_held_is_held_back_unless_forced(
    database_url: str,
) -> None:
    with PackageIndex() as only:
        only.publish("1.70.4", source_bytes("1.70.4"))
        assert track(database_url, only).returncode == 0
        only.releases["1.70.4"].yanked = "broken"
        held_back = track(database_url, only)
        assert held_back.returncode == 2
        assert "held-back litellm 1.70.4: held back: litellm 1.70.4 is its last final" in (
            held_back.stderr
        )
        assert "`budconnect track litellm --force` yanks it anyway" in held_back.stderr
        assert held(database_url)["1.70.4"].yanked_at is None
        forced = track(database_url, only, "--force")
        assert forced.returncode == 0, forced.stderr
        assert held(database_url)["1.70.4"].yanked_at is not None


def test_a_first_release_yanked_on_the_index_is_ingested_yanked(database_url: str) -> None:
    """Ingested oldest first, a yanked first release is the engine's only final one when it
    comes in: never served, it loses no answer anything, so no guard holds it back."""
    with PackageIndex() as index:
        index.publish("1.14.4", source_bytes("1.14.4"), yanked="broken")
        index.publish("1.60.9", source_bytes("1.60.9"))
        run = track(database_url, index, "--include-yanked")
        assert run.returncode == 0, run.stderr
    versions = held(database_url)
    assert versions["1.14.4"].yanked_at is not None
    assert versions["1.60.9"].yanked_at is None
