"""Durable, gapless audit appends with group commit.

One writer thread per process takes queued events in batches and commits each
batch in one transaction. Inside that transaction it holds the database's write
lock on the head row (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on
PostgreSQL), so any number of processes share one gapless ``seq`` and one Merkle
tree. An append returns only after its batch has committed; if the commit fails
every caller in the batch gets :class:`AuditUnavailable` and must not answer
with personal data.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine

from audit import (
    AuditEntry,
    Checkpoint,
    MerkleFrontier,
    encode_entry,
    leaf_hash,
    now_ts,
    sign_checkpoint,
)
from service.audit_log.tree import NODE_LEVEL
from service.db.engine import IMMEDIATE, driver_sql
from service.db.raw import RawConnection
from service.observability.logging import get_logger
from service.observability.metrics import AUDIT_APPENDS, AUDIT_BATCH_SIZE, AUDIT_COMMIT_SECONDS, AUDIT_FAILURES

log = get_logger("creditgate.audit")
_STOP = object()


class AuditUnavailable(Exception):
    """The entry could not be made durable; the access it records must not proceed."""


# Run inside the committing transaction, just before the entry is written: None
# lets the event stand; a reason code turns it into a denial.
Precondition = Callable[[RawConnection], str | None]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An entry before the log gives it a ``seq`` and time."""

    actor_type: str
    actor_id: str
    action: str
    decision: str
    reason: str
    subject: str | None = None
    purpose: str | None = None
    consent_id: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    # A refusing precondition turns the event into a denial with ``denied_details``.
    # This is how a consent use is taken in the same commit as the audit entry that
    # records the access.
    precondition: Precondition | None = field(default=None, compare=False)
    denied_details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def settled(self, refused: str | None) -> AuditEvent:
        """This event if its precondition let it stand, else its denial."""
        if refused is None:
            return self
        return replace(self, decision="deny", reason=refused, details=self.denied_details, precondition=None)

    def checked(self, db: RawConnection) -> AuditEvent:
        """This event, or its denial if the precondition refuses (or fails)."""
        if self.precondition is None:
            return self
        # A savepoint, so that a failing precondition undoes only its own writes
        # (and, on PostgreSQL, does not abort the batch's transaction).
        db.execute("SAVEPOINT audit_precondition")
        try:
            refused = self.precondition(db)
        except Exception:
            db.execute("ROLLBACK TO SAVEPOINT audit_precondition")
            # Only this event fails (closed); the rest of the batch commits.
            refused = "precondition_failed"
        db.execute("RELEASE SAVEPOINT audit_precondition")
        return self.settled(refused)

    def to_entry(self, seq: int, ts: str) -> AuditEntry:
        """The entry this event becomes at position ``seq``."""
        return AuditEntry(
            seq=seq,
            ts=ts,
            actor_type=self.actor_type,
            actor_id=self.actor_id,
            action=self.action,
            subject=self.subject,
            purpose=self.purpose,
            consent_id=self.consent_id,
            decision=self.decision,
            reason=self.reason,
            request_id=self.request_id,
            details=self.details,
        )


def _check_preconditions(db: RawConnection, events: list[AuditEvent]) -> list[AuditEvent]:
    """Run every event's precondition in the batch's transaction.

    Each precondition is one conditional statement, atomic by itself, so the usual
    case needs only one savepoint for the whole batch. If any precondition raises,
    the batch's precondition writes are undone and they run again one savepoint
    each, so that only the failing event is refused (fails closed).
    """
    db.execute("SAVEPOINT audit_preconditions")
    try:
        checked = [ev.settled(ev.precondition(db)) if ev.precondition else ev for ev in events]
    except Exception:
        db.execute("ROLLBACK TO SAVEPOINT audit_preconditions")
        db.execute("RELEASE SAVEPOINT audit_preconditions")
        return [ev.checked(db) for ev in events]
    db.execute("RELEASE SAVEPOINT audit_preconditions")
    return checked


_INSERT_ENTRY = (
    "INSERT INTO audit_entries (seq, ts, actor_type, actor_id, action, subject, consent_id, decision, body, "
    "leaf_hash, purpose, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NODE = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"
_INSERT_CHECKPOINT = (
    "INSERT INTO audit_checkpoints (tree_size, root_hash, ts, key_id, signature, frontier) VALUES (?, ?, ?, ?, ?, ?)"
)
_SELECT_HEAD = "SELECT size, frontier, checkpoint_size, checkpoint_unix_ms, last_ts FROM audit_head WHERE id = 1"
_UPDATE_HEAD = (
    "UPDATE audit_head SET size = ?, frontier = ?, checkpoint_size = ?, checkpoint_unix_ms = ?, last_ts = ? "
    "WHERE id = 1"
)


class AuditWriter:
    """Queue in front of a single committing thread; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        signing_key: Ed25519PrivateKey,
        *,
        batch_max: int = 512,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 1.0,
        commit_timeout: float = 30.0,
        linger_seconds: float = 0.0005,
        node_level: int = NODE_LEVEL,
        clock: Callable[[], str] = now_ts,
    ) -> None:
        """``node_level``: store the roots of complete subtrees of ``2**node_level`` leaves
        and up (service/audit_log/tree.py). ``clock``: the time given to entries (tests
        and bulk loads of a past log set it)."""
        if node_level < 1:
            raise ValueError("node_level must be at least 1")
        self._engine = engine
        self._key = signing_key
        self._batch_max = batch_max
        self._cp_every = checkpoint_every
        self._cp_ms = int(checkpoint_seconds * 1000)
        self._timeout = commit_timeout
        self._linger = linger_seconds
        self._node_level = node_level
        self._clock = clock
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._uncovered = False
        self._loop_batches: dict[asyncio.AbstractEventLoop, list[tuple[AuditEvent, asyncio.Future[AuditEntry]]]] = {}

    @property
    def engine(self) -> Engine:
        """The database this writer appends to."""
        return self._engine

    def start(self) -> None:
        """Start the committing thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Commit what is queued, sign a final checkpoint, stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=self._timeout)

    def submit(self, event: AuditEvent) -> Future[AuditEntry]:
        """Queue ``event``; the future resolves once its batch is committed."""
        if self._thread is None:
            raise AuditUnavailable("audit writer is not running")
        fut: Future[AuditEntry] = Future()
        self._queue.put((event, fut))
        return fut

    def append(self, event: AuditEvent) -> AuditEntry:
        """Append and wait until the entry is durably committed."""
        fut = self.submit(event)
        try:
            return fut.result(timeout=self._timeout)
        except (AuditUnavailable, ValueError):
            raise
        except Exception as exc:
            raise AuditUnavailable("audit append failed") from exc

    async def append_async(self, event: AuditEvent) -> AuditEntry:
        """:meth:`append` for coroutines on the event loop, in group commits made on
        the loop itself.

        The first append of a loop turn schedules a flush; every append made before
        that flush runs joins its transaction. The flush blocks the loop for one
        commit, usually well under a millisecond on SQLite (one fsync for the whole
        group). The alternatives measured worse (bench/bench_queries.py): handing
        whole batches to the writer thread makes it compete with the busy loop for
        the GIL on every database call, each handover waiting up to a switch
        interval (5 ms), so batches stay at two or three entries; handing only the
        COMMIT to a thread still costs the thread wake-ups and delays each batch
        until the loop's next turn notices the commit, so requests wait longer and
        every request costs more CPU.
        """
        if self._thread is None:
            raise AuditUnavailable("audit writer is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[AuditEntry] = loop.create_future()
        batch = self._loop_batches.get(loop)
        if batch is None:
            # Each loop (one per thread) groups its own appends.
            batch = self._loop_batches[loop] = []
            loop.call_soon(self._flush_loop_batch, loop)
        batch.append((event, fut))
        return await fut

    def _flush_loop_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._commit_batch(self._loop_batches.pop(loop))

    def _run(self) -> None:
        q = self._queue
        while True:
            try:
                first = q.get(timeout=0.2)
            except queue.Empty:
                self._idle_checkpoint()
                continue
            stopping = first is _STOP
            batch = [] if stopping else [first]
            lingered = False
            while len(batch) < self._batch_max:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    # Several appenders are active (the queue held more than one): give the
                    # ones just woken by the previous commit a moment to join this batch.
                    # A lone appender (batch of one) never waits.
                    if lingered or len(batch) < 2 or stopping:
                        break
                    lingered = True
                    try:
                        item = q.get(timeout=self._linger)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stopping = True
                    continue
                batch.append(item)
            if batch:
                self._commit_batch(batch)
            if stopping:
                self._idle_checkpoint(force=True)
                return

    def _commit_batch(self, batch: list[tuple[AuditEvent, Any]]) -> None:
        started = time.perf_counter()
        try:
            entries = self._commit([ev for ev, _ in batch])
            AUDIT_COMMIT_SECONDS.observe(time.perf_counter() - started)
        except Exception as exc:
            self._settle(batch, exc)
            return
        self._settle(batch, entries)

    def _settle(
        self, batch: list[tuple[AuditEvent, Any]], outcome: list[AuditEntry | ValueError] | Exception
    ) -> None:
        # Futures of either kind: concurrent.futures (writer thread) or asyncio (loop).
        if isinstance(outcome, Exception):
            AUDIT_FAILURES.inc()
            log.error("audit_commit_failed", error=type(outcome).__name__, batch=len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(AuditUnavailable("audit log unavailable"))
            return
        written = sum(1 for entry in outcome if not isinstance(entry, Exception))
        AUDIT_APPENDS.inc(written)
        AUDIT_BATCH_SIZE.observe(written)
        for (_, fut), entry in zip(batch, outcome, strict=True):
            # A caller that went away (cancelled) leaves its entry committed: the log
            # then records an access whose answer was never delivered, never the reverse.
            if fut.done():
                continue
            if isinstance(entry, Exception):
                fut.set_exception(entry)  # a malformed event: its caller's bug, nobody else's
            else:
                fut.set_result(entry)

    def _sql(self, statement: str) -> str:
        return driver_sql(self._engine, statement)

    def _lock_head(self, cur: Any) -> tuple[int, bytes, int, int, str]:
        # SQLite already holds the write lock from BEGIN IMMEDIATE; PostgreSQL locks the row.
        statement = _SELECT_HEAD if self._engine.dialect.name == "sqlite" else _SELECT_HEAD + " FOR UPDATE"
        cur.execute(self._sql(statement))
        size, frontier, cp_size, cp_ms, last_ts = cur.fetchone()
        return int(size), bytes(frontier), int(cp_size), int(cp_ms), str(last_ts)

    def _commit(self, events: list[AuditEvent]) -> list[AuditEntry | ValueError]:
        # Raw DBAPI inside one SQLAlchemy-managed transaction: the ORM/Core layers cost
        # more than the commit itself here, and this path runs once per batch.
        with self._engine.connect() as conn:
            conn.execution_options(**IMMEDIATE)
            with conn.begin():
                return self._append_rows(conn, events)

    def append_in(self, conn: Connection, *events: AuditEvent) -> list[AuditEntry]:
        """Append inside the caller's open transaction, so that a state change and its
        audit entry commit (or roll back) together.

        On SQLite the caller's transaction must have begun IMMEDIATE (see
        ``Services.write_session``); the entry is durable when the caller commits.
        """
        entries = self._append_rows(conn, list(events))
        for entry in entries:
            if isinstance(entry, Exception):
                raise entry
        return entries  # type: ignore[return-value]

    def _append_rows(self, conn: Connection, events: list[AuditEvent]) -> list[AuditEntry | ValueError]:
        """Write ``events`` in order; an event that does not encode (a programming
        error) gets its ValueError in its place and no seq, the others are written."""
        # Preconditions first: they lock rows (a consent) before the head row, the same
        # order a revocation takes them in, so PostgreSQL never sees a lock cycle.
        dbapi = conn.connection.dbapi_connection
        if any(ev.precondition is not None for ev in events):
            events = _check_preconditions(RawConnection(dbapi, self._engine.dialect.name), events)
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            size, frontier_raw, cp_size, cp_ms, last_ts = self._lock_head(cur)
            frontier = MerkleFrontier.from_bytes(frontier_raw)
            seq = size
            # Entry times never go backwards (a clock stepped back repeats the last
            # time), so that a time range is a seq range for the auditors' search.
            ts = max(self._clock(), last_ts)
            out: list[AuditEntry | ValueError] = []
            rows: list[tuple[Any, ...]] = []
            nodes: list[tuple[int, int, bytes]] = []
            node_level = self._node_level
            below = (1 << node_level) - 1
            for ev in events:
                entry = ev.to_entry(seq + 1, ts)
                try:
                    body = encode_entry(entry)
                except ValueError as exc:
                    out.append(exc)
                    continue
                seq += 1
                lh = leaf_hash(body)
                if seq & below:
                    frontier.append(lh)
                else:
                    # This leaf completes subtrees of 2**node_level leaves or more: keep
                    # their roots for proofs (one row per 2**node_level entries, amortised).
                    nodes += frontier.append_completed(lh, node_level)
                out.append(entry)
                rows.append((seq, ts, entry.actor_type, entry.actor_id, entry.action, entry.subject,
                             entry.consent_id, entry.decision, body, lh, entry.purpose, entry.reason))
            if rows:
                cur.executemany(self._sql(_INSERT_ENTRY), rows)
                if nodes:
                    cur.executemany(self._sql(_INSERT_NODE), nodes)
                now_ms = int(time.time() * 1000)
                if seq - cp_size >= self._cp_every or now_ms - cp_ms >= self._cp_ms:
                    self._insert_checkpoint(cur, frontier)
                    cp_size, cp_ms = seq, now_ms
                cur.execute(self._sql(_UPDATE_HEAD), (seq, frontier.to_bytes(), cp_size, cp_ms, ts))
        finally:
            cur.close()
        self._uncovered = cp_size < seq
        return out

    def _insert_checkpoint(self, cur: Any, frontier: MerkleFrontier) -> Checkpoint:
        cp = sign_checkpoint(self._key, frontier.size, frontier.root(), self._clock())
        cur.execute(self._sql(_INSERT_CHECKPOINT),
                    (cp.tree_size, cp.root_hash, cp.ts, cp.key_id, cp.signature, frontier.to_bytes()))
        return cp

    def _idle_checkpoint(self, force: bool = False) -> Checkpoint | None:
        """Sign a checkpoint over entries that arrived since the last one, once a
        second has passed (or at shutdown), so a quiet log is never left unsigned."""
        if not self._uncovered:
            return None
        try:
            return self.checkpoint_now(min_age_ms=0 if force else self._cp_ms)
        except Exception as exc:
            log.error("audit_checkpoint_failed", error=type(exc).__name__)
            return None

    def checkpoint_now(self, min_age_ms: int = 0) -> Checkpoint | None:
        """Sign a checkpoint now if any entry is not yet covered by one."""
        with self._engine.connect() as conn:
            conn.execution_options(**IMMEDIATE)
            with conn.begin():
                cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                size, frontier_raw, cp_size, cp_ms, last_ts = self._lock_head(cur)
                now_ms = int(time.time() * 1000)
                if size == cp_size or now_ms - cp_ms < min_age_ms:
                    self._uncovered = size > cp_size
                    return None
                cp = self._insert_checkpoint(cur, MerkleFrontier.from_bytes(frontier_raw))
                cur.execute(self._sql(_UPDATE_HEAD), (size, frontier_raw, size, now_ms, last_ts))
                cur.close()
        self._uncovered = False
        return cp
