"""One request path: the fast path and the routes answer every poll by the same rules.

These tests run the app in-process, where they can see which path answered each request
(`Polls.answered`): a poll whose answer is in memory must be answered by the fast path, and
every refusal must be the same whichever path meets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import VERSIONS, InProcess

V = "1.70.4"
POLLS = {
    "catalog": f"/v1/engines/litellm/versions/{V}/catalog",
    "litellm-map": f"/v1/engines/litellm/versions/{V}/model_prices_and_context_window.json",
    "changes": f"/v1/engines/litellm/versions/{V}/changes?since=0",
    "compat": f"/model/get-compatible-models?engine=litellm&engine_version={V}&page=2&limit=7",
    "compat-all": "/model/get-compatible-models?page=1&limit=5",
}


@pytest.fixture
def app(seeded_url: str) -> Iterator[InProcess]:
    with InProcess(seeded_url) as app:
        yield app


@pytest.fixture
def routes_only(seeded_url: str) -> Iterator[InProcess]:
    with InProcess(seeded_url, fast_path=False) as app:
        yield app


@pytest.mark.parametrize("name", list(POLLS))
def test_a_poll_is_answered_by_the_fast_path_once_its_body_is_built(
    app: InProcess, name: str
) -> None:
    kind = name.removesuffix("-all")
    first = app.get(POLLS[name])
    assert first.status_code == 200
    assert app.answered("routes", kind, 200) == 1  # built by the route

    again = app.get(POLLS[name])
    assert (again.status_code, again.content) == (200, first.content)
    assert app.answered("fast", kind, 200) == 1
    assert app.answered("routes", kind, 200) == 1

    for etag in (first.headers["etag"], again.headers["etag"]):
        revalidated = app.get(POLLS[name], headers={"if-none-match": etag})
        assert revalidated.status_code == 304
        assert revalidated.content == b""
    assert app.answered("fast", kind, 304) == 2
    assert app.answered("routes", kind, 304) == 0


def test_a_changed_snapshot_is_not_answered_304_by_the_fast_path(app: InProcess) -> None:
    path = POLLS["catalog"]
    app.get(path)
    stale = app.get(path, headers={"if-none-match": '"0000"'})
    assert stale.status_code == 200
    assert app.answered("fast", "catalog", 200) == 1


# What each bad request must answer, with `If-None-Match` naming the snapshot, so that a
# path skipping a check would answer 304 where the rule says 4xx.
BAD = [
    ("/model/get-compatible-models?engine=litellm&limit=101", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&limit=0", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&limit=1_0", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&limit=%2B3", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&limit=%203", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&limit=%D9%A3", 422, "limit"),
    ("/model/get-compatible-models?engine=litellm&page=0", 422, "page"),
    ("/model/get-compatible-models?engine=litellm&page=1000001", 422, "page"),
    ("/model/get-compatible-models?engine=litellm&page=1&page=2", 422, "page"),
    ("/model/get-compatible-models?engine=litellm&page=", 422, "page"),
    ("/model/get-compatible-models?engine=", 422, "engine"),
    ("/model/get-compatible-models?engine_version=1.70.4", 422, "engine_version"),
    ("/model/get-compatible-models?engine=nope", 404, None),
    ("/model/get-compatible-models?engine=litellm&engine_version=0.0.0", 404, None),
    (f"/v1/engines/litellm/versions/{V}/changes", 422, "since"),
    (f"/v1/engines/litellm/versions/{V}/changes?since=-1", 422, "since"),
    (f"/v1/engines/litellm/versions/{V}/changes?since=1e3", 422, "since"),
    (f"/v1/engines/litellm/versions/{V}/changes?since=4611686018427387905", 422, "since"),
    (f"/v1/engines/litellm/versions/{V}/changes?since=999999999", 410, None),
    ("/v1/engines/litellm/versions/0.0.0/catalog", 404, None),
    ("/v1/engines/nope/versions/latest/catalog", 404, None),
    ("/v1/engines/nope/versions/latest/model_prices_and_context_window.json", 404, None),
    ("/v1/engines/litellm/versions//catalog", 404, None),  # no version is not `latest`
    ("/v1/engines//versions/latest/catalog", 404, None),
    ("/v1/engines/litellm/versions//changes?since=0", 404, None),
]


@pytest.mark.parametrize(("path", "status", "parameter"), BAD)
def test_a_bad_request_gets_the_same_problem_on_both_paths(
    app: InProcess, routes_only: InProcess, path: str, status: int, parameter: str | None
) -> None:
    etag = app.get(POLLS["catalog"]).headers["etag"]  # a view and bodies in memory
    app.get(POLLS["compat"])
    for client in (app, routes_only):
        for headers in ({}, {"if-none-match": etag}, {"if-none-match": "*"}):
            response = client.get(path, headers=headers)
            assert response.status_code == status, (path, headers)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == status
            assert problem["type"].startswith("urn:budconnect:problem:")
            if parameter is not None:
                assert problem["type"] == "urn:budconnect:problem:invalid-parameters"
                assert parameter in [e["parameter"] for e in problem["errors"]]
    assert sum(n for (path_, _, _), n in app.polls.answered.items() if path_ == "fast") == 0


@pytest.mark.parametrize("name", list(POLLS))
def test_repeated_header_lines_are_one_list_on_both_paths(
    app: InProcess, routes_only: InProcess, name: str
) -> None:
    """RFC 9110 5.3: two `If-None-Match` (or `Accept-Encoding`) lines mean their values
    joined by a comma, whichever line comes first and whichever path answers."""
    etag = app.get(POLLS[name]).headers["etag"]
    app.get(POLLS[name])  # now in memory: the fast path answers what follows
    for client in (app, routes_only):
        for lines in ([("if-none-match", '"zzz"'), ("if-none-match", etag)],
                      [("if-none-match", etag), ("if-none-match", '"zzz"')]):  # fmt: skip
            assert client.get(POLLS[name], headers=lines).status_code == 304, (client, lines)
        for lines in ([("accept-encoding", "identity"), ("accept-encoding", "gzip")],
                      [("accept-encoding", "gzip"), ("accept-encoding", "identity")]):  # fmt: skip
            answer = client.get(POLLS[name], headers=lines)
            assert answer.headers.get("content-encoding") == "gzip", (client, lines)
    assert app.answered("fast", name.removesuffix("-all"), 304) == 2


def test_clients_configured_with_engine_tensorzero_get_what_clients_without_engine_get(
    app: InProcess, routes_only: InProcess
) -> None:
    """BudServe's Helm chart sends `engine=tensorzero` (its gateway, not an engine of the
    registry); those deployments must sync like the ones that send no engine."""
    everything = app.get("/model/get-compatible-models?page=2&limit=5")
    assert everything.status_code == 200
    for client in (app, routes_only):
        for _ in range(2):  # built by the route, then answered from memory
            answer = client.get("/model/get-compatible-models?engine=tensorzero&page=2&limit=5")
            assert answer.status_code == 200
            assert answer.content == everything.content
            assert answer.headers["etag"] == everything.headers["etag"]
    assert app.answered("fast", "compat", 200) == 2
    # Only as a client's word for "everything": with a version, it names an unknown engine.
    pinned = app.get("/model/get-compatible-models?engine=tensorzero&engine_version=1.70.4")
    assert pinned.status_code == 404
    assert pinned.json()["known_engines"] == ["litellm"]


def test_every_distinct_request_gets_its_own_body(app: InProcess) -> None:
    """Each cache key must tell apart what its URL tells apart."""
    base = "/model/get-compatible-models?engine=litellm"
    bodies = {}
    for _ in range(2):  # once built by the routes, once from the cache
        for page, limit in ((1, 5), (1, 6), (2, 5)):
            body = app.get(f"{base}&engine_version={V}&page={page}&limit={limit}").json()
            assert (body["page"], body["limit"], len(body["items"])) == (page, limit, limit)
            bodies.setdefault((page, limit), body)
            assert body == bodies[page, limit]
        for version in (V, VERSIONS[0]):
            assert app.get(f"{base}&engine_version={version}").json()["engine_version"] == version
        catalog = app.get(POLLS["catalog"]).json()
        assert catalog["object"] == "catalog"
        litellm_map = app.get(POLLS["litellm-map"]).json()
        assert "object" not in litellm_map
        assert set(litellm_map) >= {m["uri"] for p in catalog["providers"] for m in p["models"]}
        whole = app.get(POLLS["changes"]).json()
        later = app.get(POLLS["changes"].replace("since=0", f"since={whole['revision']}")).json()
        assert (whole["since"], later["since"]) == (0, whole["revision"])
        assert len(whole["models"]["upserted"]) == catalog["model_count"]
        assert later["models"]["upserted"] == []


def test_each_representation_has_its_own_strong_validator(app: InProcess) -> None:
    for path in (POLLS["catalog"], POLLS["compat"], POLLS["litellm-map"]):
        plain = app.get(path, headers={"accept-encoding": "identity"})
        zipped = app.get(path, headers={"accept-encoding": "gzip"})
        assert plain.headers["etag"] != zipped.headers["etag"]
        assert not zipped.headers["etag"].startswith("W/")
        assert zipped.headers["content-encoding"] == "gzip"
        assert plain.content == zipped.content  # httpx decoded it
        for etag in (plain.headers["etag"], zipped.headers["etag"]):
            for encoding in ("identity", "gzip"):
                answer = app.get(path, headers={"if-none-match": etag, "accept-encoding": encoding})
                assert answer.status_code == 304
                expected = plain if encoding == "identity" else zipped
                assert answer.headers["etag"] == expected.headers["etag"]


def test_concurrent_identical_change_requests_build_one_body(app: InProcess) -> None:
    built = []
    build_or_get = app.polls.cache.get_or_build

    def counting(key, build, **kwargs):  # type: ignore[no-untyped-def]
        def counted():  # type: ignore[no-untyped-def]
            built.append(key)
            return build()

        return build_or_get(key, counted, **kwargs)

    app.polls.cache.get_or_build = counting  # type: ignore[method-assign]
    responses = app.get_concurrently([POLLS["changes"]] * 8)
    assert [r.status_code for r in responses] == [200] * 8
    assert len(built) == 1
    assert len({r.content for r in responses}) == 1


def test_a_large_body_takes_turns_with_other_clients_polls(app: InProcess) -> None:
    """A client pulling a multi-megabyte body does not hold the worker until it is all sent:
    the fast path sends it in pieces and answers other connections between two pieces (the
    flood of `bench/serve.py`)."""
    catalog = app.get(POLLS["catalog"])  # built: from now on the fast path answers
    assert len(catalog.content) > 4 * 64 * 1024
    events: list[tuple[str, dict[str, Any]]] = []

    async def request(name: str, headers: list[tuple[bytes, bytes]]) -> None:
        path = POLLS["catalog"]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 40000), "server": ("budconnect.test", 80),
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            events.append((name, message))

        await app.app(scope, receive, send)

    async def both() -> None:
        await asyncio.gather(
            request("pull", [(b"accept-encoding", b"identity")]),
            request("poll", [(b"if-none-match", catalog.headers["etag"].encode())]),
        )

    app.run(both())
    order = [name for name, _ in events]
    assert (order[0], order[-1]) == ("pull", "pull")
    assert "poll" in order[1:-1]  # the 304 went out while the body was still being sent
    poll = [message for name, message in events if name == "poll"]
    assert poll[0]["status"] == 304
    pieces = [m.get("body", b"") for name, m in events if name == "pull"][1:]
    assert len(pieces) > 4
    assert b"".join(pieces) == catalog.content
    assert app.answered("fast", "catalog", 304) == 1
