"""Which entries make up a version: a set of entry ids, packed into a few bytes.

A version's membership is stored as one value, not as a row per member: the sorted ids,
delta-encoded as unsigned LEB128 varints, then zlib-compressed. Entries of consecutive
versions are mostly the same rows, inserted in runs, so the deltas are mostly 1 and a
3,400-model version packs into a few hundred bytes to a few kilobytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

_FORMAT = b"\x01"  # the first byte names the encoding, so it can change without ambiguity


def pack(ids: Iterable[int]) -> bytes:
    out = bytearray()
    previous = 0
    for value in sorted(set(ids)):
        delta = value - previous
        previous = value
        while delta >= 0x80:
            out.append((delta & 0x7F) | 0x80)
            delta >>= 7
        out.append(delta)
    return _FORMAT + zlib.compress(bytes(out), 6)


def unpack(packed: bytes) -> list[int]:
    if packed[:1] != _FORMAT:
        raise ValueError(f"unknown membership encoding {packed[:1]!r}")
    data = zlib.decompress(packed[1:])
    ids: list[int] = []
    value = shift = current = 0
    for byte in data:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        value += current
        ids.append(value)
        current = shift = 0
    return ids
