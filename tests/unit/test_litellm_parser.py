"""The LiteLLM parser keeps every model it can and says what it skipped or repaired, and why."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budconnect.domain.records import ParsedCatalog
from budconnect.errors import InvalidSourceFile
from budconnect.seeders.litellm import ENDPOINTS, MODALITIES, parse
from budconnect.seeders.metadata import ProviderDirectory
from tests.conftest import VERSIONS, same_json, source_bytes, source_models


def parse_json(document: Any) -> ParsedCatalog:
    return parse(json.dumps(document).encode())


def only_model(catalog: ParsedCatalog) -> Any:
    assert len(catalog.models) == 1
    return catalog.models[0]


def issue_reasons(catalog: ParsedCatalog, key: str) -> str:
    return " | ".join(i.reason for i in catalog.issues if i.key == key)


# --- whole files ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_model_of_every_bundled_file_is_kept_verbatim(version: str) -> None:
    expected = source_models(version)
    catalog = parse(source_bytes(version))
    assert same_json({m.key: m.source_entry for m in catalog.models}, expected)
    assert {m.key: m.provider_key for m in catalog.models} == {
        k: v["litellm_provider"] for k, v in expected.items()
    }
    assert [p.key for p in catalog.providers] == sorted(
        {v["litellm_provider"] for v in expected.values()}
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_refused_with_a_reason(
    raw: bytes, message: str
) -> None:
    with pytest.raises(InvalidSourceFile, match=message):
        parse(raw)


def test_an_invalid_json_file_names_the_line_and_column() -> None:
    with pytest.raises(InvalidSourceFile, match="line 2 column"):
        parse(b'{"a": {"litellm_provider": "x"},\n  oops}')


# --- entries that are not models -----------------------------------------------------------


def test_documentation_and_metadata_entries_are_skipped_with_a_reason() -> None:
    catalog = parse_json(
        {
            "sample_spec": {"litellm_provider": "one of https://docs", "mode": "one of: chat"},
            "fallback_generalizations": {"rules": [{"name": "x"}]},
            "a-list": [1, 2],
            "a-number": 3,
            "gpt-x": {"litellm_provider": "openai", "mode": "chat"},
        }
    )
    assert [m.key for m in catalog.models] == ["gpt-x"]
    assert {i.key for i in catalog.skipped} == {
        "sample_spec",
        "fallback_generalizations",
        "a-list",
        "a-number",
    }
    assert "documentation" in issue_reasons(catalog, "sample_spec")
    assert "litellm_provider" in issue_reasons(catalog, "fallback_generalizations")
    assert "an array" in issue_reasons(catalog, "a-list")


def test_a_provider_value_that_is_not_a_key_skips_the_entry() -> None:
    catalog = parse_json(
        {
            "a": {"litellm_provider": 7},
            "b": {"litellm_provider": "has space"},
            "c": {"litellm_provider": "ok"},
        }
    )
    assert [m.key for m in catalog.models] == ["c"]
    assert {i.key for i in catalog.skipped} == {"a", "b"}


def test_the_provider_is_the_litellm_provider_field_not_the_key_prefix() -> None:
    model = only_model(parse_json({"openai/gpt-4o": {"litellm_provider": "azure"}}))
    assert model.provider_key == "azure"


def test_model_keys_are_case_sensitive() -> None:
    catalog = parse_json(
        {
            "together_ai/baai/bge": {"litellm_provider": "together_ai", "max_input_tokens": 1},
            "together_ai/BAAI/bge": {"litellm_provider": "together_ai", "max_input_tokens": 2},
        }
    )
    assert {m.key: m.source_entry["max_input_tokens"] for m in catalog.models} == {
        "together_ai/BAAI/bge": 2,
        "together_ai/baai/bge": 1,
    }


# --- repairs -------------------------------------------------------------------------------


def test_a_key_twice_in_the_raw_text_keeps_the_last_occurrence_and_says_so() -> None:
    raw = (
        b'{"m": {"litellm_provider": "p", "max_tokens": 1},'
        b' "m": {"litellm_provider": "p", "max_tokens": 2}}'
    )
    catalog = parse(raw)
    assert only_model(catalog).tokens == {"max_tokens": 2}
    assert "2 times" in issue_reasons(catalog, "m")


def test_a_field_twice_inside_an_entry_is_reported() -> None:
    catalog = parse(b'{"m": {"litellm_provider": "p", "mode": "chat", "mode": "embedding"}}')
    assert only_model(catalog).mode == "embedding"
    assert "mode" in issue_reasons(catalog, "m")


def test_a_pointer_entry_is_served_with_the_entry_it_names() -> None:
    catalog = parse_json(
        {
            "alias": "target",
            "alias-of-alias": "alias",
            "dangling": "nowhere",
            "loop-a": "loop-b",
            "loop-b": "loop-a",
            "target": {"litellm_provider": "p", "mode": "chat"},
        }
    )
    entries = {m.key: m.source_entry for m in catalog.models}
    assert entries == {
        "alias": {"litellm_provider": "p", "mode": "chat"},
        "alias-of-alias": {"litellm_provider": "p", "mode": "chat"},
        "target": {"litellm_provider": "p", "mode": "chat"},
    }
    assert "pointer to 'target'" in issue_reasons(catalog, "alias")
    assert {i.key for i in catalog.skipped} == {"dangling", "loop-a", "loop-b"}


def test_pointer_keys_are_held_to_the_rules_of_model_keys() -> None:
    catalog = parse(
        b'{"target": {"litellm_provider": "p"}, "\\ud800x": "target", "nul\\u0000": "target",'
        b' "": "target", "' + b"k" * 600 + b'": "target", "fine": "target"}'
    )
    assert sorted(m.key for m in catalog.models) == ["fine", "target"]
    assert len(catalog.skipped) == 4
    assert all("model key" in i.reason for i in catalog.skipped)


def test_a_mode_no_database_stores_alike_is_ignored_and_reported() -> None:
    catalog = parse(b'{"m": {"litellm_provider": "p", "mode": "chat\\u0000"}}')
    assert only_model(catalog).mode is None
    assert "mode contains control characters" in issue_reasons(catalog, "m")


def test_fields_repeated_at_any_depth_are_reported_with_their_path() -> None:
    catalog = parse(
        b'{"m": {"litellm_provider": "p", "x": {"b": 1, "b": 2, "l": [{"c": 1, "c": 2}]}}}'
    )
    assert only_model(catalog).source_entry["x"]["b"] == 2
    assert "x.b, x.l[0].c" in issue_reasons(catalog, "m")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_mode_in_the_bundled_files_maps_to_modalities(version: str) -> None:
    for model in parse(source_bytes(version)).models:
        if model.mode is not None:
            assert model.modality, f"{model.key}: mode {model.mode!r} maps to nothing"


def test_numbers_may_be_ints_floats_or_numeric_strings() -> None:
    model = only_model(
        parse_json(
            {
                "m": {
                    "litellm_provider": "p",
                    "max_input_tokens": 2000000.0,
                    "max_output_tokens": "8192",
                    "max_tokens": 4096,
                    "input_cost_per_token": 0,
                    "output_cost_per_token": "1e-06",
                    "rpm": 10.0,
                }
            }
        )
    )
    assert model.tokens == {
        "max_input_tokens": 2000000,
        "max_output_tokens": 8192,
        "max_tokens": 4096,
    }
    assert isinstance(model.tokens["max_input_tokens"], int)
    assert model.input_cost == {"input_cost_per_token": 0}
    assert model.output_cost == {"output_cost_per_token": 1e-06}
    assert model.rate_limits == {"rpm": 10}


def test_values_that_are_not_numbers_are_dropped_from_buckets_and_reported() -> None:
    catalog = parse_json(
        {
            "m": {
                "litellm_provider": "p",
                "max_tokens": "LEGACY parameter",
                "input_cost_per_token": [1],
                "supports_vision": "yes",
            }
        }
    )
    model = only_model(catalog)
    assert model.tokens is None
    assert model.input_cost is None
    assert model.features is None
    reasons = issue_reasons(catalog, "m")
    assert "max_tokens" in reasons
    assert "input_cost_per_token" in reasons
    assert "supports_vision" in reasons
    # The source entry is never altered by a repair.
    assert model.source_entry["max_tokens"] == "LEGACY parameter"


def test_token_limits_beyond_32_bits_are_capped_in_the_tokens_bucket_only() -> None:
    catalog = parse_json({"m": {"litellm_provider": "p", "max_input_tokens": 2**40}})
    model = only_model(catalog)
    assert model.tokens == {"max_input_tokens": 2**31 - 1}
    assert model.source_entry["max_input_tokens"] == 2**40
    assert "capped" in issue_reasons(catalog, "m")


def test_dates_that_are_not_zero_padded_are_read_and_reported() -> None:
    catalog = parse_json(
        {
            "a": {"litellm_provider": "p", "deprecation_date": "2025-1-6"},
            "b": {"litellm_provider": "p", "deprecation_date": "2025-06-30"},
            "c": {"litellm_provider": "p", "deprecation_date": "date when the model..."},
            "d": {"litellm_provider": "p", "deprecation_date": "2025-02-30"},
        }
    )
    dates = {m.key: m.deprecation_date for m in catalog.models}
    assert dates == {"a": dt.date(2025, 1, 6), "b": dt.date(2025, 6, 30), "c": None, "d": None}
    assert {i.key for i in catalog.repaired} == {"a", "c", "d"}


def test_nan_and_infinity_are_read_as_null_and_reported() -> None:
    catalog = parse(
        b'{"m": {"litellm_provider": "p", "input_cost_per_token": NaN, "x": [Infinity]}}'
    )
    model = only_model(catalog)
    assert model.input_cost is None
    assert model.source_entry == {
        "litellm_provider": "p",
        "input_cost_per_token": None,
        "x": [None],
    }
    assert "NaN" in issue_reasons(catalog, "m")


def test_unknown_fields_and_nested_values_are_preserved() -> None:
    entry = {
        "litellm_provider": "p",
        "tiered_pricing": [{"range": [0, 1.5e5]}],
        "metadata": {"notes": "x"},
        "brand_new_field": {"a": [1, {"b": None}]},
    }
    assert only_model(parse_json({"m": entry})).source_entry == entry


# --- derived fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "modality", "endpoints"),
    [
        ("chat", ["text_input", "text_output"], ["/v1/chat/completions"]),
        ("completion", ["text_input", "text_output"], ["/v1/chat/completions"]),
        ("embedding", ["text_input", "text_output"], ["/v1/embeddings"]),
        ("image_generation", ["text_input", "image_output"], ["/v1/images/generations"]),
        ("audio_transcription", ["text_output", "audio_input"], ["/v1/audio/transcriptions"]),
        ("audio_speech", ["text_input", "audio_output"], ["/v1/audio/speech"]),
        ("rerank", ["text_input", "text_output"], ["/v1/rerank"]),
        ("moderation", ["text_input", "text_output"], ["/v1/moderations"]),
        ("responses", ["text_input", "text_output"], ["/v1/responses"]),
        ("video_generation", ["text_input"], []),
        ("ocr", ["text_output", "image_input"], []),
        ("something-new", [], []),
        (None, [], []),
    ],
)
def test_mode_decides_modality_and_endpoints_when_the_entry_lists_none(
    mode: str | None, modality: list[str], endpoints: list[str]
) -> None:
    model = only_model(parse_json({"m": {"litellm_provider": "p", "mode": mode}}))
    assert model.modality == modality
    assert model.endpoints == endpoints


def test_listed_modalities_and_endpoints_win_over_the_mode() -> None:
    model = only_model(
        parse_json(
            {
                "m": {
                    "litellm_provider": "p",
                    "mode": "chat",
                    "supported_modalities": ["text", "image", "video"],
                    "supported_output_modalities": ["code", "audio"],
                    "supported_endpoints": [
                        "/v1/responses",
                        "/v1/completions",
                        "/v1/images/edits",
                        "/vertex_ai/live",
                        7,
                    ],
                }
            }
        )
    )
    assert model.modality == ["text_input", "text_output", "image_input", "audio_output"]
    assert model.endpoints == ["/v1/chat/completions", "/v1/responses"]


def test_capability_flags_add_modalities_and_fill_features() -> None:
    model = only_model(
        parse_json(
            {
                "m": {
                    "litellm_provider": "p",
                    "mode": "chat",
                    "supports_vision": True,
                    "supports_audio_output": True,
                    "supports_function_calling": False,
                }
            }
        )
    )
    assert model.modality == ["text_input", "text_output", "image_input", "audio_output"]
    assert model.features == {
        "supports_vision": True,
        "supports_audio_output": True,
        "supports_function_calling": False,
    }


def test_cost_and_limit_fields_land_in_their_buckets_under_their_own_names() -> None:
    entry = {
        "litellm_provider": "p",
        "input_cost_per_token": 1e-6,
        "input_cost_per_image": 0.01,
        "input_dbu_cost_per_token": 2e-6,
        "output_cost_per_token": 3e-6,
        "output_db_cost_per_token": 4e-6,
        "cache_read_input_token_cost": 5e-7,
        "cache_creation_input_audio_token_cost": 6e-7,
        "max_tokens": 10,
        "tool_use_system_prompt_tokens": 159,
        "max_images_per_prompt": 3000,
        "max_pdf_size_mb": 30,
        "tpm": 1000,
        "rpd": 50,
        "output_vector_size": 768,
        "search_context_cost_per_query": {
            "search_context_size_low": 0.01,
            "search_context_size_high": None,
        },
    }
    model = only_model(parse_json({"m": entry}))
    assert model.input_cost == {
        "input_cost_per_token": 1e-6,
        "input_cost_per_image": 0.01,
        "input_dbu_cost_per_token": 2e-6,
    }
    assert model.output_cost == {"output_cost_per_token": 3e-6, "output_db_cost_per_token": 4e-6}
    assert model.cache_cost == {
        "cache_read_input_token_cost": 5e-7,
        "cache_creation_input_audio_token_cost": 6e-7,
    }
    assert model.tokens == {"max_tokens": 10, "tool_use_system_prompt_tokens": 159}
    assert model.media_limits == {"max_images_per_prompt": 3000, "max_pdf_size_mb": 30}
    assert model.rate_limits == {"tpm": 1000, "rpd": 50}
    assert model.search_context_cost_per_query == {"search_context_size_low": 0.01}


# --- providers -----------------------------------------------------------------------------


def test_providers_come_from_metadata_and_unknown_ones_get_a_derived_name() -> None:
    directory = ProviderDirectory(
        {
            "openai": {
                "name": "OpenAI",
                "description": "d",
                "icon": "icons/providers/openai.png",
                "capabilities": ["model", "moderation"],
                "credentials": [],
            }
        }
    )
    catalog = parse(
        json.dumps(
            {"a": {"litellm_provider": "openai"}, "b": {"litellm_provider": "brand_new_ai"}}
        ).encode(),
        directory,
    )
    by_key = {p.key: p for p in catalog.providers}
    assert by_key["openai"].name == "OpenAI"
    assert by_key["openai"].capabilities == ["model", "moderation"]
    assert by_key["brand_new_ai"].name == "Brand New AI"
    assert by_key["brand_new_ai"].icon == "icons/providers/litellm_proxy.png"
    assert [c["field"] for c in by_key["brand_new_ai"].credentials] == ["api_key", "api_base"]


# --- robustness ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
field_names = st.sampled_from(
    [
        "litellm_provider",
        "mode",
        "max_tokens",
        "max_input_tokens",
        "input_cost_per_token",
        "supports_vision",
        "supported_endpoints",
        "supported_modalities",
        "deprecation_date",
        "search_context_cost_per_query",
        "rpm",
        "max_pdf_size_mb",
        "cache_read_input_token_cost",
    ]
) | st.text(max_size=12)
entries = st.dictionaries(field_names, json_values, max_size=8) | json_values


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=20), entries, max_size=6))
def test_no_object_makes_the_parser_fail_and_every_entry_is_accounted_for(
    document: dict[str, Any],
) -> None:
    catalog = parse(json.dumps(document).encode())
    kept = {m.key for m in catalog.models}
    skipped = {i.key for i in catalog.skipped}
    assert kept | skipped == set(document)
    assert not kept & skipped
    for model in catalog.models:
        assert set(model.modality) <= set(MODALITIES)
        assert set(model.endpoints) <= set(ENDPOINTS)
        for value in (model.tokens or {}).values():
            assert isinstance(value, int)
            assert not isinstance(value, bool)
            assert value <= 2**31 - 1


# --- against the previous release -----------------------------------------------------------


def reused_from(previous: ParsedCatalog, catalog: ParsedCatalog) -> set[str]:
    """Keys whose record `catalog` took from `previous` instead of parsing its entry again."""
    held = {id(record) for record in previous.models}
    return {model.key for model in catalog.models if id(model) in held}


def same_parse(left: ParsedCatalog, right: ParsedCatalog) -> None:
    assert left == right  # records (source entries included), issues, extras
    assert list(left.extras.items()) == list(right.extras.items())  # and the extras' order
    assert same_json([m.source_entry for m in left.models], [m.source_entry for m in right.models])


@pytest.mark.parametrize(("older", "newer"), list(itertools.pairwise(VERSIONS)))
def test_a_release_parsed_against_the_one_before_is_parsed_exactly_as_alone(
    older: str, newer: str
) -> None:
    previous = parse(source_bytes(older))
    catalog = parse(source_bytes(newer), previous=previous)
    same_parse(catalog, parse(source_bytes(newer)))
    # What was taken, not parsed again: entries equal in both files, that said nothing.
    before = {m.key: m for m in previous.models}
    reused = reused_from(previous, catalog)
    for model in catalog.models:
        if model.key in reused:
            assert same_json(model.source_entry, before[model.key].source_entry)
            assert not issue_reasons(previous, model.key)


def test_most_of_a_release_is_taken_from_the_one_before() -> None:
    # 1.100.5 shares 1,307 entries, byte for byte, with 1.80.17 (of 3,409).
    previous = parse(source_bytes("1.80.17"))
    catalog = parse(source_bytes("1.100.5"), previous=previous)
    assert len(reused_from(previous, catalog)) == 1307


def layout(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=4) + "\n").encode()


BASE: dict[str, Any] = {
    "sample_spec": {"litellm_provider": "one of the providers", "mode": "chat"},
    "openai/a": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06},
    "openai/b": {"litellm_provider": "openai", "mode": "chat", "max_tokens": 8192},
    "openai/c": {"litellm_provider": "openai", "mode": "embedding", "supports_vision": "true"},
    "anthropic/d": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 3},
    "anthropic/d-latest": {"alias_of": "anthropic/d"},
}


@pytest.mark.parametrize(
    ("change", "reparsed"),
    [
        ({}, set()),
        ({"openai/a": {**BASE["openai/a"], "input_cost_per_token": 2e-06}}, {"openai/a"}),
        # 3 and 3.0 are equal in Python and different in JSON: the text decides.
        ({"anthropic/d": {**BASE["anthropic/d"], "input_cost_per_token": 3.0}}, {"anthropic/d"}),
        ({"anthropic/d": {"alias_of": "openai/b"}}, set()),  # a model becomes an alias
        ({"openai/e": {"litellm_provider": "openai", "mode": "chat"}}, {"openai/e"}),
        ({"openai/b": "openai/a"}, set()),  # a model becomes a pointer
    ],
)
def test_only_entries_whose_text_changed_are_parsed_again(
    change: dict[str, Any], reparsed: set[str]
) -> None:
    previous = parse(layout(BASE))
    new = layout({**BASE, **change})
    catalog = parse(new, previous=previous)
    same_parse(catalog, parse(new))
    parsed_again = {m.key for m in catalog.models if m.alias_of is None} - reused_from(
        previous, catalog
    )
    # openai/c has a note (a string read as a boolean): it is read again to say it again.
    assert parsed_again == reparsed | {"openai/c"}
    assert catalog.issues == parse(new).issues


def test_aliases_follow_their_target_when_only_the_target_changed() -> None:
    previous = parse(layout(BASE))
    changed = {**BASE["anthropic/d"], "input_cost_per_token": 5}
    catalog = parse(layout({**BASE, "anthropic/d": changed}), previous=previous)
    alias = next(m for m in catalog.models if m.key == "anthropic/d-latest")
    assert alias.input_cost == {"input_cost_per_token": 5}
    assert alias.source_entry == {"alias_of": "anthropic/d"}


def test_a_repeated_key_in_the_new_file_is_read_and_reported_as_alone() -> None:
    previous = parse(layout(BASE))
    text = layout(BASE).decode()
    repeated = text.replace(
        '    "openai/b"', '    "openai/a": {"litellm_provider": "openai"},\n    "openai/b"'
    ).encode()
    catalog = parse(repeated, previous=previous)
    same_parse(catalog, parse(repeated))
    assert "appears 2 times" in issue_reasons(catalog, "openai/a")
    assert reused_from(previous, catalog) == set()


def test_a_broken_file_is_refused_with_the_same_reason_as_alone() -> None:
    previous = parse(layout(BASE))
    broken = layout(BASE).replace(b'"openai/c"', b'"openai/c" ', 1).replace(b'": {', b'" {', 1)
    with pytest.raises(InvalidSourceFile) as alone:
        parse(broken)
    with pytest.raises(InvalidSourceFile) as against:
        parse(broken, previous=previous)
    assert str(against.value) == str(alone.value)
