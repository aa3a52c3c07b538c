"""The audit writer's checkpoint cadence, on SQLite and PostgreSQL.

A checkpoint is signed in the committing transaction once ``checkpoint_every``
entries or ``checkpoint_seconds`` have passed since the previous one, and the
writer's idle timer signs the entries that arrived after the last checkpoint once
appends stop, so a quiet log is never left unsigned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from itertools import groupby
from typing import Any

import pytest
from sqlalchemy import Engine

from audit import AuditEntry, Checkpoint
from service.audit_log.store import latest_checkpoint, load_checkpoints, verify_database
from service.audit_log.writer import AuditEvent, AuditWriter
from tests.audit.logkit import LOG_KEY, trusted

CADENCE = 0.2
# The writer's queue wakes up this often when idle, and only then can it sign the tail.
IDLE_POLL = 0.2


def _event(n: int) -> AuditEvent:
    return AuditEvent(actor_type="institution", actor_id=f"inst-{n % 3}", action="query", decision="allow",
                      reason="consent", subject=f"s{n % 11}", details={"n": n})


def _verify(engine: Engine, *, uncovered: int) -> None:
    report = verify_database(engine, trusted())
    assert report.ok, (report.problem, report.first_bad_seq, report.detail)
    assert report.checkpoints_checked == len(load_checkpoints(engine))
    assert report.uncovered_entries == uncovered


@pytest.fixture
def writers(engine: Engine) -> Iterator[list[AuditWriter]]:
    """Writers a test starts; closed at the end even when the test fails."""
    started: list[AuditWriter] = []
    yield started
    for w in started:
        w.close()


def _writer(engine: Engine, writers: list[AuditWriter], **options: Any) -> AuditWriter:
    w = AuditWriter(engine, LOG_KEY, **options)
    w.start()
    writers.append(w)
    return w


def _wait_until_covered(engine: Engine, size: int, timeout: float) -> Checkpoint:
    deadline = time.monotonic() + timeout
    while True:
        cp = latest_checkpoint(engine)
        if cp is not None and cp.tree_size >= size:
            return cp
        assert time.monotonic() < deadline, f"no checkpoint covered seq {size} within {timeout}s (latest: {cp})"
        time.sleep(0.01)


def test_time_cadence_while_entries_arrive_and_idle_timer_signs_the_tail(
    engine: Engine, writers: list[AuditWriter]
) -> None:
    w = _writer(engine, writers, checkpoint_every=10_000, checkpoint_seconds=CADENCE)
    entries: list[AuditEntry] = []
    arriving_until = time.monotonic() + 1.0
    while time.monotonic() < arriving_until:
        entries.append(w.append(_event(len(entries))))
        time.sleep(0.01)
    # Keep appending until a commit signs a checkpoint, then append one entry right after
    # it: too soon for the time rule, so only the idle timer can cover that entry. (A slow
    # fsync can make it late enough for the time rule; then try again.)
    deadline = time.monotonic() + 5
    while (latest := latest_checkpoint(engine)) is None or latest.tree_size != entries[-1].seq:
        assert time.monotonic() < deadline, "no checkpoint signed while entries kept arriving"
        entries.append(w.append(_event(len(entries))))
        time.sleep(0.01)
    for _ in range(20):
        tail = w.append(_event(len(entries)))
        entries.append(tail)
        if load_checkpoints(engine)[-1].tree_size < tail.seq:
            break
    else:
        pytest.fail("every entry appended right after a checkpoint was signed by the time rule")
    arrival_checkpoints = load_checkpoints(engine)
    assert arrival_checkpoints[-1].tree_size == tail.seq - 1

    # While entries arrived, checkpoints were signed by time alone (far fewer than
    # 10,000 entries), each by the commit that found CADENCE passed: several, in order,
    # each at the end of a commit. How long apart they came is the machine's business.
    sizes = [cp.tree_size for cp in arrival_checkpoints]
    assert len(sizes) >= 3, sizes
    assert sizes == sorted(set(sizes))
    committed = {e.seq for e in entries}
    assert set(sizes) <= committed

    # Appends stopped: the idle timer, not close(), signs the tail once CADENCE has passed.
    idle = _wait_until_covered(engine, tail.seq, timeout=CADENCE + IDLE_POLL + 10.0)
    assert idle.tree_size == tail.seq
    assert len(load_checkpoints(engine)) == len(arrival_checkpoints) + 1
    _verify(engine, uncovered=0)
    # Nothing new arrived, so the idle timer signs nothing more.
    time.sleep(CADENCE + IDLE_POLL + 0.1)
    assert len(load_checkpoints(engine)) == len(arrival_checkpoints) + 1


def _batch_ends(entries: Sequence[AuditEntry]) -> list[int]:
    """The tree size after each committed batch: a batch's entries share one timestamp."""
    ordered = sorted(entries, key=lambda e: e.seq)
    assert [e.seq for e in ordered] == list(range(1, len(ordered) + 1))
    return [list(group)[-1].seq for _, group in groupby(ordered, key=lambda e: e.ts)]


def _assert_count_rule(sizes: list[int], ends: list[int], every: int) -> None:
    """Checkpoints only at commits, at the first commit that brings ``every`` or more
    entries since the previous checkpoint, and none due but missing after the last."""
    assert set(sizes) <= set(ends), (sizes, ends)
    previous = 0
    for i, size in enumerate(sizes):
        # The first commit of an empty log may be signed by the time rule: no checkpoint was ever signed.
        if i == 0 and size == ends[0]:
            previous = size
            continue
        due = next((end for end in ends if end - previous >= every), None)
        assert size == due, (f"checkpoint at {size}, expected at {due} (previous {previous})", sizes, ends)
        previous = size
    missing = [end for end in ends if end - previous >= every]
    assert not missing, (f"no checkpoint at {missing[0]}, {missing[0] - previous} entries after {previous}", sizes)


def test_count_cadence_with_blocking_appends(engine: Engine, writers: list[AuditWriter]) -> None:
    w = _writer(engine, writers, checkpoint_every=10, checkpoint_seconds=3600)
    entries = [w.append(_event(i)) for i in range(35)]
    # One blocking appender: every append is its own commit.
    assert _batch_ends(entries) == list(range(1, 36))
    sizes = [cp.tree_size for cp in load_checkpoints(engine)]
    assert len(sizes) >= 3
    _assert_count_rule(sizes, _batch_ends(entries), every=10)
    # Every 10 entries, counted from the first checkpoint (the empty log's first commit may take one by time).
    assert sizes in ([10, 20, 30], [1, 11, 21, 31]), sizes
    _verify(engine, uncovered=35 - sizes[-1])
    # An hour has not passed: the idle timer leaves the tail alone...
    time.sleep(2 * IDLE_POLL + 0.1)
    assert [cp.tree_size for cp in load_checkpoints(engine)] == sizes
    # ...and shutdown signs it.
    w.close()
    assert [cp.tree_size for cp in load_checkpoints(engine)] == [*sizes, 35]
    _verify(engine, uncovered=0)


def test_count_cadence_with_grouped_commits(engine: Engine, writers: list[AuditWriter]) -> None:
    # Many queued appends and small batches: the count is crossed in the middle of a
    # batch, and the checkpoint comes at the end of that batch.
    w = _writer(engine, writers, checkpoint_every=10, checkpoint_seconds=3600, batch_max=4)
    futures: list[Future[AuditEntry]] = [w.submit(_event(i)) for i in range(120)]
    entries = [f.result(timeout=30) for f in futures]
    ends = _batch_ends(entries)
    assert len(ends) < len(entries), "no two appends shared a commit"
    sizes = [cp.tree_size for cp in load_checkpoints(engine)]
    assert len(sizes) >= 10
    _assert_count_rule(sizes, ends, every=10)
    _verify(engine, uncovered=120 - sizes[-1])
