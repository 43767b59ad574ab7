"""How the routes answer a poll: the shared logic of `budconnect.api.polls`, run in a thread."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from budconnect.api.negotiation import Headers, accepts_gzip
from budconnect.api.polls import Polls
from budconnect.api.queries import Poll


class EncodedResponse(Response):
    """A response whose body and header list were prepared in advance."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = list(headers)


async def answer_poll(request: Request, poll: Poll) -> Response:
    polls: Polls = request.app.state.polls
    gzip_ok = accepts_gzip(request.headers.get("accept-encoding", ""))
    if_none_match = request.headers.get("if-none-match")
    answer = await run_in_threadpool(polls.answer, poll, if_none_match, gzip_ok, block=True)
    assert answer is not None  # a blocking answer always has one
    return EncodedResponse(*answer)
