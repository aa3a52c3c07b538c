"""Background WAL checkpoints for the embedded SQLite database.

SQLite normally checkpoints from inside a commit once the write-ahead log
passes 1,000 pages: that commit then copies pages into the database file and
waits for an fsync, tens of milliseconds during which the audit log's group
commit (and, for the event loop's batches, every request) stands still. The
service's connections turn that off (``wal_autocheckpoint=0``) and this thread
checkpoints every half second instead, holding writers up only for the last few
frames (see :meth:`WalCheckpointer.checkpoint`); the sqlite3 module releases the
GIL while it runs.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import Engine

from service.background import Periodic
from service.db.sqlite_lock import write_lock_for


class WalCheckpointer:
    """Checkpoints the WAL every ``interval`` seconds in the background (SQLite only)."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self._engine = engine
        self._periodic = Periodic("wal-checkpoint", interval, self.checkpoint, final_run=True)
        self._write_lock = write_lock_for(engine.url.database) if engine.dialect.name == "sqlite" else None

    def start(self) -> None:
        """Start checkpointing (idempotent; does nothing on other databases)."""
        if self._engine.dialect.name == "sqlite":
            self._periodic.start()

    def stop(self) -> None:
        """Stop, after one last checkpoint."""
        self._periodic.stop()

    def checkpoint(self) -> tuple[int, int]:
        """Checkpoint the whole WAL; (frames in the WAL, frames checkpointed) at the end.

        A checkpoint running beside a busy writer never catches up: by the time it
        has copied the frames it saw, new ones follow, the WAL never starts over and
        grows without bound (and every commit's fsync then pays for a longer file).
        So the bulk is copied without holding writers up, then the few frames
        written meanwhile under the write lock: the checkpoint completes and the
        next writer starts the WAL from its beginning again.
        """
        pooled = self._engine.raw_connection()
        try:
            conn: Any = pooled.driver_connection
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            with self._write_lock or nullcontext():
                row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            pooled.close()
        return int(row[1]), int(row[2])
