"""The poll fast path: raw ASGI in front of FastAPI for what a fleet of pollers asks most.

A poll is answered from memory, without the framework and without the database: the view of
current digests (refreshed in the background, see `budconnect.api.app`) decides 304 or 200,
and a 200 sends bytes built once per digest. Anything else, including any request whose
answer is not ready in memory or whose parameters need validating, goes to FastAPI, which
answers it the slow way and fills the caches for the next poll. Both paths send the same
status, body and validators for the same request.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from budconnect.api.bodies import (
    LITELLM_MAP,
    Encoded,
    Headers,
    accepts_gzip,
    etag_matches,
    validators,
)
from budconnect.services.catalog import MAX_PAGE, Catalog, RegistryView

_LEAVES: dict[str, str | None] = {"catalog": "catalog", LITELLM_MAP: "litellm_map",
                                  "changes": None}  # fmt: skip
_COMPAT_PATH = "/model/get-compatible-models"
_COMPAT_PARAMS = frozenset({"engine", "engine_version", "page", "limit"})

Answer = tuple[int, Headers, bytes]


@functools.lru_cache(maxsize=256)
def _gzip_ok(accept_encoding: bytes) -> bool:
    return accepts_gzip(accept_encoding.decode("latin-1"))


def _is_number(text: str, max_digits: int) -> bool:
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


class PollFastPath:
    """ASGI middleware answering conditional and cached polls straight from memory."""

    def __init__(
        self, app: ASGIApp, state: Any, *, max_age: float, max_limit: int, cache_control: str
    ) -> None:
        self.app = app
        # The FastAPI app's state: the lifespan puts `catalog` and `body_cache` there.
        self.state = state
        self.max_age = max_age
        self.max_limit = max_limit
        self.cache_control = cache_control
        self._catalog: Catalog | None = None
        self._validators: dict[str, tuple[bytes, Headers]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            answer = self.answer(scope)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def answer(self, scope: Scope) -> Answer | None:
        catalog = self._catalog
        if catalog is None:
            catalog = self._catalog = getattr(self.state, "catalog", None)
            if catalog is None:
                return None
        view = catalog.fresh_view(self.max_age)
        if view is None:
            return None
        path: str = scope["path"]
        if path.startswith("/v1/engines/"):
            parts = path.split("/")
            # ['', 'v1', 'engines', engine, 'versions', version, leaf]
            if len(parts) != 7 or parts[4] != "versions" or parts[6] not in _LEAVES:
                return None
            if parts[6] == LITELLM_MAP and parts[3] != "litellm":
                return None
            engine = view.engines.get(parts[3])
            row = engine.version(parts[5]) if engine is not None else None
            if row is None:
                return None
            key = _LEAVES[parts[6]]
            query: bytes = scope["query_string"]
            if key is None and not (
                query.startswith(b"since=") and _is_number(query[6:].decode("latin-1"), 18)
            ):
                return None
            snapshot = catalog.cached_snapshot(row.content_digest) if key else None
            encoded = snapshot.cache.get(key) if snapshot is not None else None
            return self._serve(scope, row.content_digest, encoded)
        if path == _COMPAT_PATH:
            return self._compat(scope, view)
        return None

    def _compat(self, scope: Scope, view: RegistryView) -> Answer | None:
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        # Anything the routes would have to judge (unknown or repeated or blank parameters,
        # numbers that are not plain ASCII digits) is theirs to answer.
        if len(params) != len(pairs) or not params.keys() <= _COMPAT_PARAMS:
            return None
        if not all(params.values()):
            return None
        page, limit = params.get("page", "1"), params.get("limit", "5")
        if not (_is_number(page, 7) and _is_number(limit, 4)):
            return None
        page_number, limit_number = int(page), int(limit)
        if not (1 <= page_number <= MAX_PAGE and 1 <= limit_number <= self.max_limit):
            return None
        engine_key = params.get("engine")
        if engine_key is None:
            if "engine_version" in params:
                return None
            digest = view.everything_digest
            cache = getattr(self.state, "body_cache", None)
            key = ("compat-all", digest, page_number, limit_number)
            return self._serve(scope, digest, cache.get(key) if cache is not None else None)
        engine = view.engines.get(engine_key)
        row = engine.version(params.get("engine_version", "latest")) if engine else None
        if row is None:
            return None
        cache = getattr(self.state, "body_cache", None)
        key = ("compat", row.content_digest, page_number, limit_number)
        return self._serve(scope, row.content_digest, cache.get(key) if cache else None)

    def _serve(self, scope: Scope, digest: str, encoded: Encoded | None) -> Answer | None:
        if_none_match = accept_encoding = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"accept-encoding":
                accept_encoding = value
        if if_none_match is not None:
            etag, validators = self._validators_for(digest)
            # The common case, a client sending back exactly what it got, costs one compare.
            if if_none_match == etag or etag_matches(if_none_match.decode("latin-1"), digest):
                return 304, validators, b""
        if encoded is None:
            return None
        if accept_encoding is not None and _gzip_ok(accept_encoding):
            return 200, encoded.gzip_headers, encoded.gzipped
        return 200, encoded.identity_headers, encoded.body

    def _validators_for(self, digest: str) -> tuple[bytes, Headers]:
        found = self._validators.get(digest)
        if found is None:
            headers = validators(digest, self.cache_control)
            found = (headers[0][1], headers)
            if len(self._validators) > 1024:
                self._validators.clear()
            self._validators[digest] = found
        return found
