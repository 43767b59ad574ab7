"""Stable identifiers: the same engine, version and key give the same UUID on every replica."""

from __future__ import annotations

import uuid

# Deterministic ids let every replica and every idempotent re-seed serve the same `id`s, so
# clients that store them and content digests that include them never see spurious changes.
_NAMESPACE = uuid.UUID("6d1f7c1e-3b4a-5e0f-9a51-0c1b0d6c2a77")


def provider_id(engine: str, version: str, provider_key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"provider\x00{engine}\x00{version}\x00{provider_key}")


def model_id(engine: str, version: str, model_key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"model\x00{engine}\x00{version}\x00{model_key}")
