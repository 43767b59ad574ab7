"""Bearer tokens on requests: who may write (admin), and, optionally, who may read.

With no admin token configured, writes are off (403); with no read token configured, reads
are open. Tokens are never logged nor echoed (see `budconnect.domain.tokens`).
"""

from __future__ import annotations

import orjson
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from budconnect.domain.tokens import Tokens
from budconnect.errors import BudConnectError


class Unauthorized(BudConnectError):
    status = 401
    title = "Unauthorized"


class Forbidden(BudConnectError):
    status = 403
    title = "Forbidden"


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(tokens: Tokens, request: Request, *, what: str, readers: Tokens | None = None) -> str:
    """The name of the token the request bears, or a 401/403 problem (nothing is echoed): 401
    for no token or an unknown one, 403 for a read token, which is known but may only read."""
    if not tokens:
        raise Forbidden(f"{what} is disabled: no token for it is configured on this server")
    token = bearer(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized(f"{what} needs a bearer token (Authorization: Bearer ...)")
    name = tokens.who(token)
    if name is None:
        if readers and readers.who(token) is not None:
            raise Forbidden(f"a read token may not be used for {what}: it needs an admin token")
        raise Unauthorized("the bearer token is not valid here")
    return name


class ReadAuth:
    """ASGI middleware: every request but the probes needs a read (or admin) token.

    In front of the poll fast path, so no answer leaves without it."""

    OPEN = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, readers: Tokens, admins: Tokens) -> None:
        self.app = app
        self.readers = readers
        self.admins = admins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.OPEN:
            authorization = next(
                (v.decode("latin-1") for n, v in scope["headers"] if n == b"authorization"), None
            )
            token = bearer(authorization)
            if token is None or (self.readers.who(token) or self.admins.who(token)) is None:
                detail = (
                    "reading needs a bearer token (Authorization: Bearer ...)"
                    if token is None
                    else "the bearer token is not valid here"
                )
                body = orjson.dumps(
                    {
                        "type": "urn:budconnect:problem:unauthorized",
                        "title": "Unauthorized",
                        "status": 401,
                        "detail": detail,
                    }
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="budconnect"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
