"""Signed checkpoints and RFC 9162 proofs of the stored log, as the API returns them.

Auditors (``/v1/audit/*``) and people (``/v1/me/access-log/{seq}/proof``) get the
same shapes: hashes in standard base64, checkpoints in the JSON form of
:func:`audit.checkpoint_to_json`, whose ``key_id`` is the ``kid`` of the
checkpoint key published in ``/oauth/jwks``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audit import Checkpoint, checkpoint_to_json
from service.audit_log.tree import LogTree
from service.db.raw import RawConnection

_CP = "SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoints"
_ENTRY = "SELECT seq, body, leaf_hash, subject FROM audit_entries WHERE seq = ?"


def b64(raw: bytes) -> str:
    """Standard base64, as checkpoints and proofs carry hashes."""
    return base64.b64encode(raw).decode("ascii")


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    return Checkpoint(int(row[0]), bytes(row[1]), row[2], row[3], bytes(row[4]))


def latest_checkpoint(db: RawConnection) -> Checkpoint | None:
    """The newest signed checkpoint."""
    row = db.one(_CP + " ORDER BY tree_size DESC LIMIT 1")
    return None if row is None else _checkpoint(row)


def checkpoints_after(db: RawConnection, size: int, limit: int) -> list[Checkpoint]:
    """Up to ``limit`` checkpoints of trees larger than ``size``, smallest first."""
    return [_checkpoint(r) for r in db.all(_CP + " WHERE tree_size > ? ORDER BY tree_size LIMIT ?", (size, limit))]


def checkpoint_at(db: RawConnection, size: int) -> Checkpoint | None:
    """The checkpoint signed at ``size`` entries, if there is one."""
    row = db.one(_CP + " WHERE tree_size = ?", (size,))
    return None if row is None else _checkpoint(row)


@dataclass(frozen=True)
class StoredLeaf:
    """One entry as the tree holds it."""

    seq: int
    body: bytes
    leaf_hash: bytes
    subject: str | None


def stored_leaf(db: RawConnection, seq: int) -> StoredLeaf | None:
    """The entry at ``seq``, if the log has one."""
    row = db.one(_ENTRY, (seq,))
    return None if row is None else StoredLeaf(int(row[0]), bytes(row[1]), bytes(row[2]), row[3])


def inclusion_view(db: RawConnection, leaf: StoredLeaf, cp: Checkpoint) -> dict[str, Any]:
    """The RFC 9162 inclusion proof of ``leaf`` in the tree ``cp`` signed.

    ``leaf_index`` is seq - 1; ``body`` is the canonical entry whose hash, with the
    0x00 prefix, is the leaf hash; the checkpoint carries the signed root.
    """
    path = LogTree(db).inclusion(leaf.seq - 1, cp.tree_size)
    return {
        "seq": leaf.seq, "leaf_index": leaf.seq - 1, "tree_size": cp.tree_size,
        "body": leaf.body.decode("utf-8"), "leaf_hash": b64(leaf.leaf_hash),
        "audit_path": [b64(h) for h in path], "checkpoint": checkpoint_to_json(cp),
    }


def consistency_view(db: RawConnection, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
    """The RFC 9162 consistency proof from the tree ``old`` signed to the one ``new`` signed."""
    proof = LogTree(db).consistency(old.tree_size, new.tree_size)
    return {
        "from": old.tree_size, "to": new.tree_size, "proof": [b64(h) for h in proof],
        "from_checkpoint": checkpoint_to_json(old), "to_checkpoint": checkpoint_to_json(new),
    }
