"""Answering requests with encoded bodies: conditional GETs and content negotiation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from budconnect.api.bodies import Encoded, accepts_gzip, etag_matches


class EncodedResponse(Response):
    """A response whose body and header list were prepared in advance."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = list(headers)


def encoded_response(request: Request, encoded: Encoded) -> Response:
    """304 when the client holds this representation; otherwise the body, gzipped if accepted."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match, encoded.digest):
        return EncodedResponse(304, b"", encoded.not_modified_headers)
    body, headers = encoded.choose(accepts_gzip(request.headers.get("accept-encoding", "")))
    return EncodedResponse(200, body, headers)
