"""Version strings are validated before use and ordered as versions, not as strings."""

from __future__ import annotations

import pytest

from budconnect.domain.versions import (
    newest,
    sort_versions,
    validate_engine_key,
    validate_version,
)
from budconnect.errors import InvalidIdentifier


def test_numeric_parts_compare_as_numbers() -> None:
    assert newest(["1.90.7", "1.110.2", "1.9.99"]) == "1.110.2"
    assert sort_versions(["1.100.5", "1.14.4", "1.80.17", "1.60.9"]) == [
        "1.14.4",
        "1.60.9",
        "1.80.17",
        "1.100.5",
    ]


def test_pre_releases_come_before_their_release_and_post_releases_after() -> None:
    ordered = ["1.2.0.dev1", "1.2.0a1", "1.2.0rc1", "1.2.0", "1.2.0-stable", "1.2.0.1", "1.2.1"]
    assert sort_versions(reversed(ordered)) == ordered


def test_a_leading_v_is_ignored_for_ordering() -> None:
    assert newest(["v1.10.0", "1.9.0"]) == "v1.10.0"


def test_ordering_is_total_for_different_spellings_of_the_same_version() -> None:
    assert sort_versions(["1-2", "1.2"]) == sort_versions(["1.2", "1-2"])


@pytest.mark.parametrize(
    "value", ["../../x", "..", ".hidden", "1.0/evil", "a b", "", "x" * 65, "1..2", "1.0\n"]
)
def test_version_strings_outside_the_alphabet_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="invalid version"):
        validate_version(value)


@pytest.mark.parametrize("value", ["1.100.5", "v1.80.17-stable", "2.0.0+build.7", "1.0_rc1"])
def test_ordinary_version_strings_are_accepted(value: str) -> None:
    assert validate_version(value) == value


@pytest.mark.parametrize("value", ["LiteLLM", "../litellm", "", "lite llm", "-x", "a" * 65])
def test_engine_keys_outside_the_alphabet_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="invalid engine key"):
        validate_engine_key(value)
