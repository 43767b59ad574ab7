"""Alias rows end to end: stored, served everywhere a model is, and the map round-trips."""

from __future__ import annotations

import json
from typing import Any

from budconnect.services.seeding import seed
from budconnect.storage.database import Database
from tests.conftest import InProcess, same_json

MODEL = {
    "litellm_provider": "anthropic",
    "mode": "chat",
    "max_input_tokens": 200000,
    "input_cost_per_token": 3e-06,
    "output_cost_per_token": 1.5e-05,
}
FILLER = {f"filler/{n}": {"litellm_provider": "openai", "mode": "chat"} for n in range(3)}


def raw(*pairs: tuple[str, Any]) -> bytes:
    """A file with these top-level entries in this order, repeated keys and all."""
    return ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}").encode()


# Before: a model under its plain name. After: the plain name is an alias of a dated key,
# which holds the same data; nothing else changed. Keys repeat as LiteLLM's files do.
SPEC = ("sample_spec", {"mode": "one of: chat"})
BEFORE = raw(SPEC, ("claude-sonnet", MODEL), *FILLER.items())
AFTER = raw(
    SPEC,
    ("claude-sonnet", MODEL),
    ("claude-sonnet-2025", MODEL),
    ("claude-sonnet", {"alias_of": "claude-sonnet-2025"}),
    ("claude-latest", {"alias_of": "claude-sonnet"}),
    ("claude-dangling", {"alias_of": "nowhere"}),
    *FILLER.items(),
)


def models_of(catalog: dict[str, Any]) -> dict[str, Any]:
    return {m["uri"]: m for p in catalog["providers"] for m in p["models"]}


def test_a_model_that_becomes_an_alias_is_changed_not_removed(db: Database) -> None:
    seed(db, engine="litellm", version="9.0.0", raw=BEFORE, force=True)
    result = seed(db, engine="litellm", version="9.0.1", raw=AFTER, force=True)
    assert result.models.inserted == 6  # 3 fillers, the dated key and two aliases
    with InProcess(db.url) as app:
        diff = app.get("/v1/engines/litellm/diff", params={"from": "9.0.0", "to": "9.0.1"}).json()
        assert [m["uri"] for m in diff["models"]["removed"]] == []
        assert [m["uri"] for m in diff["models"]["added"]] == [
            "claude-latest",
            "claude-sonnet-2025",
        ]
        [changed] = diff["models"]["changed"]
        assert changed["uri"] == "claude-sonnet"
        fields = {c["field"]: (c["old"], c["new"]) for c in changed["changes"]}
        assert fields["alias_of"] == (None, "claude-sonnet-2025")
        assert "source_entry.alias_of" in fields
        assert not any(f.startswith(("input_cost", "tokens", "mode")) for f in fields)


def test_aliases_are_served_as_models_and_the_map_is_the_file(db: Database) -> None:
    seed(db, engine="litellm", version="9.0.1", raw=AFTER, force=True)
    base = "/v1/engines/litellm/versions/9.0.1"
    with InProcess(db.url) as app:
        catalog = app.get(f"{base}/catalog").json()
        served = models_of(catalog)
        assert served["claude-latest"]["alias_of"] == "claude-sonnet"
        assert served["claude-latest"]["source_entry"] == {"alias_of": "claude-sonnet"}
        assert served["claude-latest"]["input_cost"] == served["claude-sonnet-2025"]["input_cost"]
        assert "claude-dangling" not in served
        assert catalog["extras"] == {
            "sample_spec": {"mode": "one of: chat"},
            "claude-dangling": {"alias_of": "nowhere"},
        }
        litellm_map = app.get(f"{base}/model_prices_and_context_window.json").json()
        assert same_json(litellm_map, json.loads(AFTER))  # last occurrence wins, as in LiteLLM

        page = app.get(
            "/model/get-compatible-models", params={"engine": "litellm", "engine_version": "9.0.1"}
        ).json()
        uris = {m["uri"] for p in page["items"] for m in p["models"]}
        assert {"claude-latest", "claude-sonnet", "claude-sonnet-2025"} <= uris
