"""Publishing over HTTP, yanking, tokens, the audit log and rate limits; refusals write nothing.

On both databases, in-process (the same app as a server).
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from budconnect.domain.tokens import new_token, token_hash
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.sync import SyncClient
from tests.conftest import InProcess, Server, dump, metric, source_bytes, source_models

TOKEN = new_token()
OTHER = new_token()
ADMINS = f"ci={token_hash(TOKEN)},ops={token_hash(OTHER)}"
AUTH = {"authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "content-type": "application/json"}
SOURCE = "/v1/engines/litellm/versions/{}/source"


@pytest.fixture
def app(db: Database) -> Iterator[InProcess]:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    with InProcess(db.url, admin_tokens=ADMINS) as served:
        yield served


def put(app: InProcess, version: str, body: bytes, headers: dict[str, str] | None = None,
        **params: Any) -> Any:  # fmt: skip
    sent = JSON if headers is None else headers
    return app.request("PUT", SOURCE.format(version), content=body, headers=sent, params=params)


def audit(app: InProcess) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = app.get("/v1/admin/audit", headers=AUTH).json()["items"]
    return items


def test_a_published_version_is_served_and_audited(app: InProcess) -> None:
    answer = put(app, "1.65.8", source_bytes("1.65.8"))
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert (report["created"], report["models"]["inserted"]) == (True, len(source_models("1.65.8")))
    served = app.get("/v1/engines/litellm/versions/1.65.8/catalog").json()
    assert served["digest"] == report["digest"]
    assert (
        app.get("/v1/engines/litellm/versions/1.65.8").json()["provenance"]["origin"] == "publish"
    )

    again = put(app, "1.65.8", source_bytes("1.65.8"))
    assert (again.status_code, again.json()["changed"]) == (200, False)
    first, second = audit(app)[::-1]
    assert (first["actor"], first["action"], first["engine_version"]) == ("ci", "publish", "1.65.8")
    assert (first["digest_before"], first["digest_after"]) == (None, report["digest"])
    assert second["digest_before"] == second["digest_after"] == report["digest"]
    assert not first["forced"]
    assert TOKEN not in json.dumps(audit(app))


def test_a_dry_run_answers_the_report_and_diff_and_writes_nothing(
    app: InProcess, db: Database
) -> None:
    before = dump(db)
    answer = put(app, "1.65.8", source_bytes("1.65.8"), dry_run="true")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["dry_run"] is True
    assert report["created"] is True
    assert report["compared_with"] == "1.60.9"  # the version before it
    assert report["diff"]["summary"]["models"]["added"] > 0
    assert dump(db) == before
    assert app.get("/v1/engines/litellm/versions/1.65.8/catalog").status_code == 404


def test_a_dry_run_the_gates_refuse_answers_their_refusal_and_what_forcing_would_do(
    app: InProcess, db: Database
) -> None:
    before = dump(db)
    document = source_models("1.60.9")
    shrunk = dict(list(document.items())[: len(document) // 3])
    answer = put(app, "1.60.9", json.dumps(shrunk).encode(), dry_run="true")
    assert answer.status_code == 422, answer.text  # as the real request would be answered
    problem = answer.json()
    assert problem["type"] == "urn:budconnect:problem:held-back"
    forced = problem["if_forced"]
    assert forced["dry_run"] is True
    assert forced["forced"] is True
    assert forced["compared_with"] == "1.60.9"
    removed = forced["diff"]["summary"]["models"]["removed"]
    assert removed == forced["models"]["removed"] > len(document) // 2
    # Nothing to weigh for a source without a single model: forcing cannot publish it.
    empty = put(app, "1.60.9", b"{}", dry_run="true", force="true")
    assert empty.status_code == 422
    assert "if_forced" not in empty.json()
    assert dump(db) == before
    assert audit(app) == []


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind"),
    [
        ({}, b"{}", 401, "unauthorized"),
        ({"authorization": "Bearer bct_wrong"}, b"{}", 401, "unauthorized"),
        ({"authorization": "Basic xyz"}, b"{}", 401, "unauthorized"),
        ({**AUTH, "content-type": "text/plain"}, b"{}", 415, "unsupported-media-type"),
        (JSON, b'{"truncated": {', 422, "invalid-source-file"),
        (JSON, b"[]", 422, "invalid-source-file"),
        (JSON, b"", 422, "invalid-source-file"),
        (JSON, b"{}", 422, "held-back"),
        (JSON, json.dumps({"m": {"litellm_provider": "openai"}}).encode(), 422, "held-back"),
        ({**JSON, "content-encoding": "gzip"}, b"{}", 415, "unsupported-media-type"),
        ({**JSON, "content-type": "application/json; charset=iso-8859-1"}, b"{}", 415,
         "unsupported-media-type"),  # JSON is UTF-8: a Latin-1 body would be misread
    ],
)  # fmt: skip
def test_a_refused_write_writes_nothing(
    app: InProcess, db: Database, headers: dict[str, str], body: bytes, status: int, kind: str
) -> None:
    before = dump(db)
    answer = put(app, "1.60.9", body, headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == f"urn:budconnect:problem:{kind}"
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in answer.text
    assert dump(db) == before


def test_a_body_of_another_type_is_refused_before_it_is_read(app: InProcess) -> None:
    sent: list[int] = []

    async def seventy_megabytes() -> Any:
        for number in range(70):
            sent.append(number)
            yield b"x" * (1 << 20)

    answer = app.request("PUT", SOURCE.format("1.65.8"), content=seventy_megabytes(),
                         headers={**AUTH, "content-type": "text/plain"})  # fmt: skip
    assert answer.status_code == 415  # not 413: the type is known before a byte is read
    assert len(sent) <= 1


def test_the_gates_can_be_forced_and_that_is_recorded(app: InProcess) -> None:
    small = json.dumps({"m": {"litellm_provider": "openai", "mode": "chat"}}).encode()
    answer = put(app, "1.60.9", small, force="true")
    assert answer.status_code == 200, answer.text
    assert answer.json()["forced"] is True
    assert audit(app)[0]["forced"] is True
    # Never a version without models, forced or not.
    entries = len(audit(app))
    refused = put(app, "1.60.9", b"{}", force="true")
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:budconnect:problem:held-back"
    assert "not even with force" in refused.json()["detail"]
    assert len(audit(app)) == entries
    assert app.get("/v1/engines/litellm/versions/1.60.9/catalog").json()["model_count"] == 1


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(db: Database) -> None:
    with InProcess(db.url, admin_tokens=ADMINS, max_source_bytes=4096) as app:
        before = dump(db)
        answer = put(app, "1.60.9", source_bytes("1.60.9"))
        assert answer.status_code == 413
        assert dump(db) == before


def test_writes_are_off_without_an_admin_token_configured(db: Database) -> None:
    with InProcess(db.url) as app:
        before = dump(db)
        answer = put(app, "1.60.9", source_bytes("1.60.9"))
        assert answer.status_code == 403
        assert "no token" in answer.json()["detail"]
        assert dump(db) == before


def test_writes_beyond_the_rate_limit_get_429_and_write_nothing(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    with InProcess(db.url, admin_tokens=ADMINS, write_rate=1) as app:
        unyank = "/v1/engines/litellm/versions/1.60.9/unyank"
        statuses = [app.request("POST", unyank, headers=AUTH).status_code for _ in range(10)]
        assert statuses == [200] * 10  # the burst
        before = dump(db)
        refused = app.request("POST", "/v1/engines/litellm/versions/1.60.9/yank", headers=AUTH)
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        assert wait >= 1
        assert f"retry in {wait} s" in refused.json()["detail"]  # the same figure
        assert dump(db) == before


def test_guessing_tokens_is_slowed_down_like_writing(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    with InProcess(db.url, admin_tokens=ADMINS, write_rate=1) as app:
        yank = "/v1/engines/litellm/versions/1.60.9/yank"
        guesses = [
            app.request("POST", yank, headers={"authorization": f"Bearer guess{i}"}).status_code
            for i in range(10)
        ]
        assert guesses == [401] * 10  # the burst
        for method, path, headers in (
            ("POST", yank, {"authorization": "Bearer guess10"}),
            ("POST", yank, {}),
            ("GET", "/v1/admin/audit", {"authorization": "Bearer guess11"}),
            ("POST", yank, AUTH),  # the right token waits its turn like the rest
        ):
            refused = app.request(method, path, headers=headers)
            assert refused.status_code == 429, (path, refused.text)
        assert app.get("/v1/engines/litellm/versions/1.60.9").json()["yanked"] is False


def test_a_yanked_version_is_never_latest_but_is_served_by_name(app: InProcess) -> None:
    put(app, "1.65.8", source_bytes("1.65.8"))
    assert app.get("/v1/engines/litellm/versions/latest").json()["version"] == "1.65.8"
    yanked = app.request(
        "POST", "/v1/engines/litellm/versions/1.65.8/yank", headers=JSON,
        content=json.dumps({"reason": "prices wrong"}),
    )  # fmt: skip
    assert yanked.status_code == 200, yanked.text
    assert (yanked.json()["yanked"], yanked.json()["latest"]) == (True, False)
    assert app.get("/v1/engines/litellm/versions/latest").json()["version"] == "1.60.9"
    page = app.get("/model/get-compatible-models", params={"limit": 100}).json()
    served = {m["uri"] for p in page["items"] for m in p["models"]}
    assert served == set(source_models("1.60.9"))  # no engine: the newest not yanked
    by_name = app.get("/v1/engines/litellm/versions/1.65.8/catalog")
    assert by_name.status_code == 200
    assert app.request("POST", "/v1/engines/litellm/versions/1.65.8/unyank", headers=AUTH).json()[
        "latest"
    ]
    actions = [(e["action"], e["detail"]) for e in audit(app)[:2]]
    assert actions == [("unyank", {}), ("yank", {"reason": "prices wrong"})]
    # `latest` names another version once yanked: a yank names its version exactly.
    written = len(audit(app))
    for action in ("yank", "unyank"):
        vague = app.request("POST", f"/v1/engines/litellm/versions/latest/{action}", headers=AUTH)
        assert vague.status_code == 422, vague.text
        assert vague.json()["type"] == "urn:budconnect:problem:invalid-identifier"
    assert len(audit(app)) == written


def test_yanking_again_with_another_reason_replaces_the_reason(app: InProcess) -> None:
    """The reason is what pollers of the version are told: an operator can correct it. The
    same yank again, or one without a reason, changes nothing and is not audited."""
    put(app, "1.65.8", source_bytes("1.65.8"))
    path = "/v1/engines/litellm/versions/1.65.8"

    def yank(reason: str | None) -> Any:
        body = json.dumps({"reason": reason} if reason is not None else {})
        answer = app.request("POST", f"{path}/yank", headers=JSON, content=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = yank("prices wrong")
    written = len(audit(app))
    assert yank("prices wrong")["yanked_at"] == first["yanked_at"]
    assert yank(None)["yank_reason"] == "prices wrong"
    assert len(audit(app)) == written
    corrected = yank("prices wrong for gpt-4o: use 1.60.9")
    assert corrected["yank_reason"] == "prices wrong for gpt-4o: use 1.60.9"
    assert corrected["yanked_at"] == first["yanked_at"]
    assert audit(app)[0]["detail"] == {
        "reason": "prices wrong for gpt-4o: use 1.60.9",
        "replaced_reason": "prices wrong",
    }
    deadline = time.monotonic() + 10
    while app.get(f"{path}/catalog").headers.get("x-budconnect-yanked") != corrected["yank_reason"]:
        assert time.monotonic() < deadline, "pollers were not told the new reason"
        time.sleep(0.05)


def test_a_yank_reason_is_kept_printable_and_bounded(app: InProcess) -> None:
    """NUL (which PostgreSQL's text refuses: it was a 500) and other control characters
    become spaces; a reason of any length is kept at 500 characters, and shown."""
    reason = "bad\u0000prices\n\tsee   ticket " + "x" * 1000
    yanked = app.request(
        "POST", "/v1/engines/litellm/versions/1.60.9/yank?force=true", headers=JSON,
        content=json.dumps({"reason": reason}),
    )  # fmt: skip
    assert yanked.status_code == 200, yanked.text
    kept = yanked.json()["yank_reason"]
    assert kept.startswith("bad prices see ticket xxx")
    assert len(kept) == 500
    [listed] = app.get("/v1/engines/litellm/versions").json()["items"]
    assert listed["yank_reason"] == kept
    assert audit(app)[0]["detail"] == {"reason": kept}
    unyanked = app.request("POST", "/v1/engines/litellm/versions/1.60.9/unyank", headers=AUTH)
    assert unyanked.json()["yank_reason"] is None


def test_yanking_the_last_final_release_is_held_back_unless_forced(
    app: InProcess, db: Database
) -> None:
    """Yanked, answers without an engine would hold none of its models: deployed BudServe
    clients sweeping them would delete every one."""
    before = dump(db)
    path = "/v1/engines/litellm/versions/1.60.9/yank"
    held = app.request("POST", path, headers=AUTH)
    assert held.status_code == 422
    assert held.json()["type"] == "urn:budconnect:problem:held-back"
    assert "last final release" in held.json()["detail"]
    assert dump(db) == before
    assert app.get("/model/get-compatible-models").json()["total_items"] > 0

    forced = app.request("POST", f"{path}?force=true", headers=AUTH)
    assert forced.status_code == 200, forced.text
    assert audit(app)[0]["forced"] is True
    latest = app.get("/v1/engines/litellm/versions/latest")
    assert latest.status_code == 404
    assert "every final release is yanked" in latest.json()["detail"]
    # With another final release in place, no force is needed.
    put(app, "1.65.8", source_bytes("1.65.8"))
    assert app.request("POST", path.replace("1.60.9", "1.65.8"), headers=AUTH).status_code == 422
    assert app.request("POST", path.replace("yank", "unyank"), headers=AUTH).status_code == 200
    assert app.request("POST", path.replace("1.60.9", "1.65.8"), headers=AUTH).status_code == 200


def test_reads_need_a_token_when_read_tokens_are_configured(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    reader = new_token()
    with InProcess(db.url, admin_tokens=ADMINS, read_tokens=f"r={token_hash(reader)}") as app:
        catalog = "/v1/engines/litellm/versions/1.60.9/catalog"
        for path in (catalog, "/model/get-compatible-models", "/engines"):
            assert app.get(path).status_code == 401
        assert app.get(catalog, headers={"authorization": f"Bearer {reader}"}).status_code == 200
        assert app.get(catalog, headers=AUTH).status_code == 200  # admin may read
        assert app.get("/healthz").status_code == 200
        # A read token is known, and may not write: 403, not 401 (asking again will not help).
        as_reader = {"authorization": f"Bearer {reader}"}
        for method, path in (("GET", "/v1/admin/audit"), ("POST", f"{catalog[:-8]}/yank")):
            refused = app.request(method, path, headers=as_reader)
            assert refused.status_code == 403, (path, refused.text)
            assert "needs an admin token" in refused.json()["detail"]


def test_guessing_read_tokens_is_slowed_down_without_slowing_other_readers(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    reader = new_token()
    catalog = "/v1/engines/litellm/versions/1.60.9/catalog"
    with InProcess(db.url, admin_tokens=ADMINS, read_tokens=f"r={token_hash(reader)}",
                   write_rate=1) as app:  # fmt: skip
        guesses = [
            app.get(catalog, headers={"authorization": f"Bearer guess{i}"}).status_code
            for i in range(10)
        ]
        assert guesses == [401] * 10  # the burst
        # Spent: even the right token now waits, or 200 against 429 would tell a right guess.
        for headers in ({"authorization": "Bearer guess10"}, {"authorization": f"Bearer {reader}"}):
            refused = app.get(catalog, headers=headers)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"] == "urn:budconnect:problem:too-many-requests"
            wait = int(refused.headers["retry-after"])
            assert f"retry in {wait} s" in refused.json()["detail"]
        # No token at all is not a guess: still 401, and spends nothing.
        assert app.get(catalog).status_code == 401
        assert app.get("/healthz").status_code == 200  # probes stay open


def test_readers_with_the_right_token_are_never_charged(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    reader = new_token()
    catalog = "/v1/engines/litellm/versions/1.60.9/catalog"
    with InProcess(db.url, admin_tokens=ADMINS, read_tokens=f"r={token_hash(reader)}",
                   write_rate=1) as app:  # fmt: skip
        statuses = {
            app.get(catalog, headers={"authorization": f"Bearer {reader}"}).status_code
            for _ in range(30)
        }
        assert statuses == {200}


def test_the_fleet_shows_what_each_deployment_holds_from_its_polls(
    db: Database, tmp_path: Any
) -> None:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    env = {"BUDCONNECT_ADMIN_TOKENS": ADMINS, "BUDCONNECT_FLEET_FLUSH_SECONDS": "120"}
    with (
        Server(db.url, env=env) as server,
        SyncClient(server.base_url, "litellm", "1.14.4", tmp_path / "eu", deployment="eu-1") as eu,
        SyncClient(server.base_url, "litellm", "latest", tmp_path / "us", deployment="us-2") as us,
    ):
        for _ in range(10):
            eu.sync_once()
        us.sync_once()
        budserve = {"user-agent": "Python/3.11 aiohttp/3.9.5"}
        for page in (1, 2):
            httpx.get(f"{server.base_url}/model/get-compatible-models", params={"page": page},
                      headers=budserve)  # fmt: skip
        # Reports wait in memory: no write per poll.
        assert dump(db)["deployment"] == []

        def fleet() -> dict[str, Any]:
            answer = httpx.get(f"{server.base_url}/v1/fleet", headers=AUTH)
            assert answer.status_code == 200, answer.text
            return {item["name"]: item for item in answer.json()["items"]}

        now = fleet()
        assert set(now) == {"eu-1", "us-2", "budserve:127.0.0.1:Python/3.11 aiohttp/3.9.5"}
        digest = json.loads((tmp_path / "eu" / "catalog.json").read_bytes())["digest"]
        assert (now["eu-1"]["digest"], now["eu-1"]["current"]) == (digest, True)
        assert (now["eu-1"]["engine_version"], now["eu-1"]["follows"]) == ("1.14.4", "1.14.4")
        assert now["eu-1"]["polls"] == 10
        assert now["eu-1"]["last_apply_ok"] is True
        assert now["eu-1"]["stale"] is False
        assert now["us-2"]["follows"] == "latest"
        # us-2 polled once, before it held anything: it claims no apply, good or bad.
        assert (now["us-2"]["digest"], now["us-2"]["last_apply_ok"]) == (None, None)
        assert now["budserve:127.0.0.1:Python/3.11 aiohttp/3.9.5"]["polls"] == 1  # one sweep

        # A report is anyone's to write: a revision that is no number to int() (a latin-1
        # superscript two) or too big for the column is dropped; the poll is answered and
        # the batch it is written in keeps every other report.
        catalog = f"{server.base_url}/v1/engines/litellm/versions/1.14.4/catalog"
        for name, revision in (("odd-1", b"\xb2"), ("odd-2", b"9" * 20)):
            report = {"x-budconnect-deployment": name, "x-budconnect-revision": revision,
                      "x-budconnect-digest": "0" * 64}  # fmt: skip
            assert httpx.get(catalog, headers=report).status_code == 200
        odd = fleet()
        assert {"eu-1", "us-2", "odd-1", "odd-2"} <= set(odd)
        assert [odd[n]["behind"]["revisions"] for n in ("odd-1", "odd-2")] == [None, None]
        assert httpx.get(f"{server.base_url}/v1/fleet").status_code == 401

        document = json.loads(source_bytes("1.14.4"))
        document["gpt-4"]["input_cost_per_token"] = 9.0
        seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
        deadline = time.monotonic() + 10
        while fleet()["eu-1"]["current"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        behind = fleet()["eu-1"]
        assert behind["behind"]["revisions"] == 1
        eu.sync_once()  # applies the change; the next poll reports holding it
        eu.sync_once()
        assert fleet()["eu-1"]["current"] is True


def test_the_fleet_has_a_page_the_browser_asks_the_admin_token_for(app: InProcess) -> None:
    catalog = "/v1/engines/litellm/versions/1.60.9/catalog"
    digest = app.get(catalog).json()["digest"]
    app.get(catalog, headers={"x-budconnect-deployment": "eu-<b>1</b>",
                              "x-budconnect-follows": "1.60.9",
                              "x-budconnect-engine-version": "1.60.9",
                              "x-budconnect-digest": digest, "x-budconnect-applied": "ok",
                              "if-none-match": f'"{digest}"'})  # fmt: skip
    asked = app.get("/fleet")
    assert asked.status_code == 401
    assert asked.headers["www-authenticate"] == 'Basic realm="budconnect"'  # a browser prompt
    assert asked.headers["content-type"].startswith("text/html")
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    page = app.get("/fleet", headers={"authorization": f"Basic {basic}"})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "eu-&lt;b&gt;1&lt;/b&gt;" in page.text  # escaped, as everything from a report
    assert "1 deployments" in page.text
    assert "current" in page.text
    wrong = base64.b64encode(b"anyone:bct_wrong").decode()
    assert app.get("/fleet", headers={"authorization": f"Basic {wrong}"}).status_code == 401
    assert app.get("/fleet", headers=AUTH).status_code == 200  # and as the API takes it
    assert app.get("/fleet?x=1", headers=AUTH).status_code == 422

    # The browser sends a password it saved with requests other sites start (a form posted
    # to this server): a write takes a bearer token only.
    yank = app.request("POST", "/v1/engines/litellm/versions/1.60.9/yank?force=true",
                       headers={"authorization": f"Basic {basic}"})  # fmt: skip
    assert yank.status_code == 401
    assert app.get("/v1/engines/litellm/versions/1.60.9").json()["yanked"] is False


def test_with_read_tokens_a_page_asks_the_browser_for_the_token(db: Database) -> None:
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    reader = new_token()
    with InProcess(db.url, admin_tokens=ADMINS, read_tokens=f"viewer={token_hash(reader)}") as app:
        for path in ("/fleet", "/catalog/litellm/1.60.9", "/"):
            asked = app.get(path)
            assert asked.status_code == 401, path
            assert asked.headers["www-authenticate"] == 'Basic realm="budconnect"', path
        api = app.get("/v1/engines/litellm/versions/1.60.9/catalog")
        assert api.headers["www-authenticate"] == 'Bearer realm="budconnect"'
        as_viewer = {"authorization": "Basic " + base64.b64encode(f"me:{reader}".encode()).decode()}
        assert app.get("/catalog/litellm/1.60.9", headers=as_viewer).status_code == 200
        assert app.get("/fleet", headers=as_viewer).status_code == 403  # a read token
        as_admin = {"authorization": "Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()}
        assert app.get("/fleet", headers=as_admin).status_code == 200


def test_reads_that_build_a_body_are_rate_limited_per_client(db: Database) -> None:
    versions = ("1.14.4", "1.60.9", "1.65.8")
    for version in versions:
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    # Bursts of 10; at 0.6 a minute, no allowance comes back while the test runs.
    with InProcess(db.url, expensive_read_rate=0.6) as app:
        # A fleet sent to a new catalog at once (here from one address) costs one build: only
        # the request that builds is charged, the others wait for its body.
        catalog = "/v1/engines/litellm/versions/1.60.9/catalog"
        storm = app.get_concurrently([catalog] * 30)
        assert [r.status_code for r in storm] == [200] * 30
        assert len({r.content for r in storm}) == 1
        # Each distinct body built is charged: 9 diffs and that catalog spend the burst.
        diffs = [f"/v1/engines/litellm/diff?from={a}&to={b}" for a in versions for b in versions]
        assert [app.get(diff).status_code for diff in diffs] == [200] * 9
        limited = app.get("/v1/engines/litellm/versions/1.14.4/catalog")  # a build
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["type"] == "urn:budconnect:problem:too-many-requests"
        # What needs no build is answered whatever the allowance: bodies held, and 304s
        # (even for that catalog, which was never built).
        assert all(app.get(diff).status_code == 200 for diff in diffs)
        assert app.get(catalog).status_code == 200
        digest = app.get("/v1/engines/litellm/versions/1.14.4").json()["digest"]
        unbuilt = "/v1/engines/litellm/versions/1.14.4/catalog"
        for _ in range(50):
            assert app.get(unbuilt, headers={"if-none-match": f'"{digest}"'}).status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/litellm/compare?from=1.14.4&to=1.60.9",  # the API's diff, as a page
        "/catalog/litellm/1.60.9/models/gpt-4",  # a model's history, read each time
        "/v1/engines/litellm/models/gpt-4/history?at=2030-01-01",
    ],
)
def test_pages_and_queries_that_read_or_compute_much_are_rate_limited_too(
    db: Database, path: str
) -> None:
    """A web compare computed the API's diff without its limit; model pages and histories
    at a date read the database at every view."""
    for version in ("1.14.4", "1.60.9"):
        seed(db, engine="litellm", version=version, raw=source_bytes(version))
    with InProcess(db.url, expensive_read_rate=0.6) as app:
        statuses = [app.get(path).status_code for _ in range(14)]
        assert statuses[:3] == [200] * 3
        assert statuses[-1] == 429, statuses
        refused = app.get(path)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # A query of a snapshot in memory costs nothing more; one that must read it, does.
        query = "/v1/engines/litellm/versions/{}/models?q=gpt"
        if path.startswith("/catalog/"):  # these pages read 1.60.9
            assert app.get(query.format("1.60.9")).status_code == 200
        else:
            assert app.get(query.format("1.60.9")).status_code == 429


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("PUT", SOURCE.format("1.65.8"), "dry-run=true", "source"),  # a typo: not a dry run
        ("PUT", SOURCE.format("1.65.8"), "dry_run=true&dry_run=false", "source"),
        ("PUT", SOURCE.format("1.65.8"), "force=true&force=true", "source"),
        ("POST", "/v1/engines/litellm/versions/1.60.9/yank", "now=1", ""),
        ("POST", "/v1/engines/litellm/versions/1.60.9/yank", "", '{"reasn": "typo"}'),
        ("POST", "/v1/engines/litellm/versions/1.60.9/yank", "", '"just text"'),
        ("GET", "/v1/admin/audit", "limit=2&limit=3", ""),
        ("GET", "/v1/admin/audit", "cursor=zzz", ""),
        ("GET", "/v1/admin/audit", "before=9223372036854775808", ""),  # beyond any id
        ("GET", "/v1/fleet", "all=1", ""),
    ],
)
def test_an_admin_request_with_a_parameter_it_does_not_take_is_refused(
    app: InProcess, db: Database, method: str, path: str, params: str, body: str
) -> None:
    before = dump(db)
    content = source_bytes("1.65.8") if body == "source" else body.encode()
    answer = app.request(method, f"{path}?{params}", content=content, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:budconnect:problem:invalid-parameters"
    assert dump(db) == before


def test_admin_reads_say_they_need_an_admin_token(db: Database) -> None:
    with InProcess(db.url) as app:
        for path in ("/v1/fleet", "/v1/admin/audit"):
            answer = app.get(path)
            assert answer.status_code == 403
            assert answer.json()["detail"].startswith("the admin API is disabled")
    with InProcess(db.url, admin_tokens=ADMINS) as app:
        assert "the admin API needs a bearer token" in app.get("/v1/fleet").json()["detail"]


def test_a_client_that_leaves_mid_body_writes_nothing_and_is_no_server_error(
    db: Database,
) -> None:
    """A publish or yank whose client hangs up before its whole body arrived is a 499 (nobody
    reads it), not a 500 with a traceback that a 5xx alert would fire on."""
    seed(db, engine="litellm", version="1.60.9", raw=source_bytes("1.60.9"))
    before = dump(db)
    body = source_bytes("1.65.8")
    env = {"BUDCONNECT_ADMIN_TOKENS": ADMINS}
    with Server(db.url, env=env) as server:
        for method, path, length in (
            ("PUT", SOURCE.format("1.65.8"), len(body)),
            ("POST", "/v1/engines/litellm/versions/1.60.9/yank", 100),
        ):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                head = (f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
                        f"{TOKEN}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {length}\r\n\r\n")  # fmt: skip
                sock.sendall(head.encode() + body[: min(length, len(body)) // 2])
            time.sleep(0.3)
        metrics = httpx.get(f"{server.base_url}/metrics").text
        routes = [
            f"/v1/engines/{{engine}}/versions/{{version}}/{what}" for what in ("source", "yank")
        ]
        for route in routes:
            assert metric(metrics, "budconnect_requests_total", route=route, status="499") == 1
        assert 'status="500"' not in metrics
        assert "Traceback" not in server.output()
    assert dump(db) == before
