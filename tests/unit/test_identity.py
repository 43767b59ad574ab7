"""Ids are UUIDv5 of engine, version and key: the fast text form is exactly the UUID's."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from budconnect.domain import identity

NAMESPACE = uuid.UUID("6d1f7c1e-3b4a-5e0f-9a51-0c1b0d6c2a77")


@given(engine=st.text(), version=st.text(), keys=st.lists(st.text(), max_size=5))
def test_the_text_of_an_id_is_that_of_the_uuid5_it_has_always_been(
    engine: str, version: str, keys: list[str]
) -> None:
    expected = [str(uuid.uuid5(NAMESPACE, f"model\x00{engine}\x00{version}\x00{k}")) for k in keys]
    assert identity.model_ids_text(engine, version, keys) == expected
    assert [identity.model_id_text(engine, version, k) for k in keys] == expected
    assert [str(identity.model_id(engine, version, k)) for k in keys] == expected
    for key in keys:
        assert identity.provider_id_text(engine, version, key) == str(
            uuid.uuid5(NAMESPACE, f"provider\x00{engine}\x00{version}\x00{key}")
        )
