"""Reading the audit tables back: streaming entries, checkpoints, verify and export."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select

from audit import Checkpoint, StoredEntry, VerifyReport, key_id_for, verify_rows, write_export
from service.audit_log.models import AuditEntryRow, CheckpointRow
from service.audit_log.rows import AUDIT_COLUMNS, LogReader


@contextmanager
def log_reader(engine: Engine) -> Iterator[LogReader]:
    """A :class:`LogReader` on a pooled connection of ``engine``."""
    pooled = engine.raw_connection()
    try:
        yield LogReader(pooled.driver_connection, engine.dialect.paramstyle)
    finally:
        pooled.close()


def iter_rows(
    engine: Engine, *, start: int = 1, end: int | None = None, page: int = 20_000
) -> Iterator[Sequence[Any]]:
    """Rows ``(seq, body, leaf_hash, *AUDIT_COLUMNS)`` for seq ``start``..``end``, in
    order, as the driver returns them; neither side holds the whole log in memory."""
    with log_reader(engine) as reader:
        yield from reader.rows(start, end, page)


def iter_entries(
    engine: Engine, *, start: int = 1, end: int | None = None, page: int = 20_000
) -> Iterator[StoredEntry]:
    """Entries ``start``..``end`` in ``seq`` order; neither side holds the whole log in memory."""
    names = AUDIT_COLUMNS
    for row in iter_rows(engine, start=start, end=end, page=page):
        yield StoredEntry(row[0], bytes(row[1]), bytes(row[2]), dict(zip(names, row[3:], strict=True)))


def leaf_hashes(engine: Engine, end: int, page: int = 100_000) -> Iterator[tuple[int, bytes]]:
    """(seq, stored leaf hash) for seq 1..``end``, in order."""
    with log_reader(engine) as reader:
        yield from reader.leaf_hashes(end, page)


def max_seq(engine: Engine) -> int:
    """The highest seq stored (0 for an empty log)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AuditEntryRow.seq), 0))).scalar_one())


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
    return verify_rows(iter_rows(engine), AUDIT_COLUMNS, load_checkpoints(engine), keys, progress)


def export_database(
    engine: Engine, fp: TextIO, keys: dict[str, Ed25519PublicKey], progress: Callable[[int], None] | None = None
) -> int:
    """Write the log as JSON Lines for offline verification; returns entries written."""
    return write_export(fp, iter_entries(engine), load_checkpoints(engine), keys, progress)
