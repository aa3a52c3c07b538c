"""Verifying a large audit log on several cores.

The log is split at checkpoint sizes into contiguous parts, one per worker
process. Each worker reads its part straight from the database and runs the
ordinary streaming verifier on it (``audit.verify_log(..., start=frontier)``).
The frontier it starts from is built from the stored leaf hashes before its
part. Those hashes are checked against the bodies by the worker of the earlier
part, so every byte is still verified exactly once and a tampered prefix is
reported by whoever owns it. The first problem in seq order wins.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import Checkpoint, MerkleFrontier, VerifyReport, verify_log
from service.audit_log.store import iter_entries, leaf_hashes, load_checkpoints, max_seq, verify_database
from service.db.engine import make_engine

# Below this, starting processes costs more than it saves.
MIN_PARALLEL_ENTRIES = 200_000


def _raw(keys: dict[str, Ed25519PublicKey]) -> dict[str, bytes]:
    return {k: v.public_bytes(Encoding.Raw, PublicFormat.Raw) for k, v in keys.items()}


def _worker(url: str, keys_raw: dict[str, bytes], lo: int, hi: int | None, out: Any) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        keys = {k: Ed25519PublicKey.from_public_bytes(v) for k, v in keys_raw.items()}
        frontier: MerkleFrontier | None = None
        if lo:
            frontier = MerkleFrontier()
            for _, lh in leaf_hashes(engine, lo):
                frontier.append(lh)
            if frontier.size != lo:
                # Rows are missing before this part; its owner reports where.
                out.put(("done", lo, None))
                return
        cps = [cp for cp in load_checkpoints(engine) if hi is None or cp.tree_size <= hi]
        report = verify_log(
            iter_entries(engine, start=lo + 1, end=hi), cps, keys,
            lambda n: out.put(("progress", lo, n)), start=frontier,
        )
        out.put(("done", lo, report))
    except Exception as exc:  # reported to the parent, which fails the verification
        out.put(("error", lo, type(exc).__name__))
    finally:
        engine.dispose()


def _split_points(checkpoints: list[Checkpoint], total: int, parts: int) -> list[int]:
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
) -> VerifyReport:
    """Verify the log at ``url`` with up to ``workers`` processes (default: the CPU count).

    Small logs, or logs without a checkpoint to split at, are verified in-process.
    """
    engine = make_engine(url)
    try:
        total = max_seq(engine)
        checkpoints = load_checkpoints(engine)
        parts = max(1, min(workers or os.cpu_count() or 1, 8))
        points = _split_points(checkpoints, total, parts) if total >= MIN_PARALLEL_ENTRIES else []
        if not points:
            return verify_database(engine, keys, progress)
    finally:
        engine.dispose()
    bounds = list(zip([0, *points], [*points, None], strict=True))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, _raw(keys), lo, hi, out), daemon=True) for lo, hi in bounds]
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
