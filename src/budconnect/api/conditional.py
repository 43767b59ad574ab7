"""How the routes answer a poll: the shared logic of `budconnect.api.polls`, run in a thread."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response

from budconnect.api.blocking import Blocking
from budconnect.api.fleet import FleetRecorder
from budconnect.api.negotiation import Headers, conditions
from budconnect.api.polls import Polls
from budconnect.api.queries import Poll, PollKind
from budconnect.api.ratelimit import RateLimit


class EncodedResponse(Response):
    """A response whose body and header list were prepared in advance."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = list(headers)


async def answer_poll(request: Request, poll: Poll) -> Response:
    """Answer from memory when possible (as the fast path would); else read and build in a
    worker thread, within the bounds of `Blocking`."""
    polls: Polls = request.app.state.polls
    blocking: Blocking = request.app.state.blocking
    if_none_match, gzip_ok, agent = conditions(request.scope["headers"])
    client = (request.client.host if request.client else "", agent)
    # The view the fast path would trust (or, while the database fails, the last one read).
    view = polls.catalog.fresh_view(2 * polls.catalog.check_interval)
    answer = None
    if view is not None:
        answer = polls.answer(poll, if_none_match, gzip_ok, block=False, view=view, client=client)
    if answer is None:
        charge = None
        if poll.kind is not PollKind.COMPAT:
            # Building a body (reading a snapshot or a change feed) is bounded per client;
            # pages are cut from a snapshot in memory and cost no more than a poll. Only the
            # request that builds is charged: when a publish sends a whole fleet (perhaps
            # behind one address) to the new catalog at once, the rest wait for that build.
            limit: RateLimit = request.app.state.read_limit
            charge = functools.partial(limit.take, client[0])
        answer = await blocking.run(
            request, polls.answer, poll, if_none_match, gzip_ok, block=True, client=client,
            charge=charge,
        )  # fmt: skip
    assert answer is not None  # a blocking answer always has one
    fleet: FleetRecorder = request.app.state.fleet
    fleet.saw(
        request.scope["headers"], client[0], client[1], poll.engine, poll.version, answer[1],
        first_page=poll.kind is PollKind.COMPAT and poll.page == 1,
    )  # fmt: skip
    return EncodedResponse(*answer)
