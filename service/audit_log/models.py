"""Audit tables. Entries and checkpoints are append-only: database triggers refuse
UPDATE and DELETE (see the initial migration); the head row is derived state that
the writer keeps so several processes can extend one Merkle tree."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, PrimaryKeyConstraint, SmallInteger, String
from sqlmodel import Field, SQLModel

from service.audit_log.rows import AUDIT_COLUMNS


class AuditEntryRow(SQLModel, table=True):
    """One audit entry: the canonical body plus copies of fields for querying."""

    __tablename__ = "audit_entries"
    # Each with seq second, so that "this actor (subject, consent), from this seq on, in order"
    # is one index range: a page of the auditors' search or the person's access log reads
    # only the rows it returns, however many the actor has.
    __table_args__ = (
        Index("ix_audit_entries_actor_id", "actor_id", "seq"),
        Index("ix_audit_entries_subject", "subject", "seq"),
        Index("ix_audit_entries_consent_id", "consent_id", "seq"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ts: str = Field(sa_column=Column(String(32), nullable=False))
    actor_type: str = Field(sa_column=Column(String(32), nullable=False))
    actor_id: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    consent_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    decision: str = Field(sa_column=Column(String(16), nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    # Copies for the auditors' search; unbounded, because a too-long value must never
    # make an append fail (the body is what counts, and verification compares them).
    purpose: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String, nullable=True))


class CheckpointRow(SQLModel, table=True):
    """A signed tree head: size, root, time, Ed25519 signature."""

    __tablename__ = "audit_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    ts: str = Field(sa_column=Column(String(32), nullable=False))
    key_id: str = Field(sa_column=Column(String(32), nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))
    # The compact Merkle frontier at this size (not signed: a verifier checks it hashes
    # to root_hash before using it as a starting point).
    frontier: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class AuditHead(SQLModel, table=True):
    """Single row (id 1): the tree size, its compact Merkle frontier, last checkpoint."""

    __tablename__ = "audit_head"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    frontier: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    checkpoint_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    checkpoint_unix_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The newest entry's time: entry times never go backwards, so a time range is a seq range.
    last_ts: str = Field(sa_column=Column(String(32), nullable=False, server_default=""))


class AuditNodeRow(SQLModel, table=True):
    """The root of one complete, aligned, perfect subtree of the log's Merkle tree: the
    ``2**level`` leaves from index ``idx << level``. Written by the writer in the commit
    that completes it, for levels from ``NODE_LEVEL`` up (service/audit_log/tree.py);
    append-only, since a complete subtree of an append-only log never changes."""

    __tablename__ = "audit_nodes"
    __table_args__ = (PrimaryKeyConstraint("level", "idx"),)

    level: int = Field(sa_column=Column(SmallInteger, nullable=False, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, nullable=False, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


__all__ = ["AUDIT_COLUMNS", "AuditEntryRow", "AuditHead", "AuditNodeRow", "CheckpointRow"]
