"""Bearer tokens on requests: who may write (admin), and, optionally, who may read.

With no admin token configured, writes are off (403); with no read token configured, reads
are open. Tokens are never logged nor echoed (see `budconnect.domain.tokens`).
"""

from __future__ import annotations

import base64
import binascii

import orjson
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from budconnect.api.ratelimit import RateLimit, TooManyRequests
from budconnect.domain.tokens import Tokens
from budconnect.errors import BudConnectError


class Unauthorized(BudConnectError):
    status = 401
    title = "Unauthorized"


class Forbidden(BudConnectError):
    status = 403
    title = "Forbidden"


def for_people(path: str) -> bool:
    """The paths of pages (the web catalog, the fleet page): their errors are pages, and a
    token they need is asked for as a browser asks, a password (Basic)."""
    return path in ("/", "/catalog", "/fleet") or path.startswith("/catalog/")


def bearer(authorization: str | None, *, basic: bool = True) -> str | None:
    """The token an Authorization header presents: `Bearer TOKEN`, or, with `basic`, the
    password of `Basic` (what a browser sends once asked for a user and password; the user
    name is not looked at). A browser sends a saved password on its own, to requests other
    sites start too: writes take a bearer token only (`basic=False`)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "basic" and basic:
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        token = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        return None
    return token.strip() or None


def require(
    tokens: Tokens,
    request: Request,
    *,
    what: str,
    readers: Tokens | None = None,
    basic: bool = True,
) -> str:
    """The name of the token the request bears, or a 401/403 problem (nothing is echoed): 401
    for no token or an unknown one, 403 for a read token, which is known but may only read.
    Without `basic`, only a bearer token counts (see `bearer`)."""
    if not tokens:
        raise Forbidden(f"{what} is disabled: no token for it is configured on this server")
    token = bearer(request.headers.get("authorization"), basic=basic)
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

    In front of the poll fast path, so no answer leaves without it. A request bearing a token
    that is not valid spends one of its client's `guesses`; a client with none left is answered
    429 whatever token it bears (were a right guess let through, 200 against 429 would still
    tell it apart), while clients that never guessed wrong are never slowed down."""

    OPEN = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, readers: Tokens, admins: Tokens, guesses: RateLimit) -> None:
        self.app = app
        self.readers = readers
        self.admins = admins
        self.guesses = guesses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN:
            await self.app(scope, receive, send)
            return
        authorization = next(
            (v.decode("latin-1") for n, v in scope["headers"] if n == b"authorization"), None
        )
        token = bearer(authorization)
        page = for_people(scope["path"])
        if token is None:
            await _refuse(
                send,
                Unauthorized("reading needs a bearer token (Authorization: Bearer ...)"),
                page=page,
            )
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            self.guesses.check(client)
            if (self.readers.who(token) or self.admins.who(token)) is None:
                self.guesses.take(client)
                await _refuse(send, Unauthorized("the bearer token is not valid here"), page=page)
                return
        except TooManyRequests as refused:
            await _refuse(send, refused)
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, error: BudConnectError, *, page: bool = False) -> None:
    """The problem+json answer the exception handler would give (no route runs here); to a
    page, a 401 asks for the token as a browser asks, a password."""
    kind = "unauthorized" if isinstance(error, Unauthorized) else "too-many-requests"
    body = orjson.dumps(
        {
            "type": f"urn:budconnect:problem:{kind}",
            "title": error.title,
            "status": error.status,
            "detail": error.detail,
            **error.extra,
        }
    )
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if isinstance(error, Unauthorized):
        scheme = b"Basic" if page else b"Bearer"
        headers.append((b"www-authenticate", scheme + b' realm="budconnect"'))
    if "retry_after" in error.extra:
        headers.append((b"retry-after", str(error.extra["retry_after"]).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
