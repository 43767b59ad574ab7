"""Database engines and the two kinds of transaction: consistent reads and serialized writes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError

from budconnect.errors import DatabaseUnavailable
from budconnect.storage.known_entries import KnownEntries

# Any constant works; it only has to be the same for every BudConnect process on a server.
_WRITE_LOCK_KEY = 0x42554443  # "BUDC"


def json_dumps(value: Any) -> str:
    # The parser only lets through values orjson encodes exactly (no integers beyond 64 bits,
    # no lone surrogates), so anything else failing here is a bug to see, not to paper over.
    return orjson.dumps(value).decode()


def normalize_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3, the driver BudConnect ships with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An Engine for `url`. Nothing connects until the first use."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        parsed = make_url(url)
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            # Each pooled connection would get a database of its own, empty, gone with it.
            raise ValueError(
                "an in-memory SQLite database lasts one connection: name a file "
                "(sqlite:///path/to/budconnect.db)"
            )
        engine = create_engine(
            url,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    # libpq waits for a connection as long as the network lets it; an unreachable server must
    # become a prompt 503, not a request hung for minutes. A URL may set its own.
    timeout = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": 5}
    return create_engine(
        url,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
        pool_pre_ping=True,
        # A request waits this long for a pooled connection: when every connection is held
        # by a database that hangs, the request fails (503) instead of queueing forever.
        pool_timeout=5,
        connect_args=timeout,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes SQLite's write lock at BEGIN, so two seeders queue instead of one
        # failing half-way when the other commits between its reads and its writes.
        if connection.get_execution_options().get("budconnect_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once; it stays WAL for every later connection.

    The switch needs an exclusive lock and SQLite does not wait for it with the busy handler,
    so two processes opening a new file at once retry here instead of failing.
    """
    deadline = time.monotonic() + 30
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower()
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if mode != "wal":  # a database that cannot be WAL (not a file): SQLite says which
            raise sqlite3.OperationalError(f"journal mode {mode}, not WAL: not a database file")


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Connection failures and lock timeouts become DatabaseUnavailable (a 503, not a 500)."""
    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        if type(exc) is not OperationalError and type(exc) is not DatabaseError:
            raise  # an integrity or programming error is a bug to see, not an outage
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailable(f"database unavailable: {reason}") from exc


class Database:
    """The database of one BudConnect process."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        # Ids of the entries seeds by this process wrote last (see storage.known_entries).
        self.known_entries = KnownEntries()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that sees one consistent snapshot for all its statements."""
        with unavailable_as_error(), self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if not self.is_sqlite:
                    # No read of BudConnect's takes long; one that does is stuck on a lock.
                    conn.exec_driver_sql("SET LOCAL statement_timeout = '30s'")
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """The one kind of transaction that changes data; writers run one at a time.

        It commits when the block ends normally and rolls back on any exception, so a unit of
        work either fully applies or leaves the database exactly as before.
        """
        with unavailable_as_error(), self.engine.connect() as conn:
            conn = conn.execution_options(budconnect_write=True)
            with conn.begin():
                if not self.is_sqlite:
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY}
                    )
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()
