"""Applying a change-feed answer to a local catalog, as the sync client does."""

from __future__ import annotations

import copy
from typing import Any

from budconnect.sync.client import apply_changes, count_changes


def model(mid: str, uri: str, pid: str, price: float = 1.0) -> dict[str, Any]:
    return {"id": mid, "uri": uri, "provider_id": pid, "input_cost": price}


def provider(pid: str, key: str, *models: dict[str, Any]) -> dict[str, Any]:
    return {"id": pid, "provider_type": key, "name": key.title(), "models": list(models)}


LOCAL = {
    "engine": "litellm", "engine_version": "1", "digest": "d0", "revision": 3,
    "providers": [
        provider("p1", "alpha", model("m1", "a/one", "p1"), model("m2", "a/two", "p1")),
        provider("p2", "beta", model("m3", "b/one", "p2")),
    ],
}  # fmt: skip


def delta(**parts: Any) -> dict[str, Any]:
    return {
        "digest": "d1",
        "revision": 9,
        "providers": {"removed": parts.get("providers_removed", []),
                      "upserted": parts.get("providers_upserted", [])},
        "models": {"removed": parts.get("models_removed", []),
                   "upserted": parts.get("models_upserted", [])},
        "extras": parts.get("extras", {}),
    }  # fmt: skip


def test_removals_then_upserts_give_the_new_catalog_in_order() -> None:
    before = copy.deepcopy(LOCAL)
    result = apply_changes(
        LOCAL,
        delta(
            models_removed=[{"id": "m2", "uri": "a/two"}],
            providers_removed=[{"id": "p2", "provider_type": "beta"}],
            providers_upserted=[{"id": "p0", "provider_type": "aardvark", "name": "A"}],
            models_upserted=[model("m9", "z/new", "p0"), model("m1", "a/one", "p1", 2.0)],
        ),
    )
    assert before == LOCAL  # the local copy is never modified in place
    assert [p["provider_type"] for p in result["providers"]] == ["aardvark", "alpha"]
    assert result["providers"][0]["models"] == [model("m9", "z/new", "p0")]
    assert result["providers"][1]["models"] == [model("m1", "a/one", "p1", 2.0)]
    assert (result["digest"], result["revision"], result["model_count"]) == ("d1", 9, 2)
    assert count_changes(LOCAL, result) == (1, 2, 1)


def test_a_model_can_move_to_another_provider() -> None:
    result = apply_changes(LOCAL, delta(models_upserted=[model("m3", "b/one", "p1")]))
    alpha, beta = result["providers"]
    assert [m["uri"] for m in alpha["models"]] == ["a/one", "a/two", "b/one"]
    assert beta["models"] == []


def test_a_provider_update_keeps_its_models() -> None:
    result = apply_changes(
        LOCAL, delta(providers_upserted=[{"id": "p2", "provider_type": "beta", "name": "New"}])
    )
    assert result["providers"][1]["name"] == "New"
    assert [m["id"] for m in result["providers"][1]["models"]] == ["m3"]


def test_extras_are_replaced_whole() -> None:
    local = {**LOCAL, "extras": {"sample_spec": {"a": 1}, "gone": 1}}
    result = apply_changes(local, delta(extras={"sample_spec": {"a": 2}}))
    assert result["extras"] == {"sample_spec": {"a": 2}}
