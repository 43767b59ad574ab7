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
            icon=entry.get("icon", f"icons/providers/{key}.png"),
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
        icon=f"icons/providers/{key}.png",
        capabilities=["model"],
        credentials=generic_credentials(),
    )


def validate_entries(entries: dict[str, Any]) -> None:
    """Raise ValueError naming the first malformed entry; the bundled file is checked by tests."""
    for key, entry in entries.items():
        for name in ("name", "description", "icon"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise ValueError(f"provider {key!r}: {name} must be a non-empty string")
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
