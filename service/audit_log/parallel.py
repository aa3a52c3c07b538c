"""Verifying a large audit log on several cores.

The log is split at checkpoint sizes into contiguous parts, one per worker
process. Each worker reads its part straight from the database and runs the
ordinary streaming verifier on it (``audit.verify_rows(..., start=frontier)``).

A part after the first needs the Merkle frontier of everything before it. The
writer stores that frontier with every checkpoint; the worker uses it only
after checking that it hashes to the root of that checkpoint, whose signature
it verifies. A checkpoint without one (or with a bad one) makes the worker
rebuild the frontier from the stored leaf hashes instead. Either way the bytes
before the split are verified by the worker that owns them, so every byte is
verified exactly once and a tampered prefix is reported by its owner. The first
problem in seq order wins.

Workers are spawned and import only this module's light dependencies (the
driver, ``audit`` and :mod:`service.audit_log.rows`), so they start in a
fraction of a second.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import Checkpoint, MerkleFrontier, VerifyReport, merge_checkpoints, verify_checkpoint, verify_rows
from service.audit_log.rows import AUDIT_COLUMNS, LogReader

# Below this, starting processes costs more than it saves.
MIN_PARALLEL_ENTRIES = 200_000


def _raw(keys: dict[str, Ed25519PublicKey]) -> dict[str, bytes]:
    return {k: v.public_bytes(Encoding.Raw, PublicFormat.Raw) for k, v in keys.items()}


def connect_url(url: str) -> tuple[Any, str]:
    """A DB-API connection and its paramstyle for a service database URL, without
    SQLAlchemy (whose import would dominate a worker's start)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = unquote(url.split(":///", 1)[1]) if ":///" in url else ""
        return sqlite3.connect(path, check_same_thread=False), "qmark"
    if scheme in ("postgresql", "postgres"):
        import psycopg

        conn = psycopg.connect(parts._replace(scheme="postgresql").geturl(), autocommit=True)
        return conn, "pyformat"
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")


def _start_frontier(reader: LogReader, lo: int, cps: list[Checkpoint], keys: dict[str, Ed25519PublicKey]) -> Any:
    stored = reader.frontier_at(lo)
    signed = next((cp for cp in cps if cp.tree_size == lo), None)
    if stored is not None and signed is not None:
        key = keys.get(signed.key_id)
        if key is not None and verify_checkpoint(signed, key) and stored.root() == signed.root_hash:
            return stored
    return reader.rebuilt_frontier(lo)


def _worker(url: str, keys_raw: dict[str, bytes], lo: int, hi: int | None, out: Any,
            saved: tuple[Checkpoint, ...] = ()) -> None:
    conn, paramstyle = None, "qmark"
    try:
        conn, paramstyle = connect_url(url)
        reader = LogReader(conn, paramstyle)
        keys = {k: Ed25519PublicKey.from_public_bytes(v) for k, v in keys_raw.items()}
        logged = reader.checkpoints()
        every = merge_checkpoints(logged, saved)
        frontier: MerkleFrontier | None = None
        if lo:
            frontier = _start_frontier(reader, lo, logged, keys)
            if frontier.size != lo:
                # Rows are missing before this part; its owner reports where.
                out.put(("done", lo, None))
                return
        cps = [cp for cp in every if hi is None or cp.tree_size <= hi]
        report = verify_rows(
            reader.rows(lo + 1, hi), AUDIT_COLUMNS, cps, keys,
            lambda n: out.put(("progress", lo, n)), start=frontier,
        )
        out.put(("done", lo, report))
    except Exception as exc:  # reported to the parent, which fails the verification
        out.put(("error", lo, type(exc).__name__))
    finally:
        if conn is not None:
            conn.close()


def split_points(checkpoints: list[Checkpoint], total: int, parts: int) -> list[int]:
    """Checkpoint sizes that cut ``total`` entries into about ``parts`` equal parts."""
    sizes = sorted({cp.tree_size for cp in checkpoints if 0 < cp.tree_size < total})
    points: list[int] = []
    for i in range(1, parts):
        target = total * i // parts
        below = [s for s in sizes if s <= target and (not points or s > points[-1])]
        if below:
            points.append(below[-1])
    return points


def verify_database_parallel(
    url: str,
    keys: dict[str, Ed25519PublicKey],
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    saved: tuple[Checkpoint, ...] = (),
) -> VerifyReport:
    """Verify the log at ``url`` with up to ``workers`` processes (default: the CPU count).

    Small logs, or logs without a checkpoint to split at, are verified in one process.
    ``saved`` are checkpoints kept outside the database (an auditor's copies, the
    witness directory); the log must hold the tree each one signed
    (:func:`audit.merge_checkpoints`).
    """
    conn, paramstyle = connect_url(url)
    try:
        reader = LogReader(conn, paramstyle)
        checkpoints = reader.checkpoints()
        total = _max_seq(conn)
    finally:
        conn.close()
    parts = max(1, min(workers or os.cpu_count() or 1, 8))
    points = split_points(checkpoints, total, parts) if total >= MIN_PARALLEL_ENTRIES else []
    bounds = list(zip([0, *points], [*points, None], strict=True))
    if len(bounds) == 1:
        return _verify_here(url, keys, progress, saved)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, _raw(keys), lo, hi, out, saved), daemon=True)
             for lo, hi in bounds]
    for p in procs:
        p.start()
    reports: dict[int, VerifyReport | None] = {}
    errors: list[str] = []
    try:
        while len(reports) + len(errors) < len(procs):
            try:
                kind, lo, value = out.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and out.empty():
                    errors.append("a verification worker died")
                continue
            if kind == "progress" and progress is not None:
                progress(value)
            elif kind == "done":
                reports[lo] = value
            elif kind == "error":
                errors.append(value)
    finally:
        for p in procs:
            p.join(timeout=5)
    if errors:
        raise RuntimeError(f"parallel verification failed: {errors[0]}")
    return _combine([reports[lo] for lo, _ in bounds])


def _max_seq(conn: Any) -> int:
    cur = conn.cursor()
    try:
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_entries")
        return int(cur.fetchone()[0])
    finally:
        cur.close()


def _verify_here(url: str, keys: dict[str, Ed25519PublicKey], progress: Callable[[int], None] | None,
                 saved: tuple[Checkpoint, ...]) -> VerifyReport:
    conn, paramstyle = connect_url(url)
    try:
        reader = LogReader(conn, paramstyle)
        checkpoints = merge_checkpoints(reader.checkpoints(), saved)
        return verify_rows(reader.rows(), AUDIT_COLUMNS, checkpoints, keys, progress)
    finally:
        conn.close()


def _combine(parts: list[VerifyReport | None]) -> VerifyReport:
    checked = sum(p.entries_checked for p in parts if p is not None)
    cps = sum(p.checkpoints_checked for p in parts if p is not None)
    for part in parts:
        if part is None:
            # Rows before a later part are missing, yet the part owning them passed:
            # only possible if rows vanished during verification. Fail closed.
            return VerifyReport(
                ok=False, entries_checked=checked, checkpoints_checked=cps, tree_size=0, root_hash=b"",
                first_bad_seq=None, problem="seq_gap", detail="entries disappeared during verification",
                uncovered_entries=0,
            )
        if not part.ok:
            return VerifyReport(
                ok=False, entries_checked=checked, checkpoints_checked=cps, tree_size=part.tree_size,
                root_hash=part.root_hash, first_bad_seq=part.first_bad_seq, problem=part.problem,
                detail=part.detail, uncovered_entries=part.uncovered_entries,
            )
    last = parts[-1]
    assert last is not None  # the loop above returned on any None
    return VerifyReport(
        ok=True, entries_checked=checked, checkpoints_checked=cps, tree_size=last.tree_size,
        root_hash=last.root_hash, first_bad_seq=None, problem=None,
        detail=f"{last.tree_size} entries and {cps} checkpoints verified", uncovered_entries=last.uncovered_entries,
    )
