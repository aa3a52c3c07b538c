"""Reading the audit tables row by row, straight from the database driver.

Verification reads every entry, and ORM or Core layers would cost more than the
checks themselves. This module imports nothing heavier than the driver and the
``audit`` package, so that verification worker processes start quickly; it
works on any DB-API connection (sqlite3 or psycopg).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from audit import Checkpoint, MerkleFrontier
from service.db.paramstyle import for_driver

#: Entry fields copied into columns of ``audit_entries`` for querying.
AUDIT_COLUMNS = ("ts", "actor_type", "actor_id", "action", "subject", "consent_id", "decision", "purpose", "reason")

# Built only from constant column names; values are always bound parameters.
_SELECT_ENTRIES = (
    "SELECT seq, body, leaf_hash, " + ", ".join(AUDIT_COLUMNS) + " FROM audit_entries "  # noqa: S608
    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
_SELECT_LEAVES = "SELECT seq, leaf_hash FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
_SELECT_CHECKPOINTS = "SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoints ORDER BY tree_size"
_SELECT_FRONTIER = "SELECT frontier FROM audit_checkpoints WHERE tree_size = ?"


class LogReader:
    """Keyset-paged reads of one audit log through a DB-API connection."""

    def __init__(self, dbapi_connection: Any, paramstyle: str) -> None:
        self._conn = dbapi_connection
        self._paramstyle = paramstyle

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        cur = self._conn.cursor()
        try:
            cur.execute(for_driver(statement, self._paramstyle), params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def _pages(self, statement: str, after: int, last: int, page: int) -> Iterator[list[Any]]:
        while True:
            rows = self._fetch(statement, (after, last, page))
            if not rows:
                return
            yield rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def rows(self, start: int = 1, end: int | None = None, page: int = 20_000) -> Iterator[Sequence[Any]]:
        """``(seq, body, leaf_hash, *AUDIT_COLUMNS)`` for seq ``start``..``end``, in order."""
        for rows in self._pages(_SELECT_ENTRIES, start - 1, end if end is not None else 2**62, page):
            yield from rows

    def leaf_hashes(self, end: int, page: int = 100_000) -> Iterator[tuple[int, bytes]]:
        """(seq, stored leaf hash) for seq 1..``end``, in order."""
        for rows in self._pages(_SELECT_LEAVES, 0, end, page):
            for seq, lh in rows:
                yield seq, bytes(lh)

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, smallest tree first."""
        return [
            Checkpoint(tree_size=int(r[0]), root_hash=bytes(r[1]), ts=r[2], key_id=r[3], signature=bytes(r[4]))
            for r in self._fetch(_SELECT_CHECKPOINTS, ())
        ]

    def frontier_at(self, size: int) -> MerkleFrontier | None:
        """The frontier stored with the checkpoint at ``size`` (unverified), if any."""
        found = self._fetch(_SELECT_FRONTIER, (size,))
        if not found or found[0][0] is None:
            return None
        try:
            frontier = MerkleFrontier.from_bytes(bytes(found[0][0]))
        except ValueError:
            return None
        return frontier if frontier.size == size else None

    def rebuilt_frontier(self, size: int) -> MerkleFrontier:
        """The frontier of the first ``size`` stored leaf hashes (fewer if rows are missing)."""
        frontier = MerkleFrontier()
        for _, lh in self.leaf_hashes(size):
            frontier.append(lh)
        return frontier
