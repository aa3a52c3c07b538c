"""Append-only, tamper-evident audit log: entries, hashing, checkpoints, proofs.

Standalone by design: an auditor verifies an export with this package and the
published checkpoint public key alone (``python -m audit verify``).
"""

from audit.checkpoint import (
    Checkpoint,
    checkpoint_from_json,
    checkpoint_to_json,
    key_id_for,
    load_public_key,
    public_key_bytes,
    sign_checkpoint,
    signing_payload,
    verify_checkpoint,
)
from audit.entry import AuditEntry, decode_entry, encode_entry, format_ts, now_ts
from audit.export import EXPORT_FORMAT, EXPORT_MALFORMED, verify_export, write_export
from audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from audit.verify import PROBLEM_CODES, StoredEntry, VerifyReport, verify_log, verify_rows

__all__ = [
    "EMPTY_ROOT",
    "EXPORT_FORMAT",
    "EXPORT_MALFORMED",
    "PROBLEM_CODES",
    "AuditEntry",
    "Checkpoint",
    "MerkleFrontier",
    "StoredEntry",
    "VerifyReport",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "consistency_proof",
    "decode_entry",
    "encode_entry",
    "format_ts",
    "inclusion_proof",
    "key_id_for",
    "leaf_hash",
    "load_public_key",
    "node_hash",
    "now_ts",
    "public_key_bytes",
    "root_from_leaf_hashes",
    "sign_checkpoint",
    "signing_payload",
    "verify_checkpoint",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_log",
    "verify_rows",
    "write_export",
]
