"""The background WAL checkpoint keeps up with a busy writer (SQLite)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from service.db.checkpointer import WalCheckpointer
from service.db.engine import IMMEDIATE, make_engine


def test_checkpoints_complete_and_the_wal_stays_bounded_under_constant_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)"))
    stop = threading.Event()
    commits = [0]

    def write() -> None:
        # Back-to-back write transactions, as the audit log's group commits are under load.
        pad = b"x" * 2000
        while not stop.is_set():
            with engine.connect() as conn:
                conn.execution_options(**IMMEDIATE)
                with conn.begin():
                    conn.execute(text("INSERT INTO filler (pad) VALUES (:p)"), [{"p": pad}] * 20)
            commits[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    checkpointer = WalCheckpointer(engine)
    wal = tmp_path / "busy.db-wal"
    sizes, results = [], []
    try:
        for _ in range(20):
            threading.Event().wait(0.1)
            results.append(checkpointer.checkpoint())
            sizes.append(wal.stat().st_size)
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert commits[0] > 100
    # Every checkpoint caught up with the writer (frames in the WAL == frames copied) ...
    assert all(frames == copied for frames, copied in results), results
    # ... so the WAL started over instead of growing with every transaction.
    assert max(sizes[10:]) <= 2 * max(sizes[:10]), sizes
