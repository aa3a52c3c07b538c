"""The background WAL checkpoint keeps up with a busy writer and readers (SQLite): with
commits never checkpointing, it alone keeps the write-ahead log from growing."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from service.db.checkpointer import WalCheckpointer
from service.db.engine import make_engine
from service.db.sqlite_lock import LockingConnection, write_lock_for


def _write_until(path: str, stop: threading.Event) -> None:
    # Back-to-back write transactions from another process, as fast as the disk takes
    # them (no GIL shared with the checkpointer), queued on the same write lock as the
    # service's writers.
    lock = write_lock_for(path, 30.0)
    assert lock is not None
    conn = sqlite3.connect(path, factory=LockingConnection, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    rows = [(b"x" * 2000,)] * 20
    while not stop.is_set():
        conn.begin_write(lock)
        conn.executemany("INSERT INTO filler (pad) VALUES (?)", rows)
        conn.commit()
    conn.close()


def _wait_for_rows(engine: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM filler")).scalar_one():
                return
        assert time.monotonic() < deadline, "the writer process never wrote"
        threading.Event().wait(0.05)


def test_checkpoints_complete_and_the_wal_stays_bounded_under_constant_writes(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)"))
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writer = ctx.Process(target=_write_until, args=(str(path), stop), daemon=True)
    writer.start()
    checkpointer = WalCheckpointer(engine)
    results = []
    reading = threading.Event()

    def read() -> None:
        # Short reads all the time, as the service's requests make them.
        pooled = engine.raw_connection()
        try:
            while not reading.is_set():
                pooled.driver_connection.execute("SELECT max(id) FROM filler").fetchone()
        finally:
            pooled.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _wait_for_rows(engine)  # the writer process is up and writing (starting it can take a while)
        for _ in range(20):
            threading.Event().wait(0.1)
            results.append(checkpointer.checkpoint())
    finally:
        stop.set()
        reading.set()
        reader.join()
        writer.join(timeout=30)
        with engine.connect() as conn:
            written = conn.execute(text("SELECT count(*) FROM filler")).scalar_one()
        engine.dispose()
    assert written  # the writer kept writing throughout (how much is the disk's business)
    # The checkpoints catch up with the writer (a reader's snapshot may hold back a few
    # frames), so the WAL starts over: each checkpoint sees what was written since the
    # last one, instead of everything written so far. A WAL that never starts over only
    # grows while the writer writes, so its frame count would rise at every look; one
    # that starts over stays level or falls (how far varies with the disk and the load,
    # so only the looks where it did not rise are counted).
    frames = [f for f, _ in results]
    assert sum(copied for _, copied in results) >= 0.9 * sum(frames), results
    restarts = sum(1 for before, after in itertools.pairwise(frames) if after <= before)
    assert restarts >= 3, frames
