"""The top-level members of a JSON object text, each with its exact text.

Engines' data files are one large JSON object whose members change little from one release to
the next. Decoding member by member gives, besides the values, the exact text of each member
(`"key": value`), so that a later file can be compared with an earlier one text for text and
only the members whose text changed need decoding and parsing again.

`decode` reads a whole file. `decode_changes` reads a file against the members of an earlier
one: it splits the file where LiteLLM's layout (an object indented by four spaces) starts a
top-level member, takes every piece it already knows as that member, and decodes only the other
pieces. A member is known by its *piece* (`piece_of`): its text without the key's opening quote,
followed by a comma, which is what the split gives for every member but the last; so a known
member costs one dictionary look-up of the piece as it comes out of the split, with no copy.
The caller knows a piece by whatever it made of the member (anything with the member's `key`),
and gets that back for every member it knew, without building anything per member. Given the
earlier file's pieces in order (its `layout`), the split does not even search: where the piece
that came next in the earlier file is there again, followed by a break, it is the next piece.
It is exact whatever the layout, because it trusts nothing it has not checked: a known piece is
a complete member and its comma (the member came out of a real decode), every other piece must
decode on its own as exactly one complete member, and the pieces must be joined by commas inside
one pair of braces; those are the JSON grammar's rules for an object's members, so the file
decodes to exactly those members, each with its exact text. Any other case (a different layout,
a repeated key, a piece that is not one member) returns None, and the caller decodes the whole
file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from budconnect.domain.records import JSONObject

# id() of each decoded object with a repeated field -> (the object, kept alive so that its id
# cannot be reused by another object, and the repeated names).
Repeats = dict[int, tuple[JSONObject, set[str]]]

# JSON whitespace from a position on; it always matches (maybe empty), hence the cast.
_skip = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)
_JSON_WS = " \t\n\r"
# Where a top-level member starts in a file indented by four spaces: a newline is never inside
# a JSON string, so this is always whitespace followed by the opening quote of a key.
_MEMBER_BREAK = '\n    "'


class Known(Protocol):
    """What a caller made of a member it decoded before: it must know the member's key."""

    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Known)


class NonFinite:
    """Stands for NaN or Infinity, which Python's decoder accepts but JSON does not have."""


NON_FINITE = NonFinite()


@dataclass(slots=True)
class Decoded(Generic[K]):
    """What `decode` read: the members it decoded, and the texts of all of them."""

    # The piece (see `piece_of`) of every member but the last, in file order: what a later
    # `decode_changes` checks in place.
    layout: list[str] = field(default_factory=list)
    # Decoded members, in file order; a repeated key keeps its last value at its first place.
    members: JSONObject = field(default_factory=dict)
    # key -> exact text of its member, for every decoded key that occurs once.
    texts: dict[str, str] = field(default_factory=dict)
    # key -> the piece of that member (see `piece_of`), for the same keys.
    pieces: dict[str, str] = field(default_factory=dict)
    # Members taken from known pieces, not decoded (`decode_changes` only): key -> what the
    # caller knew the piece as, and piece -> the same, both in file order.
    reused: dict[str, K] = field(default_factory=dict)
    kept: dict[str, K] = field(default_factory=dict)
    # Keys that occur more than once at the top level -> how often.
    repeats: dict[str, int] = field(default_factory=dict)
    # Objects below the top level with a repeated field.
    nested: Repeats = field(default_factory=dict)
    # NaN or Infinity occurred (decoded as NON_FINITE).
    non_finite: bool = False
    # The text that was decoded (all of it, or the changed members joined).
    decoded_text: str = ""


def piece_of(member: str) -> str:
    """How `decode_changes` knows a member: its text without the opening quote, then a comma."""
    return member[1:] + ","


def member_of(piece: str) -> str:
    """The member text of a piece (`piece_of` undone)."""
    return '"' + piece[:-1]


# Python refuses to read an integer of more digits than this (a guard against quadratic
# conversion); such a number is far beyond float range, and is read as one that is.
_MAX_INT_DIGITS = 4000
_BEYOND_FLOAT = 10**400


def _integer(text: str) -> int:
    """An integer of the JSON text: one too long for Python to read stands as a number
    beyond float range (which the seeder reads as null, with a note), not an error."""
    if len(text) > _MAX_INT_DIGITS:
        return -_BEYOND_FLOAT if text.startswith("-") else _BEYOND_FLOAT
    return int(text)


def loads(text: str) -> Any:
    """`json.loads` with the same reading of overlong integers as the decoder's."""
    return json.loads(text, parse_int=_integer)


class _Decoder:
    """Python's own JSON decoder (its C scanner) with hooks that record what JSON loses."""

    def __init__(self, decoded: Decoded[Any]) -> None:
        self.decoded = decoded
        self.scan_value = json.JSONDecoder(
            object_pairs_hook=self._object, parse_constant=self._constant, parse_int=_integer
        ).raw_decode

    def _object(self, pairs: list[tuple[str, Any]]) -> JSONObject:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: dict[str, int] = {}
            for name, _ in pairs:
                seen[name] = seen.get(name, 0) + 1
            self.decoded.nested[id(obj)] = (obj, {name for name, n in seen.items() if n > 1})
        return obj

    def _constant(self, _: str) -> NonFinite:
        self.decoded.non_finite = True
        return NON_FINITE

    def members(self, text: str) -> list[tuple[str, Any, str]]:
        """(key, value, exact text) of each member of the object `text` holds, in order.

        Raises json.JSONDecodeError, with the messages and positions `json.loads` gives,
        when `text` is not one JSON object; ValueError when it is some other JSON value.
        """
        ws = _skip
        i = ws(text, 0).end()
        if not text.startswith("{", i):
            loads(text)  # raises for invalid JSON, with json's own message
            raise ValueError("not an object")
        i = ws(text, i + 1).end()
        found: list[tuple[str, Any, str]] = []
        if text.startswith("}", i):
            return self._end(text, i + 1, found)
        while True:
            if not text.startswith('"', i):
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, i
                )
            key, j = self.scan_value(text, i)  # a string: the text starts with a quote
            j = ws(text, j).end()
            if not text.startswith(":", j):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, j)
            j = ws(text, j + 1).end()
            value, end = self.scan_value(text, j)
            found.append((key, value, text[i:end]))
            i = ws(text, end).end()
            if text.startswith(",", i):
                i = ws(text, i + 1).end()
            elif text.startswith("}", i):
                return self._end(text, i + 1, found)
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)

    @staticmethod
    def _end(text: str, i: int, found: list[tuple[str, Any, str]]) -> list[tuple[str, Any, str]]:
        i = _skip(text, i).end()
        if i != len(text):
            raise json.JSONDecodeError("Extra data", text, i)
        return found


def decode(text: str) -> Decoded[Any]:
    """Every member of the JSON object `text` (see `_Decoder.members` for what it raises)."""
    decoded: Decoded[Any] = Decoded(decoded_text=text)
    members = _Decoder(decoded).members(text)
    _collect(decoded, members)
    pieces = decoded.pieces
    decoded.layout = [pieces.get(key) or piece_of(member) for key, _, member in members[:-1]]
    return decoded


def decode_changes(
    text: str, known: Mapping[str, K], layout: Sequence[str] = ()
) -> Decoded[K] | None:
    """The members of `text`, taking those whose piece is in `known` (which maps a member's
    piece, see `piece_of`, to what the caller made of that member, which knows its key)
    without decoding them, and decoding the others. `layout` is the earlier file's pieces in
    order (its `Decoded.layout`): where `text` has the same piece at the same place, it is
    checked in place instead of searched for.

    None when `text` cannot be read that way (see the module's docstring), or when no member
    is known; the caller then decodes the whole text.
    """
    start = text.find(_MEMBER_BREAK)
    if start < 0 or text[:start].strip(_JSON_WS) != "{":
        return None
    decoded: Decoded[K] = Decoded()
    reused = decoded.reused
    kept = decoded.kept
    order = decoded.layout
    changed: list[str] = []
    get = known.get
    startswith = text.startswith
    find = text.find
    step = len(_MEMBER_BREAK)
    pos = start + step
    # The hot loop, once per member. The pieces are those `text.split(_MEMBER_BREAK)` gives,
    # without searching the text for every break: the next piece the earlier file had is
    # taken where it is followed by a break (it holds no break, and it ends with a comma,
    # which no break overlaps, so it is exactly the piece the split gives); anything else is
    # searched for. A known piece ends with its comma, so it is never the last member, which
    # is always decoded.
    expected = 0  # index in `layout` of the piece that should come next
    where: dict[str, int] | None = None  # piece -> index in `layout`, made when needed
    while True:
        piece: str | None = None
        if expected < len(layout):
            piece = layout[expected]
            end = pos + len(piece)
            if not (startswith(piece, pos) and startswith(_MEMBER_BREAK, end)):
                piece = None
        in_place = piece is not None
        if piece is None:
            end = find(_MEMBER_BREAK, pos)
            if end < 0:
                break
            piece = text[pos:end]
        pos = end + step
        order.append(piece)
        member = get(piece)
        if member is None:
            changed.append(piece)
            expected += 1  # most changes are a member changed where it was
            continue
        key = member.key
        if key in reused:
            return None  # a repeated key: the whole decode says which occurrence counts
        reused[key] = kept[piece] = member
        if in_place:
            expected += 1
        else:  # members were added or removed before this one: continue from where it was
            if where is None:
                where = {p: index for index, p in enumerate(layout)}
            expected = where.get(piece, expected) + 1
    last = text[pos:]
    if not reused:
        return None
    texts = []
    for piece in changed:
        piece = piece.rstrip(_JSON_WS)
        if not piece.endswith(","):
            return None
        texts.append('"' + piece[:-1].rstrip(_JSON_WS))
    last = last.rstrip(_JSON_WS)
    if not last.endswith("}"):
        return None
    texts.append('"' + last[:-1].rstrip(_JSON_WS))
    decoded.decoded_text = "{" + ",".join(texts) + "}"
    try:
        members = _Decoder(decoded).members(decoded.decoded_text)
    except (json.JSONDecodeError, ValueError, RecursionError):
        return None  # the whole decode reports where the file is wrong
    if len(members) != len(texts) or any(m[2] != t for m, t in zip(members, texts, strict=True)):
        return None  # a piece that is not one member: another layout, or a break in an object
    if any(key in reused for key, _, _ in members):
        return None
    _collect(decoded, members)
    if decoded.repeats:
        return None
    return decoded


def _collect(decoded: Decoded[Any], members: list[tuple[str, Any, str]]) -> None:
    counts: dict[str, int] = {}
    for key, value, text in members:
        decoded.members[key] = value
        decoded.texts[key] = text
        counts[key] = counts.get(key, 0) + 1
    decoded.repeats = {key: n for key, n in counts.items() if n > 1}
    for key in decoded.repeats:
        del decoded.texts[key]
    decoded.pieces = {key: piece_of(text) for key, text in decoded.texts.items()}
