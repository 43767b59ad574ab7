"""The `budconnect` command, run as a real process against real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from budconnect import __version__
from budconnect.services.catalog import Catalog
from budconnect.services.publishing import Actor, set_yanked
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.storage.migrate import current_revision, downgrade, head_revision
from budconnect.storage.tables import engine_version, model_entry
from tests.conftest import (
    VERSIONS,
    Server,
    data_dir_with_bad_files,
    dump,
    run_cli,
    source_bytes,
    source_models,
)


def counts(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        with db.read() as conn:
            return (
                conn.execute(select(func.count()).select_from(engine_version)).scalar_one(),
                conn.execute(select(func.sum(engine_version.c.model_count))).scalar() or 0,
            )
    finally:
        db.dispose()


def test_seed_one_bundled_version_prints_a_summary(database_url: str) -> None:
    first = run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "litellm 1.70.4: created" in first.stdout
    assert str(len(source_models("1.70.4"))) in first.stdout
    assert "skipped 'sample_spec'" in first.stdout
    assert "2025-1-6" in first.stdout  # the repaired date is reported

    again = run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url)
    assert again.returncode == 0
    assert "litellm 1.70.4: unchanged" in again.stdout


def test_seed_all_seeds_every_bundled_version(database_url: str) -> None:
    result = run_cli("seed", "litellm", "--all", database_url=database_url)
    assert result.returncode == 0, result.stderr
    for version in VERSIONS:
        assert f"litellm {version}: created" in result.stdout
    assert counts(database_url) == (
        len(VERSIONS),
        sum(len(source_models(v)) for v in VERSIONS),
    )
    assert "repaired '" in result.stdout

    # Unchanged: one summary per version, the notes said once already are only counted.
    again = run_cli("seed", "litellm", "--all", database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert "repaired '" not in again.stdout
    assert "skipped '" not in again.stdout
    for version in VERSIONS:
        assert f"litellm {version}: unchanged" in again.stdout
    assert len(again.stdout.splitlines()) < len(result.stdout.splitlines()) - 20


def test_version_is_printed() -> None:
    result = run_cli("--version", database_url="sqlite:///unused.db")
    assert result.returncode == 0
    assert result.stdout.strip() == f"budconnect {__version__}"


def test_versions_seeded_by_older_code_are_rederived_at_start(db: Database) -> None:
    """After an upgrade that reads data differently, `serve` and `migrate` bring every held
    version (bundled or not) to what this code would seed, digests included."""
    fresh = run_cli("seed", "litellm", "--version", "1.65.8", database_url=db.url)
    assert fresh.returncode == 0
    custom = {"m": {"litellm_provider": "openai", "mode": "chat"}, "m-latest": {"alias_of": "m"}}
    seed(db, engine="litellm", version="7.0.0", raw=json.dumps(custom).encode(), force=True)
    expected = {
        v: Catalog(db, check_interval=0).snapshot("litellm", v) for v in ("1.65.8", "7.0.0")
    }
    with db.write() as conn:  # as if written by another parser revision
        conn.execute(update(engine_version).values(parser_revision=0, content_digest="old"))
        # Entries another parser wrote: other content under other digests.
        old_digest = func.substr(model_entry.c.digest, 1, 60) + "-old"
        conn.execute(update(model_entry).values(alias_of=None, modality=[], digest=old_digest))
    result = run_cli("migrate", database_url=db.url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("re-derived litellm") == 2
    for version, snapshot in expected.items():
        again = Catalog(db, check_interval=0).snapshot("litellm", version)
        assert (again.digest, again.providers) == (snapshot.digest, snapshot.providers)
    assert "re-derived" not in run_cli("migrate", database_url=db.url).stderr


def test_seed_any_file_as_a_version(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"m1": {"litellm_provider": "openai", "mode": "chat"}}))
    result = run_cli(
        "seed",
        "litellm",
        "--version",
        "0.1.0+custom",
        "--file",
        str(path),
        "--force",
        database_url=database_url,
    )
    assert result.returncode == 0, result.stderr
    assert counts(database_url) == (1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed", "litellm", "--version", "../../x"], "invalid version '../../x'"),
        (["seed", "litellm", "--version", "9.9.9"], "no bundled file for litellm 9.9.9"),
        (["seed", "litellm"], "give exactly one of --version V or --all"),
        (["seed", "litellm", "--all", "--version", "1.14.4"], "exactly one of"),
        (["seed", "vllm", "--all"], "no parser for engine 'vllm'"),
        (["seed", "../etc", "--all"], "invalid engine key"),
    ],
)
def test_bad_seed_arguments_fail_with_one_line_and_no_writes(
    database_url: str, args: list[str], message: str
) -> None:
    run_cli("seed", "litellm", "--version", "1.14.4", database_url=database_url)
    before = counts(database_url)
    result = run_cli(*args, database_url=database_url)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert counts(database_url) == before


def test_a_data_dir_that_does_not_exist_is_named(database_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url,
                     BUDCONNECT_DATA_DIR=str(missing))  # fmt: skip
    assert result.returncode == 1
    assert f"the data directory {missing} does not exist (BUDCONNECT_DATA_DIR)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{oops", "not valid JSON"), (b"[]", "not a JSON object"), (b"\xff", "not UTF-8")],
)
def test_a_bad_file_is_refused_with_its_name_and_no_writes(
    database_url: str, tmp_path: Path, content: bytes, message: str
) -> None:
    run_cli("seed", "litellm", "--version", "1.14.4", database_url=database_url)
    before = counts(database_url)
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = run_cli(
        "seed", "litellm", "--version", "1.14.4", "--file", str(path), database_url=database_url
    )
    assert result.returncode == 1
    assert str(path) in result.stderr
    assert message in result.stderr
    assert counts(database_url) == before


def test_a_refused_seed_leaves_no_database_behind(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    for args in (("--version", "../../x"), ("--version", "9.9"), ("--all", "--version", "1")):
        result = run_cli("seed", "litellm", *args, database_url=f"sqlite:///{path}")
        assert result.returncode == 1, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not path.exists()


def test_seed_all_names_the_version_it_stopped_at_and_reports_those_it_applied(
    database_url: str, tmp_path: Path
) -> None:
    versions = tmp_path / "litellm"
    versions.mkdir()
    (versions / "1.14.4.json").write_bytes(source_bytes("1.14.4"))
    (versions / "1.15.0.json").write_bytes(b"[]")
    (versions / "1.16.0.json").write_bytes(b"{}")
    result = run_cli(
        "seed", "litellm", "--all", database_url=database_url, BUDCONNECT_DATA_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "litellm 1.15.0" in result.stderr
    assert "1.15.0.json" in result.stderr
    assert "not a JSON object" in result.stderr
    assert "litellm 1.14.4: created" in result.stdout
    assert counts(database_url) == (1, len(source_models("1.14.4")))


def test_a_missing_file_is_one_line(database_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "seed",
        "litellm",
        "--version",
        "1.0",
        "--file",
        str(tmp_path / "nope"),
        database_url=database_url,
    )
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_an_unreachable_database_is_one_line() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = run_cli("seed", "litellm", "--version", "1.14.4", database_url=url)
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_two_seeders_at_once_apply_the_version_once(database_url: str) -> None:
    args = [sys.executable, "-m", "budconnect", "seed", "litellm", "--version", "1.80.17"]
    env = {"BUDCONNECT_DATABASE_URL": database_url}
    procs = [
        subprocess.Popen(
            args,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    states = sorted("created" if ": created" in out else "unchanged" for out, _ in outputs)
    assert states == ["created", "unchanged"]
    assert counts(database_url) == (1, len(source_models("1.80.17")))


def test_migrate_builds_the_schema_and_seed_and_serve_refuse_an_outdated_one(
    database_url: str,
) -> None:
    result = run_cli("migrate", database_url=database_url)
    assert result.returncode == 0, result.stderr
    db = Database(database_url)
    assert current_revision(db.engine) == head_revision()
    downgrade(db.engine, "20261126_01")  # the first revision: an out-of-date schema
    for command in (("seed", "litellm", "--version", "1.14.4"), ("serve", "--port", "0")):
        refused = run_cli(*command, database_url=database_url)
        assert refused.returncode == 1, command
        assert "budconnect migrate" in refused.stderr, command
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    db.dispose()


def test_migrate_moves_the_schema_back_and_forward_and_refuses_an_unknown_revision(
    database_url: str,
) -> None:
    assert (
        run_cli("seed", "litellm", "--version", "1.14.4", database_url=database_url).returncode == 0
    )
    db = Database(database_url)
    previous = "20261202_05"
    back = run_cli("migrate", "--revision", previous, database_url=database_url)
    assert back.returncode == 0, back.stderr
    assert f"schema at revision {previous} (downgraded from {head_revision()})" in back.stdout
    assert current_revision(db.engine) == previous

    unknown = run_cli("migrate", "--revision", "bogus", database_url=database_url)
    assert unknown.returncode == 1
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr  # no traceback
    assert "unknown revision 'bogus'" in unknown.stderr
    assert previous in unknown.stderr
    assert head_revision() in unknown.stderr
    assert current_revision(db.engine) == previous

    forward = run_cli("migrate", database_url=database_url)
    assert forward.returncode == 0, forward.stderr
    assert f"upgraded from {previous}" in forward.stdout
    assert current_revision(db.engine) == head_revision()
    assert counts(database_url) == (1, len(source_models("1.14.4")))
    db.dispose()


def test_serve_on_an_empty_database_migrates_and_seeds_the_bundled_data(database_url: str) -> None:
    url = database_url
    with Server(url, seed_bundled=True) as server:
        engines = httpx.get(f"{server.base_url}/engines").json()["items"]
    assert engines == [
        {
            "key": "litellm",
            "name": "LiteLLM",
            "latest_version": VERSIONS[-1],
            "version_count": len(VERSIONS),
        }
    ]


def test_serve_starts_without_a_bundled_version_the_gates_hold_back(
    database_url: str, tmp_path: Path
) -> None:
    env = {"BUDCONNECT_DATA_DIR": str(data_dir_with_bad_files(tmp_path))}
    with Server(database_url, env=env, seed_bundled=True) as server:
        versions = httpx.get(f"{server.base_url}/engines/litellm/versions").json()["items"]
        log = server.output()
    assert [v["version"] for v in versions] == ["1.60.9"]
    data = tmp_path / "litellm"
    assert (
        f"WARNING budconnect.serve: bundled file not seeded: litellm 1.70.4 "
        f"({data / '1.70.4.json'}): held back" in log
    )
    assert "WARNING budconnect.serve: bundled file not seeded: litellm 1.80.17 (" in log
    assert "not valid JSON" in log
    assert "notes.json: its name is not an engine version" in log


def test_serve_refuses_an_unknown_log_level_in_one_line_and_takes_trace(
    database_url: str,
) -> None:
    refused = run_cli("serve", "--log-level", "warn", database_url=database_url)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: --log-level 'warn': use one of critical, error, warning, info, debug, trace"
    )
    with Server(database_url, args=("--log-level", "trace")) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_serve_adds_missing_bundled_versions_and_leaves_held_ones_alone(
    database_url: str, tmp_path: Path
) -> None:
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"only-model": {"litellm_provider": "openai"}}))
    seeded = run_cli(
        "seed",
        "litellm",
        "--version",
        "1.14.4",
        "--file",
        str(custom),
        "--force",
        database_url=database_url,
    )
    assert seeded.returncode == 0, seeded.stderr
    with Server(database_url, seed_bundled=True) as server:
        versions = httpx.get(f"{server.base_url}/engines/litellm/versions").json()["items"]
    counts = {v["version"]: v["model_count"] for v in versions}
    assert set(counts) == set(VERSIONS)
    assert counts["1.14.4"] == 1  # the operator's file, not the bundled one
    assert counts["1.100.5"] == len(source_models("1.100.5"))


def test_a_file_the_gates_hold_back_exits_2_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url)
    before = counts(database_url)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"m": {"litellm_provider": "openai", "mode": "chat"}}))
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    for file, message in ((small, "1 models, fewer than 50"), (empty, "no models")):
        args = ["seed", "litellm", "--version", "1.70.4", "--file", str(file)]
        held = run_cli(*args, database_url=database_url)
        assert held.returncode == 2
        [line] = held.stderr.strip().splitlines()
        assert "held back" in line
        assert message in line
        assert counts(database_url) == before
    # --force overrides the gates, but never publishes a version without models.
    args = ["seed", "litellm", "--version", "1.70.4", "--force", "--file"]
    refused = run_cli(*args, str(empty), database_url=database_url)
    assert refused.returncode == 2
    assert "not even with force" in refused.stderr
    assert counts(database_url) == before
    forced = run_cli(*args, str(small), database_url=database_url)
    assert forced.returncode == 0, forced.stderr
    assert counts(database_url) == (before[0], before[1] - len(source_models("1.70.4")) + 1)


def test_a_file_beyond_the_size_limit_is_refused_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(source_bytes("1.70.4"))
    args = ["seed", "litellm", "--version", "1.70.4", "--file", str(big), "--max-bytes", "4096"]
    refused = run_cli(*args, database_url=database_url)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "larger than 4,096 bytes" in line
    for odd in ("0", "-5", "99999999999999999999"):  # refused, not the default, no traceback
        odd_limit = run_cli(*args[:-1], odd, database_url=database_url)
        assert odd_limit.returncode == 2
        assert "--max-bytes" in odd_limit.stderr
        assert "Traceback" not in odd_limit.stderr
    assert run_cli(*args[:-2], database_url=database_url).returncode == 0


def test_token_hash_makes_an_entry_and_refuses_what_is_no_token() -> None:
    def token_hash(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "budconnect", "token", "hash", "ci"]
        return subprocess.run(command, input=stdin, capture_output=True, timeout=60)

    made = token_hash(b"bct_abc\n")
    assert made.returncode == 0
    assert made.stdout.decode().strip().startswith("ci=sha256:")
    for bad in (b"\xff\xfe\n", b"tab\there\n", b"\n"):
        refused = token_hash(bad)
        assert refused.returncode == 1
        assert b"Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def _seeded_1_70_4(database_url: str) -> tuple[Database, dict[str, list[tuple[Any, ...]]]]:
    """1.70.4 seeded by the command line; the database, and every row it holds."""
    assert (
        run_cli("seed", "litellm", "--version", "1.70.4", database_url=database_url).returncode == 0
    )
    db = Database(database_url)
    return db, dump(db)


def test_a_dry_run_prints_the_report_and_diff_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    db, before = _seeded_1_70_4(database_url)
    document = json.loads(source_bytes("1.70.4"))
    document["gpt-4o"]["input_cost_per_token"] = 1.0
    del document["gpt-4"]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    args = ["seed", "litellm", "--version", "1.70.4", "--file", str(changed), "--dry-run"]
    result = run_cli(*args, database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing was written" in result.stdout
    assert "against litellm 1.70.4: 0 models added, 1 removed, 1 changed" in result.stdout
    assert "changed 'gpt-4o': input_cost.input_cost_per_token" in result.stdout
    assert dump(db) == before
    db.dispose()


def test_a_dry_run_of_what_the_gates_hold_back_shows_what_forcing_would_do(
    database_url: str, tmp_path: Path
) -> None:
    db, before = _seeded_1_70_4(database_url)
    document = json.loads(source_bytes("1.70.4"))
    shrunk = tmp_path / "shrunk.json"
    shrunk.write_text(json.dumps(dict(list(document.items())[:300])))
    args = ["seed", "litellm", "--version", "1.70.4", "--file", str(shrunk), "--dry-run"]
    result = run_cli(*args, database_url=database_url)
    assert result.returncode == 2, result.stderr
    assert "what --force would write" in result.stdout
    assert "0 models added" in result.stdout
    assert "held back" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert dump(db) == before
    db.dispose()


def test_audit_shows_every_write_and_creates_no_database(database_url: str) -> None:
    refused = run_cli("audit", database_url=database_url)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "no database at" in refused.stderr or "no BudConnect schema" in refused.stderr
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()

    seeded = run_cli("seed", "litellm", "--version", "1.14.4", database_url=database_url)
    assert seeded.returncode == 0
    db = Database(database_url)
    set_yanked(db, engine="litellm", version="1.14.4", yanked=True, reason="bad prices",
               actor=Actor("ops", "10.1.2.3"), force=True)  # its only version  # fmt: skip
    db.dispose()
    shown = run_cli("audit", database_url=database_url, COLUMNS="200")
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "10.1.2.3" in line)
    assert "ops" in row
    assert "yank" in row
    assert "litellm 1.14.4" in row
    # In a terminal of 80 columns, values wrap; none is cut short.
    narrow = run_cli("audit", database_url=database_url, COLUMNS="80").stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "…" not in narrow
    assert {"10.1.2.3", "ops", "yank", "1.14.4"} <= set(narrow.split())
    lines = run_cli("audit", "--json", database_url=database_url).stdout.splitlines()
    entry = json.loads(lines[0])
    assert (entry["actor"], entry["action"], entry["engine_version"]) == ("ops", "yank", "1.14.4")
    assert entry["detail"] == {"reason": "bad prices"}


# --- what a new user mistypes --------------------------------------------------------------


def test_a_dry_run_on_a_database_not_made_yet_leaves_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    result = run_cli("seed", "litellm", "--version", "1.14.4", "--dry-run",
                     database_url=f"sqlite:///{path}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no version to compare with" in result.stdout
    assert "dry run: nothing was written" in result.stdout
    assert not path.exists()


def test_a_dry_run_on_a_database_without_the_schema_leaves_it_without(
    database_url: str,
) -> None:
    result = run_cli("seed", "litellm", "--version", "1.14.4", "--dry-run",
                     database_url=database_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    db = Database(database_url)
    assert current_revision(db.engine) is None
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_in_one_line(url: str) -> None:
    result = run_cli("migrate", database_url=url)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "in-memory SQLite database lasts one connection: name a file" in line


def test_a_file_that_is_no_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"garbage, not SQLite\n" * 100)
    for args in (("audit",), ("seed", "litellm", "--version", "1.14.4"), ("migrate",)):
        result = run_cli(*args, database_url=f"sqlite:///{garbage}")
        assert result.returncode == 1, args
        [line] = result.stderr.strip().splitlines()
        assert "file is not a database" in line, args
    assert garbage.read_bytes() == b"garbage, not SQLite\n" * 100


def test_an_empty_revision_is_refused_in_one_line(database_url: str) -> None:
    result = run_cli("migrate", "--revision", "", database_url=database_url)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "unknown revision ''" in line


def test_seed_all_names_the_file_the_gates_hold_back_and_exits_2(
    database_url: str, tmp_path: Path
) -> None:
    versions = tmp_path / "litellm"
    versions.mkdir()
    (versions / "1.14.4.json").write_bytes(source_bytes("1.14.4"))
    few = dict(list(json.loads(source_bytes("1.60.9")).items())[:10])
    (versions / "1.60.9.json").write_text(json.dumps(few))
    result = run_cli(
        "seed", "litellm", "--all", database_url=database_url, BUDCONNECT_DATA_DIR=str(tmp_path)
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: litellm 1.60.9 ({versions / '1.60.9.json'}): held back")
    assert "litellm 1.14.4: created" in result.stdout
    assert counts(database_url) == (1, len(source_models("1.14.4")))


def test_seed_all_keeps_to_the_size_limit(database_url: str) -> None:
    result = run_cli("seed", "litellm", "--all", "--max-bytes", "4096", database_url=database_url)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"litellm {VERSIONS[0]} (" in line
    assert "more than 4,096" in line
    assert counts(database_url) == (0, 0)


def test_serve_refuses_a_data_dir_that_does_not_exist(database_url: str, tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0", database_url=database_url,
                     BUDCONNECT_DATA_DIR=str(tmp_path / "typo"))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: BUDCONNECT_DATA_DIR: no directory {tmp_path / 'typo'}"


def test_a_token_entry_is_made_only_for_a_name_the_server_takes() -> None:
    command = [sys.executable, "-m", "budconnect", "token", "hash", "bad name,x=y"]
    refused = subprocess.run(command, input=b"bct_abc\n", capture_output=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stdout == b""
    assert b"a token name is 1-64 letters" in refused.stderr


def test_serve_refuses_a_token_name_the_audit_log_cannot_hold(database_url: str) -> None:
    """The rule `token hash` applies is the server's: a name of 77 characters made every
    write with that token fail (the audit log names its actor in 64)."""
    entry = f"{'a' * 77}=sha256:{'0' * 64}"
    result = run_cli("serve", "--port", "0", database_url=database_url,
                     BUDCONNECT_ADMIN_TOKENS=entry)  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "a token name is 1-64 letters" in line


def test_a_number_too_long_for_python_is_read_as_beyond_float_range(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "long.json"
    entry = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06}
    document = json.dumps({"gpt-long": {**entry, "max_tokens": 7}, "other": entry})
    source.write_text(document.replace('"max_tokens": 7', f'"max_tokens": {"9" * 5000}'))
    result = run_cli("seed", "litellm", "--version", "9.9.9", "--file", str(source),
                     "--force", database_url=database_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "an integer beyond float range is read as null" in result.stdout + result.stderr
    top_level = tmp_path / "number.json"
    top_level.write_text("9" * 5000)
    refused = run_cli("seed", "litellm", "--version", "9.9.8", "--file", str(top_level),
                      database_url=database_url)  # fmt: skip
    assert refused.returncode == 1
    assert "the top level is a number" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_track_refuses_an_empty_index_url(database_url: str) -> None:
    result = run_cli("track", "litellm", "--once", "--index-url", "", database_url=database_url)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --index-url is empty: name the index, or leave the option out"
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "is not an URL: "),
        ("ftp://mirror.invalid/simple/", "is not an http(s) URL with a host"),
        ("simple/", "is not an http(s) URL with a host"),
    ],
)
def test_track_refuses_an_index_url_it_cannot_ask_in_one_line(
    database_url: str, url: str, problem: str
) -> None:
    result = run_cli("track", "litellm", "--once", "--index-url", url, database_url=database_url)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --index-url {url!r} ")
    assert problem in line
