"""Conditional requests and content negotiation: the rules both request paths apply.

Each representation of a snapshot has its own strong validator (RFC 9110, 8.8.3): the
identity body's ETag is the snapshot's content digest, the gzip body's is the digest with
`-gzip` appended. `If-None-Match` naming either one answers 304: both stand for the same
content, and a client holding one of them holds the data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import NamedTuple

Headers = list[tuple[bytes, bytes]]

GZIP_SUFFIX = "-gzip"


def etag(digest: str, gzipped: bool) -> bytes:
    return f'"{digest}{GZIP_SUFFIX if gzipped else ""}"'.encode()


def validators(digest: str, cache_control: str, gzipped: bool) -> Headers:
    """The headers every answer about a representation carries, 304s included."""
    return [
        (b"etag", etag(digest, gzipped)),
        (b"cache-control", cache_control.encode()),
        (b"vary", b"Accept-Encoding"),
    ]


def etag_matches(if_none_match: str, digest: str) -> bool:
    """Weak comparison (RFC 9110, 13.1.2) of an If-None-Match list against either
    representation of `digest`."""
    if if_none_match[1:-1] == digest:  # what a client sends back most: the plain ETag
        return if_none_match[0] == '"' == if_none_match[-1]
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/")
        if tag in (f'"{digest}"', f'"{digest}{GZIP_SUFFIX}"'):
            return True
    return False


def digest_of_etag(value: str) -> str:
    """The content digest an ETag of ours stands for, whichever representation it names."""
    return value.strip().removeprefix("W/").strip('"').removesuffix(GZIP_SUFFIX)


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """True when gzip is acceptable (RFC 9110 12.5.3): a `gzip` entry decides, else `*` does."""
    wildcard = False
    for part in accept_encoding.lower().split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        if coding in ("gzip", "x-gzip"):  # x-gzip: the old name, still to be honoured
            return _weight(params) > 0
        if coding == "*":
            wildcard = _weight(params) > 0
    return wildcard


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                break
            # A malformed weight (nan included) is no reason to refuse, nor to fail.
            return weight if math.isfinite(weight) else 1.0
    return 1.0


class Conditions(NamedTuple):
    """What a request says about the answer it can take: the ETags it holds, whether it
    takes gzip, and who asks (its User-Agent, which names a sweep with its address)."""

    if_none_match: str | None
    gzip_ok: bool
    user_agent: str


def conditions(headers: Iterable[tuple[bytes, bytes]]) -> Conditions:
    """Read from the raw header lines as both request paths get them. Repeated
    `If-None-Match` and `Accept-Encoding` lines are one list joined by commas (RFC 9110,
    5.3), not the first or the last line; a repeated User-Agent counts by its first."""
    if_none_match: list[str] = []
    accept_encoding: list[str] = []
    agent: str | None = None
    for name, value in headers:
        if name == b"if-none-match":
            if_none_match.append(value.decode("latin-1"))
        elif name == b"accept-encoding":
            accept_encoding.append(value.decode("latin-1"))
        elif name == b"user-agent" and agent is None:
            agent = value.decode("latin-1")
    return Conditions(
        ", ".join(if_none_match) if if_none_match else None,
        bool(accept_encoding) and accepts_gzip(", ".join(accept_encoding)),
        agent or "",
    )
