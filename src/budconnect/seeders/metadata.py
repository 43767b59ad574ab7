"""Provider metadata (display name, description, icon, credential form) kept in this project."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from budconnect.domain.records import JSONObject, ProviderRecord

CREDENTIAL_TYPES = frozenset({"password", "text", "textarea", "url"})

# The provider logos budapp ships under `static/icons/providers/` (bud-runtime 3b8a3f9,
# 2026-03; listed in the BudServe contract). An icon outside this list is a broken image in
# the BudServe UI, so the metadata may name no other.
ICON_DIR = "icons/providers/"
BUDAPP_ICONS = frozenset(
    ICON_DIR + name
    for name in (
        "ai21.png", "aleph_alpha.png", "anthropic.png", "anyscale.png", "assembly_ai.png",
        "aws.png", "aws_bedrock.png", "aws_sagemaker.png", "azure_ai_studio.png",
        "azure_openai.png", "baseten.png", "bud.png", "cerebras.png", "clarifai.png",
        "cloudflare_workers_ai.png", "cohere.png", "databricks.png", "deepinfra.png",
        "deepseek.png", "fireworks_ai.png", "friendliai.png", "gemini_google_ai_studio.png",
        "github.png", "groq.png", "huggingface.png", "hyperbolic_ai.png", "ibm_watsonx.ai.png",
        "jina_ai.png", "litellm_proxy.png", "meta_llama_3.png", "mistral_ai_api.png",
        "nlp_cloud.png", "nscale.png", "ollama.png", "openai.png", "openrouter.png",
        "palm_api.png", "palm_api_google.png", "perplexity_ai.png", "petals.png",
        "predibase.png", "replicate.png", "sambanova.png", "snowflake.png", "together_ai.png",
        "vertexai.png", "volcano_engine.png", "voyage_ai.png", "x_ai.png",
    )
)  # fmt: skip
# Providers without a logo of their own are all served through LiteLLM: its logo is neutral.
NEUTRAL_ICON = ICON_DIR + "litellm_proxy.png"

# Provider key (or key prefix, for families such as vertex_ai-*) -> logo. Looked up exactly
# first, then by the longest matching prefix.
_ICON_OF_KEY = {
    "agentcore": "aws_bedrock.png", "ai21": "ai21.png", "aleph_alpha": "aleph_alpha.png",
    "amazon_nova": "aws.png", "anthropic": "anthropic.png", "anyscale": "anyscale.png",
    "assemblyai": "assembly_ai.png", "aws_polly": "aws.png", "azure": "azure_ai_studio.png",
    "azure_ai": "azure_ai_studio.png", "azure_text": "azure_ai_studio.png",
    "baseten": "baseten.png", "bedrock": "aws_bedrock.png", "cerebras": "cerebras.png",
    "chatgpt": "openai.png", "clarifai": "clarifai.png",
    "cloudflare": "cloudflare_workers_ai.png", "codestral": "mistral_ai_api.png",
    "cohere": "cohere.png", "databricks": "databricks.png", "deepinfra": "deepinfra.png",
    "deepseek": "deepseek.png", "fireworks_ai": "fireworks_ai.png",
    "friendliai": "friendliai.png", "gemini": "gemini_google_ai_studio.png",
    "github": "github.png", "google_pse": "palm_api_google.png", "groq": "groq.png",
    "huggingface": "huggingface.png", "hyperbolic": "hyperbolic_ai.png",
    "jina_ai": "jina_ai.png", "litellm_proxy": "litellm_proxy.png",
    "meta_llama": "meta_llama_3.png", "meta": "meta_llama_3.png",
    "mistral": "mistral_ai_api.png", "nlp_cloud": "nlp_cloud.png", "nscale": "nscale.png",
    "ollama": "ollama.png", "openai": "openai.png", "openrouter": "openrouter.png",
    "palm": "palm_api.png", "perplexity": "perplexity_ai.png", "petals": "petals.png",
    "predibase": "predibase.png", "replicate": "replicate.png",
    "sagemaker": "aws_sagemaker.png", "sambanova": "sambanova.png",
    "snowflake": "snowflake.png", "text-completion-codestral": "mistral_ai_api.png",
    "text-completion-openai": "openai.png", "together_ai": "together_ai.png",
    "vertex_ai": "vertexai.png", "volcengine": "volcano_engine.png",
    "voyage": "voyage_ai.png", "watsonx": "ibm_watsonx.ai.png", "xai": "x_ai.png",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def icon_for(key: str) -> str:
    """The budapp logo of a provider key: its own, its family's, or the neutral one."""
    if key in _ICON_OF_KEY:
        return ICON_DIR + _ICON_OF_KEY[key]
    # Families: bedrock_converse, vertex_ai-anthropic_models, cohere_chat, azure_ai, ...
    prefixes = [p for p in _ICON_OF_KEY if key.startswith((f"{p}_", f"{p}-", f"{p}/"))]
    if prefixes:
        return ICON_DIR + _ICON_OF_KEY[max(prefixes, key=len)]
    return NEUTRAL_ICON


CAPABILITIES = frozenset({"model", "moderation", "local"})

# Known spellings that title-casing would get wrong in derived display names.
_WORDS = {
    "ai": "AI",
    "api": "API",
    "llm": "LLM",
    "nim": "NIM",
    "oci": "OCI",
    "xai": "xAI",
    "aws": "AWS",
    "ml": "ML",
    "gpu": "GPU",
}


@dataclass(frozen=True, slots=True)
class ProviderDirectory:
    """Metadata by provider key; keys it lacks get a derived name and generic credentials."""

    entries: dict[str, JSONObject]

    def provider(self, key: str) -> ProviderRecord:
        entry = self.entries.get(key)
        if entry is None:
            return _derived(key)
        return ProviderRecord(
            key=key,
            name=entry["name"],
            description=entry["description"],
            icon=entry["icon"] if "icon" in entry else icon_for(key),
            capabilities=list(entry.get("capabilities", ["model"])),
            credentials=[dict(item) for item in entry.get("credentials", [])],
        )

    def __contains__(self, key: object) -> bool:
        return key in self.entries


def derived_name(key: str) -> str:
    """A readable display name for a provider key nobody has described yet."""
    words = [w for w in re.split(r"[_\-\s./]+", key) if w]
    return " ".join(_WORDS.get(w.lower(), w[:1].upper() + w[1:]) for w in words) or key


def generic_credentials() -> list[JSONObject]:
    return [
        {
            "field": "api_key",
            "label": "API Key",
            "type": "password",
            "required": True,
            "description": "Secret key issued by the provider.",
            "order": 1,
        },
        {
            "field": "api_base",
            "label": "API Base URL",
            "type": "url",
            "required": False,
            "description": "Endpoint to call instead of the provider's default.",
            "order": 2,
        },
    ]


def _derived(key: str) -> ProviderRecord:
    name = derived_name(key)
    return ProviderRecord(
        key=key,
        name=name,
        description=f"{name} models served through the engine.",
        icon=icon_for(key),
        capabilities=["model"],
        credentials=generic_credentials(),
    )


def validate_entries(entries: dict[str, Any]) -> None:
    """Raise ValueError naming the first malformed entry; the bundled file is checked by tests."""
    for key, entry in entries.items():
        for name in ("name", "description"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise ValueError(f"provider {key!r}: {name} must be a non-empty string")
        if "icon" in entry and entry["icon"] not in BUDAPP_ICONS:
            raise ValueError(
                f"provider {key!r}: icon {entry['icon']!r} is not a logo budapp ships "
                f"(one of {ICON_DIR}*.png in BUDAPP_ICONS)"
            )
        caps = entry.get("capabilities", ["model"])
        if not caps or not set(caps) <= CAPABILITIES:
            raise ValueError(f"provider {key!r}: capabilities must be drawn from {CAPABILITIES}")
        for order, item in enumerate(entry.get("credentials", []), start=1):
            if item.get("type") not in CREDENTIAL_TYPES:
                raise ValueError(f"provider {key!r}: credential type {item.get('type')!r}")
            if item.get("order") != order or not isinstance(item.get("required"), bool):
                raise ValueError(f"provider {key!r}: credential {item.get('field')!r} malformed")
            for name in ("field", "label", "description"):
                if not isinstance(item.get(name), str) or not item[name]:
                    raise ValueError(f"provider {key!r}: credential {name} missing")


@functools.cache
def bundled_metadata(engine: str) -> bytes:
    """The bytes of the metadata file shipped for `engine` (empty when there is none)."""
    resource = resources.files("budconnect.seeders") / "metadata" / f"{engine}_providers.toml"
    return resource.read_bytes() if resource.is_file() else b""


@functools.cache
def bundled_directory(engine: str) -> ProviderDirectory:
    """The metadata file shipped for `engine`, or an empty directory when there is none."""
    entries = tomllib.loads(bundled_metadata(engine).decode("utf-8")).get("providers", {})
    validate_entries(entries)
    return ProviderDirectory(entries)
