"""Access tokens: made at random, configured as hashes, recognised in constant time.

Tokens are configured as hashes (`name=sha256:HEX`, comma-separated, as `budconnect token new
NAME` prints them), so a server never holds a token itself. A presented token is hashed and
compared with every configured hash in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "bct_"
# What a token's name may be: it is written in the audit log (64 characters at most) and in
# the `name=sha256:HEX,...` list, whose separators it must not hold.
TOKEN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
TOKEN_NAME_RULE = "a token name is 1-64 letters, digits, '.', '_' or '-'"


class TokenConfigError(ValueError):
    """A configured token list is malformed."""


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def token_hash(token: str) -> str:
    # The tokens are 256 random bits: a fast hash suffices, no password stretching needed.
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Tokens:
    """Configured token hashes by name."""

    hashes: tuple[tuple[str, bytes], ...]

    @staticmethod
    def parse(setting: str, variable: str) -> Tokens:
        entries = []
        for item in filter(None, (part.strip() for part in setting.split(","))):
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.startswith("sha256:"):
                raise TokenConfigError(
                    f"{variable}: each entry must be name=sha256:HEX (see `budconnect token new`)"
                )
            if not TOKEN_NAME.fullmatch(name.strip()):
                raise TokenConfigError(f"{variable}: {name.strip()[:80]!r}: {TOKEN_NAME_RULE}")
            digest = value.removeprefix("sha256:")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise TokenConfigError(
                    f"{variable}: the hash of {name.strip()!r} is not 64 hex digits"
                )
            entries.append((name.strip(), bytes.fromhex(digest)))
        return Tokens(tuple(entries))

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def who(self, token: str) -> str | None:
        """The name of the configured token `token` is, or None; the same time either way."""
        presented = hashlib.sha256(token.encode()).digest()
        found = None
        for name, digest in self.hashes:
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found
