"""Versions are PEP 440 versions in normal form, ordered as versions; `latest` is final only."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from budconnect.domain.versions import (
    is_final,
    newest,
    sort_versions,
    validate_engine_key,
    validate_version,
    version_key,
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
    ordered = ["1.2.0.dev1", "1.2.0a1", "1.2.0rc1", "1.2.0", "1.2.0+local", "1.2.0.post1", "1.2.1"]
    assert sort_versions(reversed(ordered)) == ordered


def test_latest_is_the_newest_final_release_never_a_pre_release_or_local_label() -> None:
    assert newest(["1.2.0", "1.3.0rc1", "1.3.0.dev2", "1.2.0+test", "1.2.0.post1"]) == "1.2.0.post1"
    assert newest(["9.9.9+test", "9.9.9rc1", "1.0.0"]) == "1.0.0"
    assert newest(["1.0.0rc1"]) is None
    assert [
        v for v in ["1.0.0", "1.0.0a1", "1.0.0.dev1", "1.0.0+x", "1.0.0.post2"] if is_final(v)
    ] == [
        "1.0.0",
        "1.0.0.post2",
    ]


@pytest.mark.parametrize(
    "value",
    ["abc", "9.9.9-test", "../../x", "..", ".hidden", "1.0/evil", "a b", "", "1..2", "1.0\n"],
)
def test_names_that_are_not_pep_440_versions_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="invalid version"):
        validate_version(value)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("v1.2.3", "1.2.3"),
        ("1.2.3-rc1", "1.2.3rc1"),
        ("1.0_rc1", "1.0rc1"),
        ("1.2.3.RC1", "1.2.3rc1"),
    ],
)
def test_a_version_not_in_normal_form_is_refused_naming_the_normal_form(
    value: str, normal: str
) -> None:
    with pytest.raises(InvalidIdentifier, match=f"write {normal}$"):
        validate_version(value)


@pytest.mark.parametrize(
    "value", ["1.100.5", "1.81.0rc1", "1.72.6.post1", "1.0.0.dev3", "2.0.0+build.7", "1!2.0"]
)
def test_the_forms_litellm_uses_are_accepted(value: str) -> None:
    assert validate_version(value) == value


def test_latest_and_overlong_names_are_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="newest"):
        validate_version("latest")
    with pytest.raises(InvalidIdentifier, match="longer than 64"):
        validate_version("1." + "1" * 70)


def test_names_held_from_before_sort_below_every_version() -> None:
    assert sort_versions(["1.0.0", "legacy-name", "0.0.1"]) == ["legacy-name", "0.0.1", "1.0.0"]
    assert version_key("legacy-name") < version_key("0.0.0.dev0")


@pytest.mark.parametrize("value", ["LiteLLM", "../litellm", "", "lite llm", "-x", "a" * 65])
def test_engine_keys_outside_the_alphabet_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="invalid engine key"):
        validate_engine_key(value)


_versions = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        (f"{epoch}!" if epoch else "")
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{local}" if local else "")
    ),
    st.integers(0, 1),
    st.lists(st.integers(0, 2), min_size=1, max_size=3),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 2)),
    st.none() | st.integers(0, 2),
    st.none() | st.integers(0, 2),
    st.none() | st.sampled_from(["1", "2", "a", "b", "1.a", "a.1", "1.1", "abc.2", "10"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_versions, min_size=2, max_size=24))
def test_versions_sort_exactly_as_pep_440_orders_them(names: list[str]) -> None:
    """Property: the sort key orders any versions as `packaging` compares them, ties too."""
    for a, b in itertools.product(names, repeat=2):
        pa, pb = Version(a), Version(b)
        ka, kb = version_key(a)[:2], version_key(b)[:2]
        assert (ka < kb, ka == kb) == (pa < pb, pa == pb), (a, b)


def test_local_labels_order_numbers_above_words() -> None:
    names = ["1.0+1.a", "1.0+a", "1.0+1", "1.0+a.1", "1.0+1.1", "1.0+b", "1.0", "1.0+10"]
    assert sort_versions(names) == sorted(names, key=Version)
