"""The provider metadata shipped with BudConnect describes every bundled provider properly."""

from __future__ import annotations

import pytest

from budconnect.seeders.metadata import (
    CAPABILITIES,
    CREDENTIAL_TYPES,
    ProviderDirectory,
    bundled_directory,
    derived_name,
    validate_entries,
)
from tests.conftest import VERSIONS, source_models


def test_every_provider_in_the_bundled_files_has_metadata() -> None:
    directory = bundled_directory("litellm")
    used = {e["litellm_provider"] for v in VERSIONS for e in source_models(v).values()}
    assert sorted(used - set(directory.entries)) == []


def test_metadata_entries_are_complete_and_use_only_known_values() -> None:
    entries = bundled_directory("litellm").entries
    names = [entry["name"] for entry in entries.values()]
    assert len(names) == len(set(names))
    for key, entry in entries.items():
        assert entry["icon"] == f"icons/providers/{key}.png"
        assert "model" in entry["capabilities"]
        assert set(entry["capabilities"]) <= CAPABILITIES
        fields = [c["field"] for c in entry["credentials"]]
        assert len(fields) == len(set(fields)), key
        for credential in entry["credentials"]:
            assert credential["type"] in CREDENTIAL_TYPES
            assert set(credential.get("dependencies", [])) <= set(fields)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "", "description": "d", "icon": "i"}, "name"),
        ({"name": "n", "description": "d", "icon": "i", "capabilities": ["cloud"]}, "capabil"),
        (
            {
                "name": "n",
                "description": "d",
                "icon": "i",
                "credentials": [
                    {
                        "field": "k",
                        "label": "K",
                        "type": "secret",
                        "required": True,
                        "description": "x",
                        "order": 1,
                    }
                ],
            },
            "credential type",
        ),
        (
            {
                "name": "n",
                "description": "d",
                "icon": "i",
                "credentials": [
                    {
                        "field": "k",
                        "label": "K",
                        "type": "text",
                        "required": True,
                        "description": "x",
                        "order": 2,
                    }
                ],
            },
            "malformed",
        ),
    ],
)
def test_malformed_metadata_is_refused_naming_the_provider(entry: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_entries({"acme": entry})


def test_providers_missing_from_the_metadata_get_derived_names() -> None:
    directory = ProviderDirectory({})
    record = directory.provider("vertex_ai-anthropic_models")
    assert record.name == "Vertex AI Anthropic Models"
    assert record.capabilities == ["model"]
    assert derived_name("xai") == "xAI"
    assert derived_name("nvidia_nim") == "Nvidia NIM"
