"""The poll fast path: raw ASGI in front of FastAPI for what a fleet of pollers asks most.

A poll is answered from memory, without the framework and without the database: the view of
current digests (refreshed in the background, see `budconnect.api.app`) decides 304 or 200,
and a 200 sends bytes built once per digest. Anything else, including any request whose
answer is not ready in memory or whose parameters need validating, goes to FastAPI, which
answers it the slow way and fills the caches for the next poll.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from budconnect.api.bodies import BodyCache, Encoded, Headers, accepts_gzip, etag_matches
from budconnect.services.catalog import MAX_PAGE, Catalog

LITELLM_MAP = "model_prices_and_context_window.json"
_LEAVES = {"catalog": "catalog", LITELLM_MAP: "litellm_map", "changes": None}
_COMPAT_PATH = "/model/get-compatible-models"
_COMPAT_PARAMS = frozenset({"engine", "engine_version", "page", "limit"})

Answer = tuple[int, Headers, bytes]


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
        self.cache_control = cache_control.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self.answer(scope)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def answer(self, scope: Scope) -> Answer | None:
        catalog: Catalog | None = getattr(self.state, "catalog", None)
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
            leaf = _LEAVES[parts[6]]
            if leaf is None and b"since=" not in scope["query_string"]:
                return None
            return self._conditional(scope, row.content_digest, catalog, leaf)
        if path == _COMPAT_PATH:
            return self._compat(scope, catalog, view)
        return None

    def _conditional(self, scope: Scope, digest: str, catalog: Catalog, key: Any) -> Answer | None:
        headers = _request_headers(scope)
        if_none_match = headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), digest):
            return 304, self._validators(digest), b""
        if key is None:
            return None
        snapshot = catalog.cached_snapshot(digest)
        encoded: Encoded | None = snapshot.cache.get(key) if snapshot is not None else None
        if encoded is None:
            return None
        body, response_headers = encoded.choose(
            accepts_gzip(headers.get(b"accept-encoding", b"").decode("latin-1"))
        )
        return 200, response_headers, body

    def _compat(self, scope: Scope, catalog: Catalog, view: Any) -> Answer | None:
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if not params.keys() <= _COMPAT_PARAMS:
            return None
        page, limit = params.get("page", "1"), params.get("limit", "5")
        if not (page.isdigit() and limit.isdigit() and len(page) < 8 and len(limit) < 5):
            return None
        page_number, limit_number = int(page), int(limit)
        if not (1 <= page_number <= MAX_PAGE and 1 <= limit_number <= self.max_limit):
            return None
        engine_key = params.get("engine")
        if engine_key is None:
            if "engine_version" in params:
                return None
            digest = view.everything_digest
            cache: BodyCache | None = getattr(self.state, "body_cache", None)
            encoded = (
                cache.get(("compat-all", digest, page_number, limit_number)) if cache else None
            )
            return self._serve(scope, digest, encoded)
        engine = view.engines.get(engine_key)
        row = engine.version(params.get("engine_version", "latest")) if engine else None
        if row is None:
            return None
        snapshot = catalog.cached_snapshot(row.content_digest)
        encoded = snapshot.cache.get(("compat", page_number, limit_number)) if snapshot else None
        return self._serve(scope, row.content_digest, encoded)

    def _validators(self, digest: str) -> Headers:
        return [
            (b"etag", f'"{digest}"'.encode()),
            (b"cache-control", self.cache_control),
            (b"vary", b"Accept-Encoding"),
        ]

    def _serve(self, scope: Scope, digest: str, encoded: Encoded | None) -> Answer | None:
        headers = _request_headers(scope)
        if_none_match = headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), digest):
            return 304, self._validators(digest), b""
        if encoded is None:
            return None
        body, response_headers = encoded.choose(
            accepts_gzip(headers.get(b"accept-encoding", b"").decode("latin-1"))
        )
        return 200, response_headers, body


def _request_headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])
