"""Differences between two engine versions, down to the field, for operators planning upgrades."""

from __future__ import annotations

from typing import Any

from budconnect.domain.records import JSONObject
from budconnect.services.snapshots import Snapshot

# Ids are per engine version by design, so they always differ and say nothing.
_IGNORED = frozenset({"id", "provider_id", "models"})


def field_changes(old: Any, new: Any, path: str = "", *, exact: bool = False) -> list[JSONObject]:
    """Field-level differences: objects are compared key by key, anything else as a whole.
    With `exact`, a number written another way (`0` and `0.0`) is a difference too, of kind
    "rewritten": the same value, not the same entry."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for name in sorted(old.keys() | new.keys()):
            if name in _IGNORED and not path:
                continue
            where = f"{path}.{name}" if path else name
            if name not in new:
                changes.append({"field": where, "old": old[name], "new": None, "kind": "removed"})
            elif name not in old:
                changes.append({"field": where, "old": None, "new": new[name], "kind": "added"})
            else:
                changes.extend(field_changes(old[name], new[name], where, exact=exact))
        return changes
    # JSON numbers compare by value (1e6 and 1000000 are one number), but a boolean is not a
    # number: Python's `0 == False` must not hide a changed flag.
    if old == new and type(old) is type(new):
        return []
    if old == new and _is_number(old) and _is_number(new):
        return [{"field": path, "old": old, "new": new, "kind": "rewritten"}] if exact else []
    return [{"field": path, "old": old, "new": new, "kind": "changed"}]


def diff_snapshots(old: Snapshot, new: Snapshot) -> JSONObject:
    """Providers and models added, removed and changed from `old` to `new`."""
    old_providers = {p["provider_type"]: p for p in old.providers}
    new_providers = {p["provider_type"]: p for p in new.providers}
    old_models = {m["uri"]: (p["provider_type"], m) for p in old.providers for m in p["models"]}
    new_models = {m["uri"]: (p["provider_type"], m) for p in new.providers for m in p["models"]}

    providers_changed = []
    for key in sorted(old_providers.keys() & new_providers.keys()):
        changes = field_changes(old_providers[key], new_providers[key])
        if changes:
            providers_changed.append({"provider_type": key, "changes": changes})

    models_changed = []
    for uri in sorted(old_models.keys() & new_models.keys()):
        (old_type, old_model), (new_type, new_model) = old_models[uri], new_models[uri]
        changes = field_changes(old_model, new_model)
        if old_type != new_type:
            changes.insert(
                0, {"field": "provider_type", "old": old_type, "new": new_type, "kind": "changed"}
            )
        if changes:
            models_changed.append({"uri": uri, "provider_type": new_type, "changes": changes})

    def brief(models: dict[str, tuple[str, JSONObject]], uris: set[str]) -> list[JSONObject]:
        return [
            {"uri": uri, "provider_type": models[uri][0], "mode": models[uri][1]["mode"]}
            for uri in sorted(uris)
        ]

    providers_added = sorted(new_providers.keys() - old_providers.keys())
    providers_removed = sorted(old_providers.keys() - new_providers.keys())
    models_added = brief(new_models, new_models.keys() - old_models.keys())
    models_removed = brief(old_models, old_models.keys() - new_models.keys())
    return {
        "object": "diff",
        "engine": new.engine,
        "from": {"engine_version": old.version, "digest": old.digest},
        "to": {"engine_version": new.version, "digest": new.digest},
        "summary": {
            "providers": {
                "added": len(providers_added),
                "removed": len(providers_removed),
                "changed": len(providers_changed),
            },
            "models": {
                "added": len(models_added),
                "removed": len(models_removed),
                "changed": len(models_changed),
            },
        },
        "providers": {
            "added": providers_added,
            "removed": providers_removed,
            "changed": providers_changed,
        },
        "models": {"added": models_added, "removed": models_removed, "changed": models_changed},
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
