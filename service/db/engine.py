"""Engine construction: SQLite in WAL mode with foreign keys, or PostgreSQL via psycopg."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from service.db.paramstyle import for_driver
from service.db.sqlite_lock import LockingConnection, WriteLock, write_lock_for

# Execution option naming a SQLite write transaction that must take the write
# lock at BEGIN; a deferred transaction that upgrades later can fail with
# SQLITE_BUSY even with a busy timeout, which would lose an audit append.
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}


def driver_sql(engine: Engine, statement: str) -> str:
    """``statement`` (``?`` placeholders) in the paramstyle of ``engine``'s driver."""
    return for_driver(statement, engine.dialect.paramstyle)


def create_private_file(path: Path) -> None:
    """Create ``path`` (and its directory) readable by the owner only, unless it exists.

    SQLite creates the WAL and shared-memory files with the permissions of the
    database file, so a database created here keeps all three at mode 0600, like
    the key file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def make_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool the service relies on.

    ``background_checkpoints``: on SQLite, commits never checkpoint the WAL; the
    caller runs :class:`~service.db.checkpointer.WalCheckpointer` instead (the
    service process does). Other users keep SQLite's automatic checkpoints.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            create_private_file(Path(parsed.database))
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        kwargs["connect_args"].setdefault("factory", LockingConnection)
        kwargs.setdefault("pool_size", 40)
        kwargs.setdefault("max_overflow", 10)
        engine = create_engine(url, **kwargs)
        lock = write_lock_for(parsed.database, float(kwargs["connect_args"]["timeout"]))
        _configure_sqlite(engine, lock, background_checkpoints)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, lock: WriteLock | None, background_checkpoints: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN
        # is issued by us, with the locking mode we ask for.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk when it returns; the audit log promises that.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        if background_checkpoints:
            # Checkpoints run in the background (service.db.checkpointer), never inside a commit.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        dbapi = conn.connection.dbapi_connection
        if mode == "IMMEDIATE" and lock is not None and isinstance(dbapi, LockingConnection):
            # Writers queue on the lock (see service.db.sqlite_lock), not in SQLite's busy handler.
            dbapi.begin_write(lock)
            return
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
