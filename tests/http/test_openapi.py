"""The OpenAPI document describes what the server answers, errors included."""

from __future__ import annotations

import httpx

from tests.conftest import Server


def test_every_error_is_documented_as_a_problem_and_every_operation_once(
    seeded_server: Server,
) -> None:
    spec = httpx.get(f"{seeded_server.base_url}/openapi.json").json()
    operation_ids = []
    for path, operations in spec["paths"].items():
        assert "head" not in operations, path  # HEAD is served but not listed twice
        assert len(operations) == 1, path  # one operation per path: reads GET, writes PUT/POST
        for operation in operations.values():
            operation_ids.append(operation["operationId"])
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        path,
                        status,
                    )
    writes = {p: set(o) for p, o in spec["paths"].items() if set(o) != {"get"}}
    assert writes == {
        "/v1/engines/{engine}/versions/{version}/source": {"put"},
        "/v1/engines/{engine}/versions/{version}/yank": {"post"},
        "/v1/engines/{engine}/versions/{version}/unyank": {"post"},
    }
    assert len(operation_ids) == len(set(operation_ids))
    compat = spec["paths"]["/model/get-compatible-models"]["get"]["responses"]
    assert {"404", "422", "503"} <= set(compat)
    assert (
        "410"
        in spec["paths"]["/v1/engines/{engine}/versions/{version}/changes"]["get"]["responses"]
    )


def test_an_answered_error_matches_its_documented_shape(seeded_server: Server) -> None:
    spec = httpx.get(f"{seeded_server.base_url}/openapi.json").json()
    documented = spec["paths"]["/model/get-compatible-models"]["get"]["responses"]["422"]
    required = documented["content"]["application/problem+json"]["schema"]["required"]
    answer = httpx.get(f"{seeded_server.base_url}/model/get-compatible-models?page=0")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert set(required) <= set(answer.json())


def test_the_query_parameters_a_route_takes_are_the_ones_it_documents(
    seeded_server: Server,
) -> None:
    """Asked with a parameter it does not know, a route names those it knows: they are the
    ones its OpenAPI entry lists (a `supports_*` flag stands for every flag)."""
    spec = httpx.get(f"{seeded_server.base_url}/openapi.json").json()
    version = httpx.get(f"{seeded_server.base_url}/v1/engines/litellm").json()["latest_version"]
    routes = {
        "/v1/engines/{engine}/versions/{version}/models": "models",
        "/v1/engines/{engine}/versions/{version}/providers": "providers",
        "/v1/engines/{engine}/versions/{version}/models/{key}": "models/gpt-4o",
        "/v1/engines/{engine}/models/{key}/history": None,
    }
    for template, tail in routes.items():
        [operation] = spec["paths"][template].values()
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        path = (
            f"/v1/engines/litellm/versions/{version}/{tail}"
            if tail
            else "/v1/engines/litellm/models/gpt-4o/history"
        )
        answer = httpx.get(f"{seeded_server.base_url}{path}", params={"zzz": "1"})
        assert answer.status_code == 422, path
        [error] = answer.json()["errors"]
        known = error["message"].split("known: ", 1)[1].removesuffix(" and supports_* flags")
        taken = set(known.split(", "))
        if "supports_*" in error["message"]:
            documented = {name for name in documented if not name.startswith("supports_")}
        assert taken == documented, (template, taken ^ documented)
