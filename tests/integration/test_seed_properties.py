"""Whatever a source file holds, a seed keeps what it can and serves it verifiably."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budconnect.domain.documents import catalog_digest
from budconnect.errors import HeldBack
from budconnect.seeders import engine_format
from budconnect.services.catalog import Catalog
from budconnect.services.seeding import seed
from budconnect.storage import repository as repo
from budconnect.storage.database import Database
from tests.conftest import same_json

numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
leaves = st.none() | st.booleans() | numbers | st.text(max_size=6)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
modes = st.sampled_from(["chat", "vector_store", "chat\x00", "\ud800", "m" * 100])
fields = st.sampled_from(
    ["mode", "max_tokens", "max_input_tokens", "input_cost_per_token", "rpm", "supports_vision",
     "supported_endpoints", "supported_modalities", "deprecation_date", "max_pdf_size_mb",
     "search_context_cost_per_query", "cache_read_input_token_cost", "tiered_pricing"]
) | st.text(max_size=10)  # fmt: skip
entries = st.builds(
    lambda provider, extra: {"litellm_provider": provider, **extra},
    st.sampled_from(["openai", "azure", "brand_new_ai"]),
    st.dictionaries(fields, values, max_size=6) | st.fixed_dictionaries({"mode": modes}),
)
# Keys no database stores alike (NUL, a lone surrogate, too long, blank), and pointer entries
# (a string naming another entry) that hit, miss or loop.
keys = st.text(min_size=1, max_size=12) | st.sampled_from(
    ["m", "n", "p\x00", "\ud800x", "k" * 600, " "]
)
pointers = st.sampled_from(["m", "n", "p\x00", "\ud800x"]) | st.text(max_size=4)
documents = st.dictionaries(keys, entries | pointers, min_size=1, max_size=5)
_versions = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(documents)
def test_any_document_seeds_and_is_served_with_a_verifiable_digest(
    db: Database, document: dict[str, Any]
) -> None:
    version = f"9.{next(_versions)}"
    raw = json.dumps(document).encode()
    if not engine_format("litellm").parse(raw).models:
        # Nothing in it is a model: refused even when forced, and nothing is written.
        with pytest.raises(HeldBack, match="no models"):
            seed(db, engine="litellm", version=version, raw=raw, force=True)
        with db.read() as conn:
            assert repo.get_version(conn, engine_key="litellm", version=version) is None
        return
    result = seed(db, engine="litellm", version=version, raw=raw, force=True)
    snapshot = Catalog(db, check_interval=0).snapshot("litellm", version)
    assert catalog_digest(
        engine="litellm", version=version, providers=snapshot.providers, extras=snapshot.extras
    ) == (snapshot.digest)
    assert snapshot.digest == result.content_digest
    served = {m["uri"]: m for p in snapshot.providers for m in p["models"]}
    assert len(served) == result.models.inserted
    for model in served.values():
        tokens = model["tokens"] or {}
        assert all(0 <= v <= 2**31 - 1 for v in tokens.values())
        if model["uri"] not in {i.key for i in result.repaired}:
            assert same_json(model["source_entry"], document[model["uri"]])
