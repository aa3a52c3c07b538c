"""Witness copies: every signed checkpoint is also kept outside the database.

Someone who can rewrite the database could drop or rewrite entries and the
checkpoints over them. Copies of the signed checkpoints kept elsewhere defeat
that: whoever holds an older checkpoint can check that the log still holds the
tree it signed (``creditgate audit verify --from-checkpoint DIR``).

A :class:`WitnessPublisher` thread per process copies checkpoints from the
database to a :class:`WitnessSink`. It reads checkpoints that are committed, so
the writer's commit path is not touched at all: nothing is queued, waited for or
written on it. It looks once a second (and at shutdown, after the writer's last
checkpoint). A failed write is logged and retried with a growing pause; the
checkpoint stays in the database in any case. Several processes may copy the
same checkpoint: a copy is never replaced, and an existing copy that differs
from the database's checkpoint is reported (``witness_conflict``) and kept,
since it is evidence that the log changed.

The default sink is a directory of files, one per checkpoint
(:class:`DirectorySink`, ``CREDITGATE_WITNESS_DIR``); another place (object
storage, a remote witness) is another class with ``latest_size`` and ``put``.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Protocol

from prometheus_client import Counter
from sqlalchemy import Engine

from audit import WITNESS_FILE, Checkpoint, checkpoint_file_bytes, witness_file_name
from service.audit_log.proofs import checkpoints_after
from service.db.raw import raw_connection
from service.observability.logging import get_logger
from service.observability.metrics import REGISTRY

log = get_logger("creditgate.witness")

WITNESS_WRITES = Counter("creditgate_audit_witness_writes_total", "Checkpoints copied to the witness sink",
                         registry=REGISTRY)
WITNESS_FAILURES = Counter("creditgate_audit_witness_failures_total", "Failed witness copies (retried)",
                           registry=REGISTRY)
WITNESS_CONFLICTS = Counter("creditgate_audit_witness_conflicts_total",
                            "Witness copies that differ from the database's checkpoint", registry=REGISTRY)


class WitnessConflict(Exception):
    """The sink already holds a different checkpoint of the same tree size."""


class WitnessSink(Protocol):
    """Somewhere outside the database that keeps checkpoints."""

    def latest_size(self) -> int:
        """The largest tree size held (0 when empty)."""
        ...

    def put(self, cp: Checkpoint) -> bool:
        """Keep ``cp``; True if it was not held yet. Idempotent for the same checkpoint;
        :class:`WitnessConflict` when another one of that size is already held (which is
        kept); OSError on failure."""
        ...


class DirectorySink:
    """One file per checkpoint, ``checkpoint-<size>.json`` (see :mod:`audit.witness`),
    written to a temporary name, flushed to disk and then linked into place, so that a
    reader never sees a partial file and an existing copy is never replaced."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def latest_size(self) -> int:
        """The largest tree size among the files present."""
        if not self.directory.is_dir():
            return 0
        sizes = [int(m.group(1)) for name in os.listdir(self.directory) if (m := WITNESS_FILE.fullmatch(name))]
        return max(sizes, default=0)

    def put(self, cp: Checkpoint) -> bool:
        """Write the checkpoint's file unless an identical one exists."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        final = self.directory / witness_file_name(cp.tree_size)
        content = checkpoint_file_bytes(cp)
        temporary = self.directory / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            with temporary.open("xb") as fp:
                fp.write(content)
                fp.flush()
                os.fsync(fp.fileno())
            try:
                os.link(temporary, final)  # fails rather than replace an existing copy
            except FileExistsError:
                if final.read_bytes() != content:
                    raise WitnessConflict(f"a different checkpoint of tree size {cp.tree_size} is kept") from None
                return False
            self._sync_directory()
            return True
        finally:
            temporary.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class WitnessPublisher:
    """Copies checkpoints newer than the sink's latest from the database to the sink."""

    def __init__(self, engine: Engine, sink: WitnessSink, *, interval: float = 1.0, max_backoff: float = 60.0,
                 page: int = 500) -> None:
        self._engine = engine
        self._sink = sink
        self._interval = interval
        self._max_backoff = max_backoff
        self._page = page
        self._copied: int | None = None
        self._failures = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def sink(self) -> WitnessSink:
        """Where the copies go."""
        return self._sink

    def start(self) -> None:
        """Start the copying thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Copy what is left (the writer's final checkpoint), then stop."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=timeout)

    def wake(self) -> None:
        """Look for new checkpoints now instead of at the next interval."""
        self._wake.set()

    def sync(self) -> int:
        """Copy every checkpoint not yet in the sink; the number newly copied. Raises the
        sink's or the database's error (the thread logs it and retries)."""
        if self._copied is None:
            self._copied = self._sink.latest_size()
        copied = 0
        while True:
            with raw_connection(self._engine) as db:
                found = checkpoints_after(db, self._copied, self._page)
            for cp in found:
                try:
                    if self._sink.put(cp):
                        WITNESS_WRITES.inc()
                        copied += 1
                except WitnessConflict:
                    WITNESS_CONFLICTS.inc()
                    log.error("witness_conflict", tree_size=cp.tree_size)
                self._copied = cp.tree_size
            if len(found) < self._page:
                return copied

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self.sync()
                self._failures = 0
            except Exception as exc:  # logged by type only, retried; the database keeps the checkpoint
                self._failures += 1
                WITNESS_FAILURES.inc()
                log.error("witness_write_failed", error=type(exc).__name__, attempt=self._failures)
            if stopping:
                return
            pause = self._interval if not self._failures else min(self._max_backoff, 2.0 ** self._failures)
            self._wake.wait(pause)
            self._wake.clear()
