"""`BUDCONNECT_LOG_FORMAT=json`: every line the server writes is one JSON object, from its
first (what `serve` seeds before it listens) to the access log, which names each request's
id."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import Server, data_dir_with_bad_files, run_cli


def test_json_logs_are_one_object_per_line_with_the_request_id(
    database_url: str, tmp_path: Path
) -> None:
    data = data_dir_with_bad_files(tmp_path)
    env = {"BUDCONNECT_LOG_FORMAT": "json", "BUDCONNECT_DATA_DIR": str(data)}
    args = ("--log-level", "info", "--access-log")
    with Server(database_url, env=env, seed_bundled=True, args=args) as server:
        answer = httpx.get(f"{server.base_url}/engines", headers={"x-request-id": "trace-42"})
        assert answer.headers["x-request-id"] == "trace-42"
        fresh = httpx.get(f"{server.base_url}/engines").headers["x-request-id"]
        log = server.output()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    messages = [(line["level"], line["message"]) for line in lines]
    assert any(m.startswith("seeded litellm 1.60.9") for level, m in messages if level == "info")
    held = [m for level, m in messages if level == "warning" and "not seeded" in m]
    assert held, messages
    assert held[0].startswith("bundled file not seeded: litellm 1.70.4 (")
    assert "): held back" in held[0]
    requests = {line.get("request_id") for line in lines if "/engines" in line["message"]}
    assert {"trace-42", fresh} <= requests


def test_a_server_that_cannot_start_says_why_in_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-directory' / 'budconnect.db'}"
    failed = run_cli("serve", "--port", "0", database_url=url, BUDCONNECT_LOG_FORMAT="json")
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert "unable to open database file" in entry["message"]
