"""The /v1 synchronization endpoints against the real server process, on both backends."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import pytest

from budconnect.api.negotiation import digest_of_etag
from budconnect.domain.documents import catalog_digest
from budconnect.errors import Gone
from budconnect.services.catalog import Catalog
from budconnect.services.publishing import Actor, set_yanked
from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from budconnect.sync import SyncClient
from tests.conftest import VERSIONS, Server, same_json, source_bytes, source_models

CATALOG = "/v1/engines/litellm/versions/{}/catalog"


def get(server: Server, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(server.base_url + path, timeout=60, **kwargs)


def wait_for_etag(server: Server, path: str, unlike: str, timeout: float = 10.0) -> str:
    """Poll until the ETag of `path` differs from `unlike`: how long a seed takes to show."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        etag = get(server, path, headers={"if-none-match": unlike}).headers["etag"]
        if etag != unlike:
            return etag
        time.sleep(0.05)
    raise AssertionError(f"ETag of {path} still {unlike} after {timeout} s")


# --- catalog --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.100.5", "1.14.4"])
def test_the_catalog_is_the_whole_snapshot_and_its_etag_is_its_digest(
    seeded_server: Server, version: str
) -> None:
    response = get(seeded_server, CATALOG.format(version))
    assert response.status_code == 200
    body = response.json()
    assert body["engine_version"] == version
    assert digest_of_etag(response.headers["etag"]) == body["digest"]
    assert (
        catalog_digest(
            engine="litellm", version=version, providers=body["providers"], extras=body["extras"]
        )
        == (body["digest"])
    )
    served = {m["uri"]: m["source_entry"] for p in body["providers"] for m in p["models"]}
    assert same_json(served, source_models(version))
    assert body["model_count"] == len(served)
    assert "max-age" in response.headers["cache-control"]


def test_if_none_match_answers_304_without_a_body_and_gzip_is_the_same_bytes(
    seeded_server: Server,
) -> None:
    path = CATALOG.format("1.100.5")
    plain = get(seeded_server, path, headers={"accept-encoding": "identity"})
    with httpx.stream(
        "GET", seeded_server.base_url + path, headers={"accept-encoding": "gzip"}
    ) as zipped:
        raw = b"".join(zipped.iter_raw())
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert int(zipped.headers["content-length"]) == len(raw) < len(plain.content) / 5
    # Two representations, two strong validators (RFC 9110, 8.8.3), of one digest.
    assert plain.headers["etag"] == f'"{plain.json()["digest"]}"'
    assert zipped.headers["etag"] == f'"{plain.json()["digest"]}-gzip"'
    assert "accept-encoding" in plain.headers["vary"].lower()
    for _ in range(3):  # the first may take the slow path; later ones the fast path
        for held in (plain, zipped):
            again = get(
                seeded_server,
                path,
                headers={"if-none-match": held.headers["etag"], "accept-encoding": "identity"},
            )
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["etag"] == plain.headers["etag"]
    other = get(seeded_server, path, headers={"if-none-match": '"not-it"'})
    assert other.status_code == 200


def test_latest_is_the_newest_version(seeded_server: Server) -> None:
    latest = get(seeded_server, CATALOG.format("latest"))
    assert latest.json()["engine_version"] == VERSIONS[-1]
    assert (
        latest.headers["etag"] == get(seeded_server, CATALOG.format(VERSIONS[-1])).headers["etag"]
    )


def test_fast_and_slow_paths_answer_the_same(seeded_server: Server) -> None:
    path = CATALOG.format("1.65.8")
    answers = [get(seeded_server, path, headers={"accept-encoding": "gzip"}) for _ in range(4)]
    time.sleep(0.5)  # let the background refresh make the fast path eligible
    answers += [get(seeded_server, path, headers={"accept-encoding": "gzip"}) for _ in range(4)]
    first = answers[0]
    for answer in answers[1:]:
        assert answer.content == first.content
        for name in ("etag", "cache-control", "vary", "content-type", "content-encoding"):
            assert answer.headers[name] == first.headers[name]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (CATALOG.format("9.9.9"), 404),
        ("/v1/engines/nope/versions/1.0/catalog", 404),
        ("/v1/engines/litellm/versions/1.14.4/changes?since=-1", 422),
        ("/v1/engines/litellm/versions/1.14.4/changes?since=x", 422),
        ("/v1/engines/litellm/versions/1.14.4/changes", 422),
        ("/v1/engines/litellm/versions/1.14.4/changes?since=999999999", 410),
        ("/v1/engines/litellm/diff?from=1.14.4", 422),
        # A parameter a route does not take is named, never ignored: a misspelt one would
        # answer another question than the one asked.
        (CATALOG.format("1.14.4") + "?x=1", 422),
        ("/v1/engines/litellm/versions/1.14.4/changes?since=1&sinse=3", 422),
        ("/v1/engines/litellm/versions/1.14.4/model_prices_and_context_window.json?v=2", 422),
        ("/model/get-compatible-models?engine=litellm&engine_versoin=1.14.4", 422),
        ("/v1/engines/litellm/diff?from=1.14.4&to=0.0.1", 404),
        ("/v1/engines/litellm/diff?from=1.14.4&to=1.14.4&from=0.0.1", 422),  # not the last wins
        ("/v1/engines/litellm/diff?from=1.14.4&to=1.14.4&fields=all", 422),
        ("/v1/engines/vllm/versions/1.0/model_prices_and_context_window.json", 404),
    ],
)
def test_bad_sync_requests_get_problem_details(
    seeded_server: Server, path: str, status: int
) -> None:
    response = get(seeded_server, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/v1/engines/litellm/diff?from=1.14.4", "to: required"),
        ("/model/get-compatible-models?engine=litellm&engine_versoin=1.14.4",
         "engine_versoin: unknown parameter; this route takes: engine, engine_version, page, "
         "limit"),
    ],
)  # fmt: skip
def test_parameter_errors_say_what_is_wrong_in_plain_words(
    seeded_server: Server, path: str, detail: str
) -> None:
    assert get(seeded_server, path).json()["detail"] == detail


# --- LiteLLM's own format -------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_the_litellm_map_is_the_source_file(seeded_server: Server, version: str) -> None:
    path = f"/v1/engines/litellm/versions/{version}/model_prices_and_context_window.json"
    response = get(seeded_server, path, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    # Every top-level entry, models or not (sample_spec, metadata), exactly as shipped.
    assert same_json(response.json(), json.loads(source_bytes(version)))
    again = get(seeded_server, path, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304


# --- compatible models, conditionally -------------------------------------------------------


def test_compatible_model_pages_carry_the_snapshot_etag(seeded_server: Server) -> None:
    path = "/model/get-compatible-models?engine=litellm&engine_version=1.80.17&page=2"
    first = get(seeded_server, path)
    etag = first.headers["etag"]
    catalog = CATALOG.format("1.80.17")
    assert etag == get(seeded_server, catalog).headers["etag"]
    # The catalog's 304 first: pages share its digest, not its caching rules.
    catalog_304 = get(seeded_server, catalog, headers={"if-none-match": etag})
    assert catalog_304.status_code == 304
    assert catalog_304.headers["cache-control"].startswith("public, max-age=")
    for _ in range(3):
        again = get(seeded_server, path, headers={"if-none-match": etag})
        assert again.status_code == 304
        # A sweep is pinned per client: no shared cache (CDN) may keep a page.
        assert again.headers["cache-control"] == "private, no-cache"
    assert first.headers["cache-control"] == "private, no-cache"
    other_page = get(seeded_server, path.replace("page=2", "page=3"))
    assert other_page.json()["items"] != first.json()["items"]


# --- changes and diffs ----------------------------------------------------------------------


def test_changes_since_zero_are_the_whole_version(seeded_server: Server) -> None:
    body = get(seeded_server, "/v1/engines/litellm/versions/1.60.9/changes?since=0").json()
    uris = {m["uri"] for m in body["models"]["upserted"]}
    assert uris == set(source_models("1.60.9"))
    assert body["models"]["removed"] == []
    up_to_date = get(
        seeded_server, f"/v1/engines/litellm/versions/1.60.9/changes?since={body['revision']}"
    ).json()
    assert up_to_date["models"] == {"removed": [], "upserted": []}
    assert up_to_date["digest"] == body["digest"]


def test_the_diff_lists_what_an_upgrade_changes_field_by_field(seeded_server: Server) -> None:
    old, new = source_models("1.70.4"), source_models("1.80.17")
    body = get(seeded_server, "/v1/engines/litellm/diff?from=1.70.4&to=1.80.17").json()
    assert {m["uri"] for m in body["models"]["added"]} == new.keys() - old.keys()
    assert {m["uri"] for m in body["models"]["removed"]} == old.keys() - new.keys()
    changed = {m["uri"]: m["changes"] for m in body["models"]["changed"]}
    assert set(changed) == {k for k in old.keys() & new.keys() if old[k] != new[k]}
    repriced = next(
        k for k in sorted(old.keys() & new.keys())
        if old[k].get("input_cost_per_token") != new[k].get("input_cost_per_token")
        and "input_cost_per_token" in old[k] and "input_cost_per_token" in new[k]
    )  # fmt: skip
    assert {
        "field": "source_entry.input_cost_per_token",
        "old": old[repriced]["input_cost_per_token"],
        "new": new[repriced]["input_cost_per_token"],
        "kind": "changed",
    } in changed[repriced]
    assert body["summary"]["models"] == {
        "added": len(new.keys() - old.keys()),
        "removed": len(old.keys() - new.keys()),
        "changed": len(changed),
    }
    new_providers = {e["litellm_provider"] for e in new.values()}
    old_providers = {e["litellm_provider"] for e in old.values()}
    assert body["providers"]["added"] == sorted(new_providers - old_providers)
    assert body["providers"]["removed"] == sorted(old_providers - new_providers)


# --- freshness ------------------------------------------------------------------------------


@pytest.fixture
def live_server(db: Database) -> Any:
    seed(db, engine="litellm", version="1.14.4", raw=source_bytes("1.14.4"))
    with Server(db.url) as server:
        yield db, server


def test_a_seed_shows_within_the_check_interval(live_server: Any) -> None:
    db, server = live_server
    path = CATALOG.format("1.14.4")
    before = get(server, path).headers["etag"]
    document = json.loads(source_bytes("1.14.4"))
    document["gpt-4"]["input_cost_per_token"] = 1.0
    seeded_at = time.monotonic()
    seed(db, engine="litellm", version="1.14.4", raw=json.dumps(document).encode())
    after = wait_for_etag(server, path, before)
    # The server re-reads digests every 0.2 s here; allow generously for a loaded machine.
    assert time.monotonic() - seeded_at < 5
    body = get(server, path).json()
    assert digest_of_etag(after) == body["digest"]
    served = {m["uri"]: m["source_entry"] for p in body["providers"] for m in p["models"]}
    assert served["gpt-4"]["input_cost_per_token"] == 1.0


def test_the_change_feed_of_latest_gives_no_delta_from_before_latest_moved(
    live_server: Any, tmp_path: Any
) -> None:
    """A delta of `latest` is a delta of one version: a client at a revision from before
    `latest` named its version (a newer release, or a yank of the newest) holds another
    version, and an empty or partial delta would leave it holding that one. 410: fetch the
    catalog."""
    db, server = live_server  # 1.14.4
    changes = "/v1/engines/litellm/versions/latest/changes"
    answer = get(server, CATALOG.format("latest"))
    first = answer.json()
    assert first["engine_version"] == "1.14.4"
    with SyncClient(server.base_url, "litellm", "latest", tmp_path / "state") as client:
        assert client.sync_once().status != "failed"

        newer = seed(db, engine="litellm", version="1.70.4", raw=source_bytes("1.70.4"))
        wait_for_etag(server, CATALOG.format("latest"), answer.headers["etag"])
        moved = get(server, changes, params={"since": first["revision"]})
        assert moved.status_code == 410, moved.text
        assert moved.headers["content-type"] == "application/problem+json"
        assert "latest of litellm names 1.70.4" in moved.json()["detail"]
        assert client.sync_once().status != "failed"
        assert _held(tmp_path) == ("1.70.4", newer.content_digest)
        # From the revision latest moved on, its deltas are those of 1.70.4.
        same = get(server, changes, params={"since": newer.revision})
        assert same.status_code == 200
        assert same.json()["engine_version"] == "1.70.4"

        # Yanking the newest: latest names 1.14.4 again. A client at 1.70.4's revision gets
        # 410, not an empty delta of 1.14.4 (it would go on holding 1.70.4).
        set_yanked(db, engine="litellm", version="1.70.4", yanked=True, reason=None,
                   actor=Actor("ops", "127.0.0.1"))  # fmt: skip
        # The database's own answer first, whatever a server's view still says...
        with pytest.raises(Gone, match=r"names 1\.14\.4"):
            Catalog(db).changes("litellm", "latest", newer.revision)
        # ...then the server's, once its view has caught up.
        deadline = time.monotonic() + 10
        while (answer := get(server, changes, params={"since": newer.revision})).status_code != 410:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
        assert "latest of litellm names 1.14.4" in answer.json()["detail"]
        # A client that holds what latest names now needs nothing, whatever it asks since.
        current = {"if-none-match": f'"{first["digest"]}"'}
        assert get(server, changes, params={"since": 1}, headers=current).status_code == 304
        assert client.sync_once().status != "failed"
        assert _held(tmp_path) == ("1.14.4", first["digest"])
        # The catalog of latest names the revision latest moved at, not 1.14.4's own older
        # one: asking for changes since it is answered, not refused at every poll.
        catalog = get(server, CATALOG.format("latest")).json()
        assert catalog["revision"] > first["revision"]
        assert catalog == {**get(server, CATALOG.format("1.14.4")).json(),
                           "revision": catalog["revision"]}  # fmt: skip
        since_move = get(server, changes, params={"since": catalog["revision"]})
        assert since_move.status_code == 200, since_move.text
        assert since_move.json()["revision"] == catalog["revision"]
        assert since_move.json()["models"] == {"removed": [], "upserted": []}
        again = client.sync_once()
        assert (again.status, again.method) == ("unchanged", "not-modified")


def _held(state: Any) -> tuple[str, str]:
    held = json.loads((state / "state" / "catalog.json").read_bytes())
    return held["engine_version"], held["digest"]


def test_a_yanked_version_tells_its_pinned_deployments_at_their_next_poll(
    live_server: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    db, server = live_server  # 1.14.4
    with SyncClient(server.base_url, "litellm", "1.14.4", tmp_path / "state") as client:
        assert client.sync_once().status == "updated"
        assert json.loads((tmp_path / "state" / "state.json").read_bytes())["yanked"] is None
        set_yanked(db, engine="litellm", version="1.14.4", yanked=True, reason="bad prices",
                   actor=Actor("ops", "127.0.0.1"), force=True)  # its only version  # fmt: skip
        deadline = time.monotonic() + 10
        path = CATALOG.format("1.14.4")
        while "x-budconnect-yanked" not in (answer := get(server, path)).headers:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert answer.headers["x-budconnect-yanked"] == "bad prices"
        # Served by its name as before, 304 included, each saying it is yanked.
        etag = {"if-none-match": answer.headers["etag"]}
        assert get(server, path, headers=etag).headers["x-budconnect-yanked"] == "bad prices"
        with caplog.at_level("WARNING", logger="budconnect.sync"):
            assert client.sync_once().status == "unchanged"
        state = json.loads((tmp_path / "state" / "state.json").read_bytes())
        assert state["yanked"] == "bad prices"
        assert "litellm 1.14.4 is yanked" in caplog.text
