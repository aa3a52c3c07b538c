"""Background WAL checkpoints for the embedded SQLite database.

SQLite normally checkpoints from inside a commit once the write-ahead log
passes 1,000 pages: that commit then copies pages into the database file and
waits for an fsync, tens of milliseconds during which the audit log's group
commit (and, for the event loop's batches, every request) stands still. The
service's connections turn that off (``wal_autocheckpoint=0``) and this thread
runs a ``PASSIVE`` checkpoint instead, which never waits for readers or writers;
the sqlite3 module releases the GIL while it runs.
"""

from __future__ import annotations

from sqlalchemy import Engine

from service.background import Periodic


class WalCheckpointer:
    """Checkpoints the WAL every ``interval`` seconds in the background (SQLite only)."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self._engine = engine
        self._periodic = Periodic("wal-checkpoint", interval, self.checkpoint, final_run=True)

    def start(self) -> None:
        """Start checkpointing (idempotent; does nothing on other databases)."""
        if self._engine.dialect.name == "sqlite":
            self._periodic.start()

    def stop(self) -> None:
        """Stop, after one last checkpoint."""
        self._periodic.stop()

    def checkpoint(self) -> None:
        """Run one PASSIVE checkpoint."""
        pooled = self._engine.raw_connection()
        try:
            pooled.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            pooled.close()
