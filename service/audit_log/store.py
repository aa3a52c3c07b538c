"""Reading the audit tables back: streaming entries, checkpoints, verify and export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select

from audit import Checkpoint, StoredEntry, VerifyReport, key_id_for, verify_log, write_export
from service.audit_log.models import AUDIT_COLUMNS, AuditEntryRow, CheckpointRow
from service.db.engine import driver_sql

_ENTRY_COLS = [AuditEntryRow.__table__.c[name] for name in ("seq", "body", "leaf_hash", *AUDIT_COLUMNS)]  # type: ignore[attr-defined]


# Built only from constant column names; values are always bound parameters.
_SELECT_ENTRIES = (
    "SELECT seq, body, leaf_hash, " + ", ".join(AUDIT_COLUMNS) + " FROM audit_entries "  # noqa: S608
    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
_SELECT_LEAVES = "SELECT seq, leaf_hash FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"


def _pages(engine: Engine, statement: str, after: int, last: int, page: int) -> Iterator[list[Any]]:
    """Rows with ``after < seq <= last`` in keyset pages, straight from the driver:
    verification reads every entry, and the ORM layers would cost more than the checks."""
    sql = driver_sql(engine, statement)
    while True:
        with engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cur.execute(sql, (after, last, page))
            rows = cur.fetchall()
            cur.close()
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        after = rows[-1][0]


def iter_entries(
    engine: Engine, *, start: int = 1, end: int | None = None, page: int = 20_000
) -> Iterator[StoredEntry]:
    """Entries ``start``..``end`` in ``seq`` order; neither side holds the whole log in memory."""
    names = AUDIT_COLUMNS
    for rows in _pages(engine, _SELECT_ENTRIES, start - 1, end if end is not None else 2**62, page):
        for row in rows:
            yield StoredEntry(row[0], bytes(row[1]), bytes(row[2]), dict(zip(names, row[3:], strict=True)))


def leaf_hashes(engine: Engine, end: int, page: int = 100_000) -> Iterator[tuple[int, bytes]]:
    """(seq, stored leaf hash) for seq 1..``end``, in order."""
    for rows in _pages(engine, _SELECT_LEAVES, 0, end, page):
        for seq, lh in rows:
            yield seq, bytes(lh)


def max_seq(engine: Engine) -> int:
    """The highest seq stored (0 for an empty log)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AuditEntryRow.seq), 0))).scalar_one())  # type: ignore[arg-type]


_CP = CheckpointRow.__table__  # type: ignore[attr-defined]
_CP_COLS = (_CP.c.tree_size, _CP.c.root_hash, _CP.c.ts, _CP.c.key_id, _CP.c.signature)


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(row[0], bytes(row[1]), row[2], row[3], bytes(row[4]))


def load_checkpoints(engine: Engine) -> list[Checkpoint]:
    """All checkpoints, smallest tree first."""
    with engine.connect() as conn:
        rows = conn.execute(select(*_CP_COLS).order_by(_CP.c.tree_size)).all()
    return [_checkpoint(r) for r in rows]


def latest_checkpoint(engine: Engine) -> Checkpoint | None:
    """The newest checkpoint, if any."""
    with engine.connect() as conn:
        row = conn.execute(select(*_CP_COLS).order_by(_CP.c.tree_size.desc()).limit(1)).first()
    return None if row is None else _checkpoint(row)


def entry_count(engine: Engine) -> int:
    """How many entries the table holds."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one())


def public_keys(*keys: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    """Checkpoint verification keys by key id."""
    return {key_id_for(k): k for k in keys}


def verify_database(
    engine: Engine, keys: dict[str, Ed25519PublicKey], progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Recompute the whole log from the database and check it against the checkpoints."""
    return verify_log(iter_entries(engine), load_checkpoints(engine), keys, progress)


def export_database(
    engine: Engine, fp: TextIO, keys: dict[str, Ed25519PublicKey], progress: Callable[[int], None] | None = None
) -> int:
    """Write the log as JSON Lines for offline verification; returns entries written."""
    return write_export(fp, iter_entries(engine), load_checkpoints(engine), keys, progress)
