"""`GET /model/get-compatible-models` against the real server process, on both backends."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from budconnect import __version__
from tests.conftest import VERSIONS, Server, same_json, source_models

MODEL_KEYS = {
    "id",
    "uri",
    "alias_of",
    "mode",
    "modality",
    "provider_id",
    "input_cost",
    "output_cost",
    "cache_cost",
    "search_context_cost_per_query",
    "tokens",
    "rate_limits",
    "media_limits",
    "features",
    "endpoints",
    "deprecation_date",
    "source_entry",
}
PROVIDER_KEYS = {
    "id",
    "name",
    "provider_type",
    "icon",
    "description",
    "capabilities",
    "credentials",
    "models",
}


def fetch_all(server: Server, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Page 1, then every page up to total_pages; returns page 1 and all items joined."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        first = client.get("/model/get-compatible-models", params={**params, "page": 1})
        assert first.status_code == 200, first.text
        body = first.json()
        items = list(body["items"])
        for page in range(2, body["total_pages"] + 1):
            response = client.get("/model/get-compatible-models", params={**params, "page": page})
            assert response.status_code == 200
            items += response.json()["items"]
    return body, items


@pytest.mark.parametrize("version", VERSIONS)
def test_every_source_model_round_trips_with_its_provider_and_entry(
    seeded_server: Server, version: str
) -> None:
    first, items = fetch_all(seeded_server, engine="litellm", engine_version=version, limit=100)
    expected = source_models(version)

    assert first["object"] == "model.compatible"
    assert first["engine_name"] == "litellm"
    assert first["engine_version"] == version
    assert (
        first["total_items"]
        == len(items)
        == len({e["litellm_provider"] for e in expected.values()})
    )
    assert first["total_pages"] == math.ceil(first["total_items"] / 100)

    served = {}
    for item in items:
        assert set(item) == PROVIDER_KEYS
        for model in item["models"]:
            assert set(model) == MODEL_KEYS
            assert model["provider_id"] == item["id"]
            served[model["uri"]] = (item["provider_type"], model["source_entry"])
    assert same_json(served, {key: (e["litellm_provider"], e) for key, e in expected.items()})


def test_providers_are_ordered_by_key_and_models_by_key(seeded_server: Server) -> None:
    _, items = fetch_all(seeded_server, engine="litellm", engine_version="1.100.5", limit=7)
    keys = [item["provider_type"] for item in items]
    assert keys == sorted(keys)
    for item in items:
        uris = [m["uri"] for m in item["models"]]
        assert uris == sorted(uris)


def test_engine_version_omitted_means_the_newest(seeded_server: Server) -> None:
    response = httpx.get(
        f"{seeded_server.base_url}/model/get-compatible-models", params={"engine": "litellm"}
    )
    body = response.json()
    assert body["engine_version"] == "1.100.5"
    assert body["limit"] == 5
    assert len(body["items"]) == 5


def test_a_page_past_the_end_is_empty_not_an_error(seeded_server: Server) -> None:
    response = httpx.get(
        f"{seeded_server.base_url}/model/get-compatible-models",
        params={"engine": "litellm", "engine_version": "1.14.4", "page": 99},
    )
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"engine": "nope"}, 404, "known engines: litellm"),
        ({"engine": "litellm", "engine_version": "0.0.1"}, 404, "1.100.5, 1.80.17"),
        ({"engine": "litellm", "page": 0}, 422, "page"),
        ({"engine": "litellm", "page": -3}, 422, "page"),
        ({"engine": "litellm", "page": "two"}, 422, "page"),
        ({"engine": "litellm", "limit": 0}, 422, "limit"),
        ({"engine": "litellm", "limit": 101}, 422, "between 1 and 100"),
        ({"engine": "litellm", "limit": "1e9"}, 422, "limit"),
        ({"engine": "litellm", "page": "99999999999999999999999"}, 422, "page"),
        ({"engine_version": "1.14.4"}, 422, "engine_version: needs engine"),
    ],
)
def test_bad_requests_get_problem_details_naming_the_problem(
    seeded_server: Server, params: dict[str, Any], status: int, needle: str
) -> None:
    response = httpx.get(f"{seeded_server.base_url}/model/get-compatible-models", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert needle in body["detail"]


def test_unknown_engine_and_version_list_what_exists(seeded_server: Server) -> None:
    base = f"{seeded_server.base_url}/model/get-compatible-models"
    engine = httpx.get(base, params={"engine": "vllm"}).json()
    assert engine["known_engines"] == ["litellm"]
    version = httpx.get(base, params={"engine": "litellm", "engine_version": "1.0"}).json()
    assert version["available_versions"] == list(reversed(VERSIONS))


def test_engines_and_versions_are_listed(seeded_server: Server) -> None:
    engines = httpx.get(f"{seeded_server.base_url}/engines").json()["items"]
    assert [(e["key"], e["latest_version"], e["version_count"]) for e in engines] == [
        ("litellm", "1.100.5", len(VERSIONS))
    ]
    assert httpx.get(f"{seeded_server.base_url}/v1/engines").json()["items"] == engines
    assert httpx.get(f"{seeded_server.base_url}/v1/engines/litellm").json() == engines[0]
    unknown = httpx.get(f"{seeded_server.base_url}/v1/engines/nope")
    assert unknown.status_code == 404
    assert unknown.json()["known_engines"] == ["litellm"]
    versions = httpx.get(f"{seeded_server.base_url}/engines/litellm/versions").json()["items"]
    assert [v["version"] for v in versions] == list(reversed(VERSIONS))
    assert [v["latest"] for v in versions] == [True] + [False] * (len(VERSIONS) - 1)
    assert {v["version"]: v["model_count"] for v in versions} == {
        v: len(source_models(v)) for v in VERSIONS
    }
    listings = ("/engines", "/v1/engines", "/v1/engines/litellm", "/engines/litellm/versions",
                "/v1/engines/litellm/versions", "/v1/engines/litellm/versions/latest")  # fmt: skip
    for path in listings:
        odd = httpx.get(f"{seeded_server.base_url}{path}", params={"limit": 2})
        assert odd.status_code == 422, path
        assert "limit" in odd.json()["detail"]
    missing = httpx.get(f"{seeded_server.base_url}/engines/nope/versions")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_health_and_readiness(seeded_server: Server) -> None:
    assert httpx.get(f"{seeded_server.base_url}/healthz").json() == {
        "status": "ok",
        "version": __version__,
    }
    assert httpx.get(f"{seeded_server.base_url}/readyz").json() == {
        "status": "ready",
        "version": __version__,
    }


def test_unknown_routes_are_problem_details_too(seeded_server: Server) -> None:
    response = httpx.get(f"{seeded_server.base_url}/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_latest_without_an_engine_is_the_newest_of_every_engine(seeded_server: Server) -> None:
    base = f"{seeded_server.base_url}/model/get-compatible-models"
    for page in (1, 2):
        omitted = httpx.get(base, params={"page": page})
        latest = httpx.get(base, params={"page": page, "engine_version": "latest"})
        assert (latest.status_code, latest.content) == (200, omitted.content)
        assert latest.headers["etag"] == omitted.headers["etag"]
