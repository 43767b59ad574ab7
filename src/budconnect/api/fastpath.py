"""The poll fast path: raw ASGI in front of FastAPI for what a fleet of pollers asks most.

A poll is answered from memory, without the framework and without the database: the view of
current digests (refreshed in the background, see `budconnect.api.app`) decides 304 or 200,
and a 200 sends bytes built once per digest. The rules are not written here: the query is
read by `budconnect.api.queries` and answered by `budconnect.api.polls`, exactly as the
routes do. Whatever is not ready in memory, or is an error to explain, goes on to FastAPI.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from budconnect.api.fleet import FleetRecorder
from budconnect.api.negotiation import conditions
from budconnect.api.polls import Answer, Polls
from budconnect.api.queries import (
    Poll,
    PollKind,
    changes_poll,
    compat_poll,
    query_text,
    snapshot_poll,
)
from budconnect.domain.documents import LITELLM_MAP
from budconnect.errors import BudConnectError

COMPAT_PATH = "/model/get-compatible-models"
_LEAVES = {"catalog": PollKind.CATALOG, LITELLM_MAP: PollKind.LITELLM_MAP,
           "changes": PollKind.CHANGES}  # fmt: skip


# Large bodies go out in pieces, and the worker turns to its other connections between two
# pieces. A loopback or fast client drains the socket as fast as it is written, so without
# the explicit turn a worker would push a whole multi-megabyte body before reading the next
# poll: twenty clients pulling `changes?since=0` then cut other clients' 304 polls to a
# quarter (bench/serve.py, flood). Handing over every 64 KiB keeps them at about 1.5x (128
# KiB: 2x), at the price of about a third of the rate at which one worker can send nothing
# but gzipped catalogs (still over a gigabyte a second): polls first, bulk transfers after.
CHUNK = 64 * 1024


async def send_body(send: Send, body: bytes) -> None:
    for start in range(0, len(body), CHUNK):
        if start:
            await asyncio.sleep(0)  # let the event loop serve other connections
        more = start + CHUNK < len(body)
        await send(
            {"type": "http.response.body", "body": body[start : start + CHUNK], "more_body": more}
        )
    if not body:
        await send({"type": "http.response.body", "body": b""})


def poll_of(path: str, query: str, max_limit: int) -> Poll | None:
    """The poll a request path names, or None for any other path. Raises InvalidParameters."""
    if path == COMPAT_PATH:
        return compat_poll(query, max_limit)
    if not path.startswith("/v1/engines/"):
        return None
    parts = path.split("/")
    # ['', 'v1', 'engines', engine, 'versions', version, leaf]; an empty engine or version
    # is no route (the router's 404), never `latest`.
    if len(parts) != 7 or parts[4] != "versions" or parts[6] not in _LEAVES:
        return None
    if not parts[3] or not parts[5]:
        return None
    kind = _LEAVES[parts[6]]
    if kind is PollKind.CHANGES:
        return changes_poll(parts[3], parts[5], query)
    if kind is PollKind.LITELLM_MAP and parts[3] != "litellm":
        return None
    return snapshot_poll(kind, parts[3], parts[5], query)


class PollFastPath:
    """ASGI middleware answering polls whose answer is in memory; the rest goes to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        polls: Polls,
        fleet: FleetRecorder,
        *,
        max_age: float,
        max_limit: int,
    ) -> None:
        self.app = app
        self.polls = polls
        self.fleet = fleet
        self.max_age = max_age
        self.max_limit = max_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            answer = self.answer(scope)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send_body(send, body)
                return
        await self.app(scope, receive, send)

    def answer(self, scope: Scope) -> Answer | None:
        view = self.polls.catalog.fresh_view(self.max_age)
        if view is None:
            return None
        try:
            poll = poll_of(scope["path"], query_text(scope), self.max_limit)
            if poll is None:
                return None
            if_none_match, gzip_ok, agent = conditions(scope["headers"])
            client = scope.get("client")
            who = (client[0] if client else "", agent)
            answer = self.polls.answer(
                poll, if_none_match, gzip_ok, block=False, view=view, client=who
            )
            if answer is not None:
                self.fleet.saw(
                    scope["headers"], who[0], agent, poll.engine, poll.version, answer[1],
                    first_page=poll.kind is PollKind.COMPAT and poll.page == 1,
                )  # fmt: skip
            return answer
        except BudConnectError:
            # Errors are explained by the routes, which reach the same verdict the same way.
            return None
