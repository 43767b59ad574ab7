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

# budapp's `static/icons/providers/` (bud-runtime 3b8a3f9), as BUDSERVE-CONTRACT.md section 2
# lists it: the only icons the BudServe UI can show.
_LISTED = """
    ai21.png aleph_alpha.png anthropic.png anyscale.png assembly_ai.png aws.png aws_bedrock.png
    aws_sagemaker.png azure_ai_studio.png azure_openai.png baseten.png bud.png cerebras.png
    clarifai.png cloudflare_workers_ai.png cohere.png databricks.png deepinfra.png deepseek.png
    fireworks_ai.png friendliai.png gemini_google_ai_studio.png github.png groq.png
    huggingface.png hyperbolic_ai.png ibm_watsonx.ai.png jina_ai.png litellm_proxy.png
    meta_llama_3.png mistral_ai_api.png nlp_cloud.png nscale.png ollama.png openai.png
    openrouter.png palm_api.png palm_api_google.png perplexity_ai.png petals.png predibase.png
    replicate.png sambanova.png snowflake.png together_ai.png vertexai.png volcano_engine.png
    voyage_ai.png x_ai.png
"""
BUDAPP_SHIPS = {f"icons/providers/{name}" for name in _LISTED.split()}


def test_every_provider_in_the_bundled_files_has_metadata() -> None:
    directory = bundled_directory("litellm")
    used = {e["litellm_provider"] for v in VERSIONS for e in source_models(v).values()}
    assert sorted(used - set(directory.entries)) == []


def test_metadata_entries_are_complete_and_use_only_known_values() -> None:
    entries = bundled_directory("litellm").entries
    names = [entry["name"] for entry in entries.values()]
    assert len(names) == len(set(names))
    for key, entry in entries.items():
        assert "model" in entry["capabilities"], key
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
        ({"name": "n", "description": "d", "capabilities": ["cloud"]}, "capabil"),
        (
            {
                "name": "n",
                "description": "d",
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
        ({"name": "n", "description": "d", "icon": "icons/providers/acme.png"}, "budapp ships"),
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


def test_every_served_icon_is_a_file_budapp_ships() -> None:
    directory = bundled_directory("litellm")
    used = {e["litellm_provider"] for v in VERSIONS for e in source_models(v).values()}
    for key in used | set(directory.entries):
        assert directory.provider(key).icon in BUDAPP_SHIPS, key
    # Providers nobody has described yet get their family's logo, or a neutral one.
    unknown = ProviderDirectory({})
    assert unknown.provider("vertex_ai-new_models").icon == "icons/providers/vertexai.png"
    assert unknown.provider("bedrock_next").icon == "icons/providers/aws_bedrock.png"
    assert unknown.provider("brand-new").icon in BUDAPP_SHIPS


@pytest.mark.parametrize(
    ("key", "icon"),
    [
        ("vertex_ai-chat-models", "vertexai.png"),
        ("bedrock", "aws_bedrock.png"),
        ("bedrock_converse", "aws_bedrock.png"),
        ("azure", "azure_ai_studio.png"),
        ("azure_ai", "azure_ai_studio.png"),
        ("azure_text", "azure_ai_studio.png"),
        ("gemini", "gemini_google_ai_studio.png"),
        ("mistral", "mistral_ai_api.png"),
        ("codestral", "mistral_ai_api.png"),
        ("openai", "openai.png"),
    ],
)
def test_families_get_their_logo_as_the_contract_maps_them(key: str, icon: str) -> None:
    assert bundled_directory("litellm").provider(key).icon == f"icons/providers/{icon}"
