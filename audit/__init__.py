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
    Subtree,
    SubtreeRoot,
    consistency_proof,
    consistency_proof_from,
    consistency_subtrees,
    inclusion_proof,
    inclusion_proof_from,
    inclusion_subtrees,
    leaf_hash,
    node_hash,
    root_from,
    root_from_leaf_hashes,
    root_subtrees,
    verify_consistency,
    verify_inclusion,
)
from audit.verify import PROBLEM_CODES, StoredEntry, VerifyReport, merge_checkpoints, verify_log, verify_rows
from audit.witness import WITNESS_FILE, checkpoint_file_bytes, read_checkpoint_file, read_checkpoints, witness_file_name

__all__ = [
    "EMPTY_ROOT",
    "EXPORT_FORMAT",
    "EXPORT_MALFORMED",
    "PROBLEM_CODES",
    "WITNESS_FILE",
    "AuditEntry",
    "Checkpoint",
    "MerkleFrontier",
    "StoredEntry",
    "Subtree",
    "SubtreeRoot",
    "VerifyReport",
    "checkpoint_file_bytes",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "consistency_proof",
    "consistency_proof_from",
    "consistency_subtrees",
    "decode_entry",
    "encode_entry",
    "format_ts",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_subtrees",
    "key_id_for",
    "leaf_hash",
    "load_public_key",
    "merge_checkpoints",
    "node_hash",
    "now_ts",
    "public_key_bytes",
    "read_checkpoint_file",
    "read_checkpoints",
    "root_from",
    "root_from_leaf_hashes",
    "root_subtrees",
    "sign_checkpoint",
    "signing_payload",
    "verify_checkpoint",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_log",
    "verify_rows",
    "witness_file_name",
    "write_export",
]
