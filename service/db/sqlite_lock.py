"""One queue for SQLite write transactions, across threads and processes.

SQLite lets one writer in at a time. A writer that finds the database locked
is put to sleep by SQLite's busy handler for 1, 2, 5, 10 … 100 ms before it
looks again, however soon the lock is released. With several service
processes (granian workers) committing audit batches every millisecond, those
sleeps become the latency: queries wait tens or hundreds of milliseconds for a
lock that was free after half a millisecond.

Write transactions (``BEGIN IMMEDIATE``, see :data:`service.db.engine.IMMEDIATE`)
therefore take :class:`WriteLock` first: a thread lock for the process and an
advisory ``flock`` on ``<database>.lock`` for the other processes. The lock is
released as soon as the transaction commits, rolls back or its connection
closes. The database's own locking still applies underneath; this only makes
waiting cheap and fair.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

_LOCKS: dict[str, WriteLock] = {}
_LOCKS_GUARD = threading.Lock()


class WriteLock:
    """Mutual exclusion of write transactions on one SQLite file."""

    def __init__(self, database: str, timeout: float) -> None:
        self._path = database + ".lock"
        self._timeout = timeout
        self._thread_lock = threading.Lock()
        self._fd = -1
        self._pid = -1

    def _file(self) -> int:
        # flock locks belong to the open file description, which a forked child
        # shares with its parent: each process opens its own.
        if self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        """Wait (up to the busy timeout) until no other writer holds the database."""
        deadline = time.monotonic() + self._timeout
        if not self._thread_lock.acquire(timeout=self._timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            fd = self._file()
            delay = 0.00002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise sqlite3.OperationalError("database is locked") from None
                    # Fine-grained at first: the holder usually finishes within a millisecond.
                    time.sleep(delay)
                    delay = min(delay * 2, 0.001)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Let the next writer in."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def write_lock_for(database: str | None, timeout: float = 30.0) -> WriteLock | None:
    """The process-wide lock object for one database file; None for an in-memory
    database, which no other connection can write to."""
    if not database or database == ":memory:":
        return None
    key = os.path.realpath(database)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = WriteLock(key, timeout)
        return lock


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its :class:`WriteLock` back when its
    transaction ends, however it ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding: WriteLock | None = None

    def begin_write(self, lock: WriteLock) -> None:
        """Take ``lock`` and open a write transaction (``BEGIN IMMEDIATE``)."""
        lock.acquire()
        self._holding = lock
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._give_back()
            raise

    def _give_back(self) -> None:
        lock, self._holding = self._holding, None
        if lock is not None:
            lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()
