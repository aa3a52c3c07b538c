"""Searching the audit trail for auditors.

Everything here reads committed, append-only rows below the log's size, so
several autocommitted statements always agree with one another without a
transaction around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit import decode_entry
from service.audit_log.proofs import b64
from service.audit_log.rows import AUDIT_COLUMNS
from service.db.raw import RawConnection

#: Filters of ``GET /v1/audit/entries`` that compare one column for equality.
EQUALITY_FILTERS = ("actor_type", "actor_id", "action", "subject", "consent_id", "purpose", "decision", "reason")
assert set(EQUALITY_FILTERS) <= set(AUDIT_COLUMNS)

_SIZE = "SELECT size FROM audit_head WHERE id = 1"
_TS_AT = "SELECT ts FROM audit_entries WHERE seq = ?"


def log_size(db: RawConnection) -> int:
    """How many entries the log holds (committed)."""
    row = db.one(_SIZE)
    return int(row[0]) if row else 0


def first_seq_from(db: RawConnection, ts: str, size: int, lowest: int = 1) -> int:
    """The first seq whose time is ``ts`` or later (``size + 1`` if none), searching from
    ``lowest`` (a seq known to be timed no later than ``ts``) up.

    Entry times never go backwards (the writer holds them to the last one), so a
    binary search over seq answers in about 20 primary-key reads on a million
    entries, with no index on the time.
    """
    lo, hi = lowest, size + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = db.one(_TS_AT, (mid,))
        if row is not None and row[0] >= ts:
            hi = mid
        else:
            lo = mid + 1
    return lo


def seq_window(db: RawConnection, since: str | None, until: str | None) -> tuple[int, int]:
    """The seqs ``[first, end)`` of the entries timed in ``[since, until)``."""
    size = log_size(db)
    first = first_seq_from(db, since, size) if since else 1
    end = first_seq_from(db, until, size) if until else size + 1
    return first, max(first, end)


@dataclass(frozen=True)
class EntryQuery:
    """A search of the trail: a time window, column filters, a cursor and a page size."""

    since: str | None = None
    until: str | None = None
    equal: dict[str, str] = field(default_factory=dict)
    after: int = 0
    limit: int = 100


def entry_view(seq: int, body: bytes, leaf: bytes) -> dict[str, Any]:
    """An entry as stored: its fields (pseudonyms only, by construction) and leaf hash."""
    entry = decode_entry(bytes(body))
    return {
        "seq": seq, "ts": entry.ts, "actor_type": entry.actor_type, "actor_id": entry.actor_id,
        "action": entry.action, "subject": entry.subject, "purpose": entry.purpose, "consent_id": entry.consent_id,
        "decision": entry.decision, "reason": entry.reason, "request_id": entry.request_id,
        "details": dict(entry.details), "leaf_hash": b64(bytes(leaf)),
    }


def search_entries(db: RawConnection, query: EntryQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of entries matching ``query`` in seq order, and the cursor for the next
    page (None on the last). The order is the log's own, so pages never shift."""
    first, end = seq_window(db, query.since, query.until)
    lower = max(query.after, first - 1)
    terms = ["seq > ?", "seq < ?"]
    params: list[Any] = [lower, end]
    for name in EQUALITY_FILTERS:
        value = query.equal.get(name)
        if value is not None:
            terms.append(f"{name} = ?")  # a constant column name, from EQUALITY_FILTERS
            params.append(value)
    params.append(query.limit)
    rows = db.all(
        f"SELECT seq, body, leaf_hash FROM audit_entries WHERE {' AND '.join(terms)} "  # noqa: S608
        "ORDER BY seq LIMIT ?",
        params,
    )
    items = [entry_view(int(seq), body, leaf) for seq, body, leaf in rows]
    following = items[-1]["seq"] if len(items) == query.limit else None
    return items, following
