"""Alias rows (`"key": {"alias_of": "other key"}`), as the newest LiteLLM model maps carry them.

LiteLLM's own loader serves an alias key as a model with the data of the key it names; so
does BudConnect, keeping the alias row itself as the model's source entry.
"""

from __future__ import annotations

import json
from typing import Any

from budconnect.domain.records import ParsedCatalog
from budconnect.seeders.litellm import parse

GPT = {
    "litellm_provider": "openai",
    "mode": "chat",
    "max_input_tokens": 128000,
    "input_cost_per_token": 2.5e-06,
    "output_cost_per_token": 1e-05,
    "supports_vision": True,
}


def parse_json(document: dict[str, Any]) -> ParsedCatalog:
    return parse(json.dumps(document).encode())


def models(catalog: ParsedCatalog) -> dict[str, Any]:
    return {m.key: m for m in catalog.models}


def reasons(catalog: ParsedCatalog, key: str) -> list[tuple[str, str]]:
    return [(i.action, i.reason) for i in catalog.issues if i.key == key]


def test_an_alias_is_a_model_with_the_data_of_its_target_and_its_own_row() -> None:
    catalog = parse_json(
        {"gpt-4o-2024-11-20": GPT, "gpt-4o-latest": {"alias_of": "gpt-4o-2024-11-20"}}
    )
    target, alias = models(catalog)["gpt-4o-2024-11-20"], models(catalog)["gpt-4o-latest"]
    assert alias.alias_of == "gpt-4o-2024-11-20"
    assert alias.source_entry == {"alias_of": "gpt-4o-2024-11-20"}
    assert target.alias_of is None
    assert alias.provider_key == "openai"
    for field in (
        "mode",
        "modality",
        "endpoints",
        "input_cost",
        "output_cost",
        "tokens",
        "features",
    ):
        assert getattr(alias, field) == getattr(target, field), field
    assert reasons(catalog, "gpt-4o-latest") == []  # a well-formed alias is no issue
    assert catalog.extras == {}


def test_a_chain_of_aliases_resolves_to_the_model_at_its_end() -> None:
    catalog = parse_json(
        {
            "a/latest": {"alias_of": "a/stable"},
            "a/stable": {"alias_of": "a/2025-06"},
            "a/2025-06": GPT,
        }
    )
    served = models(catalog)
    assert served["a/latest"].alias_of == "a/stable"
    assert served["a/stable"].alias_of == "a/2025-06"
    assert (
        served["a/latest"].input_cost
        == served["a/2025-06"].input_cost
        == {"input_cost_per_token": 2.5e-06}
    )
    assert served["a/latest"].source_entry == {"alias_of": "a/stable"}


def test_an_alias_to_a_missing_key_is_reported_and_kept_for_the_map() -> None:
    catalog = parse_json({"m": GPT, "m-latest": {"alias_of": "m-gone"}})
    assert set(models(catalog)) == {"m"}
    [(action, reason)] = reasons(catalog, "m-latest")
    assert action == "skipped"
    assert "'m-gone'" in reason
    assert "no model" in reason
    assert catalog.extras == {"m-latest": {"alias_of": "m-gone"}}


def test_a_cycle_of_aliases_is_reported_not_followed_forever() -> None:
    catalog = parse_json(
        {"m": GPT, "x": {"alias_of": "y"}, "y": {"alias_of": "z"}, "z": {"alias_of": "x"}}
    )
    assert set(models(catalog)) == {"m"}
    for key in ("x", "y", "z"):
        [(action, reason)] = reasons(catalog, key)
        assert action == "skipped"
        assert "cycle" in reason
    assert set(catalog.extras) == {"x", "y", "z"}


def test_an_alias_that_shadows_a_real_key_wins_when_it_comes_last() -> None:
    model = json.dumps(GPT)
    shadowed = f'{{"m": {model}, "m-2": {model}, "m": {{"alias_of": "m-2"}}}}'.encode()
    catalog = parse(shadowed)
    assert models(catalog)["m"].alias_of == "m-2"
    assert models(catalog)["m"].source_entry == {"alias_of": "m-2"}
    assert any("2 times" in reason for _, reason in reasons(catalog, "m"))

    unshadowed = f'{{"m": {{"alias_of": "m-2"}}, "m-2": {model}, "m": {model}}}'.encode()
    assert models(parse(unshadowed))["m"].alias_of is None


def test_an_alias_row_with_other_fields_takes_its_target_s_and_says_so() -> None:
    catalog = parse_json({"m": GPT, "m-latest": {"alias_of": "m", "mode": "embedding"}})
    alias = models(catalog)["m-latest"]
    assert alias.mode == "chat"
    assert alias.source_entry == {"alias_of": "m", "mode": "embedding"}
    [(action, reason)] = reasons(catalog, "m-latest")
    assert action == "repaired"
    assert "mode" in reason


def test_an_alias_of_something_that_is_not_a_key_is_reported() -> None:
    catalog = parse_json({"m": GPT, "bad": {"alias_of": ["m"]}})
    assert set(models(catalog)) == {"m"}
    assert reasons(catalog, "bad")[0][0] == "skipped"
    assert catalog.extras == {"bad": {"alias_of": ["m"]}}


def test_top_level_entries_that_are_not_models_are_kept_as_extras() -> None:
    document = {
        "sample_spec": {"litellm_provider": "one of the providers", "mode": "one of: chat"},
        "fallback_generalizations": {"rules": [{"name": "r", "pattern": "^x"}]},
        "a_number": 3,
        "m": GPT,
    }
    catalog = parse_json(document)
    assert set(models(catalog)) == {"m"}
    assert catalog.extras == {k: v for k, v in document.items() if k != "m"}
