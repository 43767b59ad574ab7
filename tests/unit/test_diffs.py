"""Field-level differences between two versions' documents."""

from __future__ import annotations

from budconnect.services.diffs import field_changes


def test_nested_objects_are_compared_field_by_field() -> None:
    old = {"id": "a", "mode": "chat", "source_entry": {"max_tokens": 10, "gone": 1}}
    new = {"id": "b", "mode": "chat", "source_entry": {"max_tokens": 20, "new": True}}
    assert field_changes(old, new) == [
        {"field": "source_entry.gone", "old": 1, "new": None, "kind": "removed"},
        {"field": "source_entry.max_tokens", "old": 10, "new": 20, "kind": "changed"},
        {"field": "source_entry.new", "old": None, "new": True, "kind": "added"},
    ]


def test_ids_differ_between_versions_and_are_not_changes() -> None:
    assert field_changes({"id": "a", "provider_id": "p"}, {"id": "b", "provider_id": "q"}) == []


def test_numbers_compare_by_value_but_booleans_are_not_numbers() -> None:
    assert field_changes({"n": 1000000.0}, {"n": 1000000}) == []
    assert field_changes({"flag": 0}, {"flag": False}) == [
        {"field": "flag", "old": 0, "new": False, "kind": "changed"}
    ]


def test_exactly_a_number_written_another_way_is_a_rewrite() -> None:
    old, new = {"cost": {"per_second": 0}, "n": 1}, {"cost": {"per_second": 0.0}, "n": 2}
    assert field_changes(old, new, exact=True) == [
        {"field": "cost.per_second", "old": 0, "new": 0.0, "kind": "rewritten"},
        {"field": "n", "old": 1, "new": 2, "kind": "changed"},
    ]
    assert field_changes({"flag": True}, {"flag": True}, exact=True) == []


def test_lists_are_compared_whole() -> None:
    old, new = ["text_input"], ["text_input", "image_input"]
    assert field_changes({"modality": old}, {"modality": new}) == [
        {"field": "modality", "old": old, "new": new, "kind": "changed"}
    ]
