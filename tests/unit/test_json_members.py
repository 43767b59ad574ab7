"""Decoding a JSON object member by member: exactly what `json.loads` reads, plus each member's
text; and reading a file against the members of another, decoding only what changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budconnect.seeders.members import Decoded, decode, decode_changes, member_of, piece_of
from tests.conftest import VERSIONS, source_bytes


@dataclass(frozen=True)
class Member:
    """What a caller made of a member it decoded: here, only its key."""

    key: str


def known_texts(text: str) -> dict[str, Member]:
    """What a caller remembers of a decoded file: each member's piece -> what it made of it."""
    return {piece_of(member): Member(key) for key, member in decode(text).texts.items()}


def earlier(text: str) -> tuple[dict[str, Member], list[str]]:
    """What a caller keeps of a decoded file for the next: known pieces, and their layout."""
    return known_texts(text), decode(text).layout


def split_pieces(text: str) -> list[str]:
    """The pieces a plain split at every member start gives, but the last."""
    return text.split('\n    "')[1:-1]


def pieces(decoded: Decoded[Member]) -> dict[str, str]:
    """key -> piece of every member a decode read, known or decoded."""
    found = {member.key: piece for piece, member in decoded.kept.items()}
    found.update({key: piece_of(text) for key, text in decoded.texts.items()})
    return found


def read_back(decoded: Decoded[Member]) -> dict[str, Any]:
    """The members a decode stands for, the reused ones decoded from their pieces."""
    members = {
        key: json.loads("{" + member_of(piece) + "}")[key]
        for key, piece in pieces(decoded).items()
        if key in decoded.reused
    }
    members.update(decoded.members)
    return members


def layout(document: dict[str, Any]) -> str:
    """A file as LiteLLM writes its map."""
    return json.dumps(document, indent=4) + "\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_bundled_file_decodes_to_what_json_loads_reads_with_exact_member_texts(
    version: str,
) -> None:
    text = source_bytes(version).decode()
    decoded = decode(text)
    expected = json.loads(text)
    assert list(decoded.members.items()) == list(expected.items())
    pairs = json.loads(text, object_pairs_hook=lambda p: p)  # top level: every occurrence
    counts = {key: [k for k, _ in pairs].count(key) for key, _ in pairs}
    assert decoded.repeats == {key: n for key, n in counts.items() if n > 1}
    assert set(decoded.texts) == set(expected) - set(decoded.repeats)
    for key, member in decoded.texts.items():
        assert json.loads("{" + member + "}") == {key: expected[key]}
        assert member in text
        assert member.startswith('"')
        assert not member.endswith((",", " "))


@pytest.mark.parametrize(
    "text",
    [
        '{"a" 1}',
        '{"a": 1,}',
        '{"a": 1 "b": 2}',
        '{"a": }',
        '{"a": 1}}',
        '{"a": 1} x',
        "{",
        '{"a": [1, 2}',
        '{"a": "unterminated}',
        "{1: 2}",
        "",
        "   ",
        "nul",
    ],
)
def test_malformed_text_fails_with_the_message_and_position_json_loads_gives(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        decode(text)
    assert (got.value.msg, got.value.lineno, got.value.colno) == (
        expected.value.msg,
        expected.value.lineno,
        expected.value.colno,
    )


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', "3", "null"])
def test_a_value_that_is_not_an_object_is_told_apart_from_invalid_json(text: str) -> None:
    with pytest.raises(ValueError, match="not an object") as raised:
        decode(text)
    assert not isinstance(raised.value, json.JSONDecodeError)


def test_a_repeated_key_keeps_its_last_value_at_its_first_place_and_is_counted() -> None:
    decoded = decode('{"a": 1, "b": 2, "a": 3, "a": 4}')
    assert list(decoded.members.items()) == [("a", 4), ("b", 2)]
    assert decoded.repeats == {"a": 3}
    assert "a" not in decoded.texts
    assert decoded.texts["b"] == '"b": 2'


def test_nested_repeats_and_non_finite_numbers_are_recorded() -> None:
    decoded = decode('{"a": {"x": 1, "x": 2}, "b": NaN}')
    ((obj, names),) = decoded.nested.values()
    assert obj == {"x": 2}
    assert names == {"x"}
    assert decoded.non_finite


def test_only_the_members_whose_text_changed_are_decoded() -> None:
    old = {"sample_spec": {"doc": "x"}, "a": {"price": 1}, "b": {"price": 2}, "c": [1, 2]}
    new = {**old, "b": {"price": 3}, "d": {"price": 4}}
    decoded = decode_changes(layout(new), *earlier(layout(old)))
    assert decoded is not None
    assert decoded.layout == split_pieces(layout(new))
    assert set(decoded.reused) == {"sample_spec", "a", "c"}
    assert decoded.members == {"b": {"price": 3}, "d": {"price": 4}}
    assert read_back(decoded) == new
    assert set(decoded.texts) == {"b", "d"}
    # Every member's piece is the one a whole decode of the file gives.
    assert decoded.reused == {key: Member(key) for key in ("sample_spec", "a", "c")}
    assert pieces(decoded) == {
        key: piece_of(member) for key, member in decode(layout(new)).texts.items()
    }


@pytest.mark.parametrize(
    ("new_text", "why"),
    [
        (json.dumps({"a": {"price": 1}, "b": {"price": 3}}), "another layout"),
        (layout({"a": {"price": 1}, "b": {"price": 3}}).replace('"b"', '"a"'), "a repeated key"),
        (layout({"a": {"price": 1}, "b": {"price": 3}}).rstrip().rstrip("}"), "no closing brace"),
        (layout({"a": {"price": 1}, "b": {"price": 3}}).replace("3", "3,"), "a broken member"),
        (layout({"a": {"price": 1}, "b": {"price": 3}}).replace(",\n", "\n"), "a missing comma"),
        (layout({"b": {"price": 3}}), "no member known"),
    ],
)
def test_a_file_that_cannot_be_read_piecewise_is_left_to_the_whole_decode(
    new_text: str, why: str
) -> None:
    known, pieces_before = earlier(layout({"a": {"price": 1}, "b": {"price": 2}}))
    assert decode_changes(new_text, known, pieces_before) is None, why
    assert decode_changes(new_text, known) is None, why


def test_a_known_text_in_a_position_that_is_not_a_member_is_not_taken_as_one() -> None:
    # The second file nests a copy of the first file's member one level down, indented by
    # four spaces: splitting at the layout's member starts cuts inside an object there.
    known = known_texts(layout({"a": {"price": 1}, "b": {"price": 2}}))
    text = '{\n    "x": {\n    "a": {\n        "price": 1\n    },\n    "b": 5}\n}\n'
    expected = json.loads(text)
    decoded = decode_changes(text, known)
    assert decoded is None or read_back(decoded) == expected


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
_documents = st.dictionaries(st.text(max_size=8), _values, min_size=1, max_size=8)


def test_members_added_removed_or_moved_are_found_wherever_they_are() -> None:
    old = {key: {"price": n} for n, key in enumerate("abcdefgh")}
    moved = dict(reversed(list(old.items())))
    changed = {"x": {"price": 9}, **{k: v for k, v in old.items() if k not in "bc"}}
    changed["e"] = {"price": 50}
    changed = {**changed, "y": {}, "z": {"price": 1}}
    known, pieces_before = earlier(layout(old))
    for new in (moved, changed):
        decoded = decode_changes(layout(new), known, pieces_before)
        assert decoded is not None
        assert decoded.layout == split_pieces(layout(new))
        assert read_back(decoded) == new
        # Every member that did not change but the last, which is always decoded.
        unchanged = {k for k, v in new.items() if k in old and old[k] == v}
        assert set(decoded.reused) == unchanged - {list(new)[-1]}


@settings(max_examples=500, deadline=None)
@given(
    old=_documents,
    changes=_documents,
    removed=st.sets(st.text(max_size=8), max_size=3),
    reordered=st.booleans(),
    cut=st.integers(min_value=0),
    dropped=st.integers(min_value=0, max_value=2),
    garbage=st.sampled_from(["", ",", "}", "{", '"', "\n    ", ":", "]"]),
)
def test_whatever_the_files_a_piecewise_read_is_the_whole_read_or_nothing(
    old: dict[str, Any],
    changes: dict[str, Any],
    removed: set[str],
    reordered: bool,
    cut: int,
    dropped: int,
    garbage: str,
) -> None:
    """Property: against any earlier file, `decode_changes` of any text (changed, reordered,
    or damaged: characters inserted or dropped anywhere) either declines or stands for exactly
    what `json.loads` reads; and when `json.loads` refuses the text, it declines. Knowing the
    earlier file's layout changes how pieces are found, never what is found."""
    new = {k: v for k, v in {**old, **changes}.items() if k not in removed}
    if reordered:
        new = dict(reversed(list(new.items())))
    text = layout(new)
    position = cut % (len(text) + 1)
    damaged = text[:position] + garbage + text[position + dropped :]
    # The same damage where it matters most: at or just before where a member starts.
    starts = [i for i in range(len(text)) if text.startswith('\n    "', i)]
    near = max(0, starts[cut % len(starts)] - cut % 3) if starts else 0
    at_start = text[:near] + garbage + text[near + dropped :]
    known, pieces_before = earlier(layout(old))
    for candidate in (text, damaged, at_start):
        decoded = decode_changes(candidate, known, pieces_before)
        searched = decode_changes(candidate, known)
        assert (decoded is None) == (searched is None)
        if decoded is not None and searched is not None:
            assert decoded.layout == searched.layout == split_pieces(candidate)
            assert decoded.reused == searched.reused
            assert decoded.texts == searched.texts
        try:
            expected = json.loads(candidate)
        except json.JSONDecodeError:
            assert decoded is None
            continue
        if decoded is not None:
            assert isinstance(expected, dict)
            assert read_back(decoded) == expected
            assert set(decoded.texts) | set(decoded.reused) == set(expected)
            assert pieces(decoded) == {
                key: piece_of(member) for key, member in decode(candidate).texts.items()
            }
