"""Builders for audit logs used across the audit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import strategies as st

from audit import (
    AuditEntry,
    Checkpoint,
    MerkleFrontier,
    StoredEntry,
    decode_entry,
    encode_entry,
    format_ts,
    key_id_for,
    leaf_hash,
    sign_checkpoint,
)

# Fixed keys keep failures reproducible.
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ATTACKER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))

Log = tuple[list[StoredEntry], list[Checkpoint]]

# The denormalised columns the service keeps next to each body.
COLUMN_NAMES = ("ts", "actor_type", "actor_id", "action", "subject", "consent_id", "decision", "purpose", "reason")


def trusted(*keys: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id, as verify_log wants them."""
    chosen = keys or (LOG_KEY,)
    return {key_id_for(k.public_key()): k.public_key() for k in chosen}


def make_entry(seq: int, **changes: Any) -> AuditEntry:
    """A realistic entry; ``changes`` override fields."""
    entry = AuditEntry(
        seq=seq,
        ts=f"2026-11-21T22:{seq // 60 % 60:02d}:{seq % 60:02d}.{seq % 1_000_000:06d}Z",
        actor_type="institution",
        actor_id=f"inst_{seq % 7:04d}",
        action="query.report" if seq % 3 else "consent.grant",
        subject=f"sub_{seq * 7919 % 100_000:08d}",
        purpose="loan_approval",
        consent_id=None if seq % 5 == 0 else f"cns_{seq:010d}",
        decision=("allow", "deny", "record")[seq % 3],
        reason="ok" if seq % 3 != 1 else "consent_expired",
        request_id=f"req_{seq:012d}",
        details={"record_ids": [f"rec_{seq}", f"rec_{seq + 1}"], "categories": ["penalty"]},
    )
    return dataclasses.replace(entry, **changes)


def columns_for(entry: AuditEntry) -> dict[str, object]:
    """The column copies the database would hold for ``entry``."""
    return {name: getattr(entry, name) for name in COLUMN_NAMES}


def stored(entry: AuditEntry, *, with_leaf: bool = True, with_columns: bool = True) -> StoredEntry:
    """The database row for ``entry``."""
    body = encode_entry(entry)
    return StoredEntry(
        seq=entry.seq,
        body=body,
        leaf_hash=leaf_hash(body) if with_leaf else None,
        columns=columns_for(entry) if with_columns else None,
    )


def checkpoints_for(
    rows: Iterable[StoredEntry],
    sizes: Sequence[int],
    key: Ed25519PrivateKey = LOG_KEY,
) -> list[Checkpoint]:
    """Checkpoints signed over ``rows`` at each tree size in ``sizes``."""
    frontier = MerkleFrontier()
    wanted = sorted(sizes)
    result: list[Checkpoint] = []
    if wanted and wanted[0] == 0:
        result.append(sign_checkpoint(key, 0, frontier.root(), "2026-11-21T22:00:00.000000Z"))
    for row in rows:
        frontier.append(leaf_hash(row.body))
        while len(result) < len(wanted) and wanted[len(result)] == frontier.size:
            result.append(
                sign_checkpoint(key, frontier.size, frontier.root(), "2026-11-21T23:00:00.000000Z")
            )
    return result


def build_log(
    n: int,
    every: int = 100,
    *,
    with_leaf: bool = True,
    with_columns: bool = True,
) -> Log:
    """A clean log of ``n`` entries with a checkpoint every ``every`` entries."""
    rows = [
        stored(make_entry(seq), with_leaf=with_leaf, with_columns=with_columns)
        for seq in range(1, n + 1)
    ]
    return rows, checkpoints_for(rows, range(every, n + 1, every))


def rewrite(row: StoredEntry, *, recompute_leaf: bool, **changes: Any) -> StoredEntry:
    """What an attacker with database access does: change fields of a stored entry."""
    entry = dataclasses.replace(decode_entry(row.body), **changes)
    body = encode_entry(entry)
    return StoredEntry(
        seq=row.seq,
        body=body,
        leaf_hash=leaf_hash(body) if recompute_leaf else row.leaf_hash,
        columns=columns_for(entry) if row.columns is not None else None,
    )


def generate(n: int) -> Iterator[StoredEntry]:
    """Rows produced lazily, so that nothing keeps them all alive."""
    for seq in range(1, n + 1):
        yield stored(make_entry(seq))


def with_body(row: StoredEntry, body: bytes, *, recompute_leaf: bool = True) -> StoredEntry:
    """``row`` with raw replacement body bytes."""
    return dataclasses.replace(
        row, body=body, leaf_hash=leaf_hash(body) if recompute_leaf else row.leaf_hash
    )


def replace_columns(row: StoredEntry, columns: Mapping[str, object]) -> StoredEntry:
    """``row`` with other column copies."""
    return dataclasses.replace(row, columns=dict(columns))


# --- hypothesis strategies ------------------------------------------------------------

# Text with everything JSON escaping cares about: quotes, backslashes, control
# characters, DEL, non-ASCII and characters beyond the BMP (no lone surrogates).
text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]) | st.sampled_from('"\\\x00\x1f\x7f\u2028é张'),
    max_size=12,
)
json_leaf = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
timestamps = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
).map(format_ts)
plain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789.", min_size=1, max_size=10)
# Mostly ordinary values (so the fast path is exercised), sometimes hostile ones.
mixed_text = plain | text
flat_details = st.dictionaries(
    plain, plain | st.integers(-(10**20), 10**20) | st.lists(plain, max_size=3), max_size=7
)
entries = st.builds(
    AuditEntry,
    seq=st.integers(min_value=1, max_value=2**63),
    ts=timestamps,
    actor_type=mixed_text,
    actor_id=mixed_text,
    action=mixed_text,
    subject=st.none() | mixed_text,
    purpose=st.none() | mixed_text,
    consent_id=st.none() | mixed_text,
    decision=st.sampled_from(["allow", "deny", "record"]),
    reason=mixed_text,
    request_id=st.none() | mixed_text,
    details=flat_details | st.dictionaries(text, json_value, max_size=5),
)
