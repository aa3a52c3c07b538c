"""Raw driver access for the hot read paths.

The governed query runs a handful of primary-key and index lookups per request.
Through the ORM each costs a few hundred microseconds, through SQLAlchemy Core
about twenty; on the driver's own cursor about two. These helpers speak the
driver's paramstyle and turn stored values into the same Python types the
models use (aware UTC datetimes, dates, JSON lists) on SQLite and PostgreSQL.

Statements are constants written with ``?`` placeholders; values are always
bound parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.db.paramstyle import for_driver


class RawConnection:
    """A DBAPI connection and the dialect it belongs to."""

    __slots__ = ("_conn", "_paramstyle", "_pg")

    def __init__(self, dbapi_connection: Any, dialect: str) -> None:
        self._conn = dbapi_connection
        self._pg = dialect != "sqlite"
        self._paramstyle = "pyformat" if self._pg else "qmark"

    def sql(self, statement: str) -> str:
        """``statement`` in the driver's paramstyle (sqlite3 ``?``, psycopg ``%s``)."""
        return for_driver(statement, self._paramstyle)

    def one(self, statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row, or None."""
        # sqlite3 and psycopg both run a statement on a fresh cursor with execute().
        row = self._conn.execute(self.sql(statement), params).fetchone()
        return None if row is None else tuple(row)

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row."""
        return [tuple(r) for r in self._conn.execute(self.sql(statement), params).fetchall()]

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run a write statement; the number of rows it changed."""
        return int(self._conn.execute(self.sql(statement), params).rowcount)

    def bind_datetime(self, value: datetime) -> Any:
        """``value`` as the column type :class:`~service.db.types.UTCDateTime` stores it,
        so that comparisons in SQL agree with the ORM's."""
        utc = value.astimezone(UTC)
        if self._pg:
            return utc
        # SQLAlchemy's SQLite DATETIME text form, microseconds always present, so
        # that string comparison orders the same as time.
        return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"


def of_session(session: Session) -> RawConnection:
    """The raw connection under ``session``'s current transaction."""
    conn = session.connection()
    return RawConnection(conn.connection.dbapi_connection, conn.dialect.name)


@contextmanager
def raw_connection(engine: Engine) -> Iterator[RawConnection]:
    """A pooled connection for autocommitted reads (SQLite) or one read transaction
    (PostgreSQL), returned to the pool (and rolled back) on exit."""
    pooled = engine.raw_connection()
    try:
        yield RawConnection(pooled.driver_connection, engine.dialect.name)
    finally:
        pooled.close()


class ThreadReaders:
    """One long-lived, autocommitting connection per thread, for short reads.

    Checking a connection out of SQLAlchemy's pool and back (with its reset)
    costs more than the reads of a governed query. Each thread keeps its own
    connection instead, detached from the pool so that it never goes back to
    transactional users in autocommit mode. Every read is its own snapshot;
    callers that need several reads to agree must use a transaction instead.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> RawConnection:
        pooled = self._engine.raw_connection()
        dbapi: Any = pooled.driver_connection
        pooled.detach()
        if self._engine.dialect.name != "sqlite":
            dbapi.rollback()
            dbapi.autocommit = True
        with self._lock:
            if self._closed:
                dbapi.close()
                raise RuntimeError("the database readers are closed")
            self._opened.append(dbapi)
        conn = RawConnection(dbapi, self._engine.dialect.name)
        self._local.conn = conn
        return conn

    @contextmanager
    def __call__(self) -> Iterator[RawConnection]:
        """This thread's reader."""
        conn: RawConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
        try:
            yield conn
        except self._engine.dialect.loaded_dbapi.OperationalError:
            # A broken connection (server restart, network) is replaced on next use.
            self._local.conn = None
            raise

    def close(self) -> None:
        """Close every thread's connection (at shutdown)."""
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for dbapi in opened:
            # At shutdown a connection that will not close has nothing left to lose.
            with suppress(Exception):
                dbapi.close()


def as_datetime(value: Any) -> datetime:
    """A stored UTCDateTime as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_date(value: Any) -> date:
    """A stored Date."""
    if isinstance(value, str):
        return date.fromisoformat(value)
    assert isinstance(value, date)
    return value


# The same values as json.loads for what the service stores, at a third of the cost.
_decode_json = msgspec.json.Decoder().decode


def as_json(value: Any) -> Any:
    """A stored JSON column (text on SQLite, already decoded by psycopg)."""
    return _decode_json(value) if isinstance(value, str | bytes) else value


def as_bytes(value: Any) -> bytes | None:
    """A stored blob (psycopg returns bytes, some drivers memoryview)."""
    return None if value is None else bytes(value)
