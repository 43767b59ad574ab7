"""The exception tree of BudConnect.

Every error a caller can cause derives from `BudConnectError` and carries an HTTP status, so the
one problem+json handler in `budconnect.api.problems` and the one CLI handler in
`budconnect.cli` can report it without knowing each kind:

    BudConnectError
    ├── InvalidInput (422)            a value the caller supplied is malformed
    │   ├── InvalidParameters         request parameters, each named in `errors`
    │   ├── InvalidIdentifier         an engine key or version string outside the alphabet
    │   ├── InvalidSourceFile         a data file that is not a JSON object
    │   └── HeldBack                  a data file the gates refuse (too few models, a shrink)
    ├── SourceTooLarge (413)          a data file beyond the size limit
    ├── NotFound (404)
    │   ├── UnknownEngine             names the engines that exist
    │   ├── UnknownVersion            names the versions that exist
    │   └── SourceFileMissing         no bundled file for that engine and version
    ├── Gone (410)                    a change-feed revision older than the kept history
    ├── SchemaOutOfDate (503)         the database needs `budconnect migrate`
    ├── DatabaseUnavailable (503)     the database cannot be reached, is busy, or hangs
    ├── Busy (503)                    too many expensive requests at once; retry shortly
    ├── ClientGone (499)              the client left before its answer was built
    └── UnsupportedEngine (422)       no parser for that engine's data format
"""

from __future__ import annotations

from typing import Any


class BudConnectError(Exception):
    """Base of every error BudConnect reports to a caller."""

    status: int = 500
    title: str = "Internal error"
    # Set where `detail` may carry internals (a driver's message naming hosts and databases):
    # HTTP answers say this instead and the full detail goes to the log; the CLI says it all.
    public_detail: str | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(BudConnectError):
    status = 422
    title = "Invalid input"


class InvalidParameters(InvalidInput):
    """One or more request parameters are wrong; `errors` lists each with where it was."""

    title = "Invalid request parameters"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        super().__init__(detail, errors=errors)

    @staticmethod
    def one(parameter: str, message: str, where: str = "query") -> InvalidParameters:
        return InvalidParameters([{"parameter": parameter, "in": where, "message": message}])


class InvalidIdentifier(InvalidInput):
    title = "Invalid identifier"


class InvalidSourceFile(InvalidInput):
    title = "Invalid source file"


class HeldBack(InvalidInput):
    """The gates refuse a source: it would replace a catalog by a much smaller one."""

    title = "Held back by the gates"


class SourceTooLarge(BudConnectError):
    status = 413
    title = "Source file too large"


class UnsupportedEngine(InvalidInput):
    title = "Unsupported engine"


class NotFound(BudConnectError):
    status = 404
    title = "Not found"


class UnknownEngine(NotFound):
    title = "Unknown engine"


class UnknownVersion(NotFound):
    title = "Unknown engine version"


class SourceFileMissing(NotFound):
    title = "Source file not found"


class Gone(BudConnectError):
    status = 410
    title = "Gone"


class SchemaOutOfDate(BudConnectError):
    status = 503
    title = "Database schema out of date"


class Busy(BudConnectError):
    status = 503
    title = "Busy"


class ClientGone(BudConnectError):
    # nginx's "client closed request": nobody reads this answer.
    status = 499
    title = "Client closed request"


class DatabaseUnavailable(BudConnectError):
    status = 503
    title = "Database unavailable"
    public_detail = "the registry's database cannot be reached right now; retry shortly"
