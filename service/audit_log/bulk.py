"""Loading many audit entries at once: benchmarks, and test logs that span weeks.

The entries go through the writer's own append path (encoding, leaf hashes,
stored subtree roots, checkpoint cadence, the head row), in large transactions
instead of group commits, so a million entries load in a minute or so. The head
row is locked as usual, so this is safe next to a running writer, only slower
for it while a transaction is open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice

from service.audit_log.writer import AuditEvent, AuditWriter
from service.db.engine import IMMEDIATE


def bulk_append(
    writer: AuditWriter,
    events: Iterable[AuditEvent],
    *,
    per_transaction: int = 10_000,
    per_batch: int = 1_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Append ``events`` in order, ``per_batch`` entries per writer batch (a checkpoint is
    signed per batch when the writer's cadence asks for one) and ``per_transaction`` per
    commit. Returns the number of entries written; raises what the writer raises."""
    engine = writer.engine
    it = iter(events)
    total = 0
    while chunk := list(islice(it, per_transaction)):
        with engine.connect() as conn:
            conn.execution_options(**IMMEDIATE)
            with conn.begin():
                for start in range(0, len(chunk), per_batch):
                    writer.append_in(conn, *chunk[start : start + per_batch])
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total
