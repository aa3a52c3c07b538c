"""Durable appends: gapless and duplicate-free under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit import key_id_for
from service.audit_log.models import AuditEntryRow, CheckpointRow
from service.audit_log.store import load_checkpoints, verify_database
from service.audit_log.writer import AuditEvent, AuditWriter
from service.crypto.keys import load_keyring
from service.db.engine import make_engine
from service.runtime import Services


def _event(n: int, actor: str = "t") -> AuditEvent:
    return AuditEvent(actor_type="institution", actor_id=actor, action="query", decision="allow",
                      reason="consent", subject=f"s{n % 17}", details={"n": n})


def _seqs(services: Services) -> list[int]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(AuditEntryRow.seq).order_by(AuditEntryRow.seq)).scalars())  # type: ignore[call-overload]


def _verify(services: Services) -> None:
    pk = services.keyring.signing_key("audit").public_key()
    report = verify_database(services.engine, {key_id_for(pk): pk})
    assert report.ok, (report.problem, report.first_bad_seq, report.detail)


def test_append_returns_committed_entry(services: Services) -> None:
    entry = services.writer.append(_event(1))
    assert entry.seq == 1
    # Visible to a fresh connection as soon as append returned: it was committed.
    other = make_engine(services.settings.database_url)
    with other.connect() as conn:
        body = conn.execute(select(AuditEntryRow.body).where(AuditEntryRow.seq == 1)).scalar_one()  # type: ignore[call-overload]
    other.dispose()
    assert json.loads(body)["details"] == {"n": 1}


def test_bad_event_fails_only_its_caller(services: Services) -> None:
    with pytest.raises(ValueError):
        services.writer.append(AuditEvent(actor_type="x", actor_id="y", action="z", decision="allow",
                                          reason="r", details={"ratio": 0.5}))
    assert services.writer.append(_event(2)).seq == 1


def test_32_concurrent_appenders_one_writer(services: Services) -> None:
    per_thread = 40
    results: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(per_thread):
            seq = services.writer.append(_event(t * 1000 + i)).seq
            with lock:
                results.append(seq)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 32 * per_thread
    assert sorted(results) == list(range(1, total + 1))
    assert _seqs(services) == list(range(1, total + 1))
    services.writer.checkpoint_now()
    _verify(services)


def test_several_writers_share_one_gapless_sequence(services: Services) -> None:
    """Independent writers with their own engines, as several processes would have."""
    signing = services.keyring.signing_key("audit")
    writers = []
    for _ in range(4):
        w = AuditWriter(make_engine(services.settings.database_url), signing, checkpoint_every=50)
        w.start()
        writers.append(w)

    def work(w: AuditWriter, t: int) -> None:
        for i in range(30):
            w.append(_event(i, actor=f"w{t}"))

    threads = [threading.Thread(target=work, args=(w, t)) for t, w in enumerate(writers) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    assert _seqs(services) == list(range(1, 4 * 8 * 30 + 1))
    _verify(services)


def _child(db_url: str, key_file: str, count: int) -> None:
    ring = load_keyring(Path(key_file))
    engine = make_engine(db_url)
    writer = AuditWriter(engine, ring.signing_key("audit"))
    writer.start()
    threads = [threading.Thread(target=lambda: [writer.append(_event(i)) for i in range(count)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    engine.dispose()


def test_separate_processes_share_one_gapless_sequence(services: Services) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_child, args=(services.settings.database_url, str(services.settings.key_file), 25))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert _seqs(services) == list(range(1, 3 * 4 * 25 + 1))
    _verify(services)


def test_checkpoints_every_n_entries_and_on_idle(services: Services) -> None:
    signing = services.keyring.signing_key("audit")
    w = AuditWriter(services.engine, signing, checkpoint_every=10, checkpoint_seconds=3600)
    w.start()
    for i in range(25):
        w.append(_event(i))
    sizes = [cp.tree_size for cp in load_checkpoints(services.engine)]
    assert sizes and all(b - a <= 10 for a, b in zip([0, *sizes], sizes, strict=False))
    assert sizes[-1] >= 20
    w.close()  # shutdown signs the tail
    assert load_checkpoints(services.engine)[-1].tree_size == 25
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CheckpointRow)).scalar_one() == len(sizes) + (
            0 if sizes[-1] == 25 else 1
        )
    _verify(services)


def test_precondition_refusal_turns_the_entry_into_a_denial(services: Services) -> None:
    from sqlalchemy import Connection

    def refuse(_: Connection) -> str | None:
        return "consent_revoked"

    def boom(_: Connection) -> str | None:
        raise RuntimeError("broken check")

    ok = services.writer.append(AuditEvent(actor_type="institution", actor_id="i", action="query", decision="allow",
                                           reason="consent", details={"records": ["r1"]},
                                           precondition=lambda conn: None))
    refused = services.writer.append(AuditEvent(actor_type="institution", actor_id="i", action="query",
                                                decision="allow", reason="consent", details={"records": ["r1"]},
                                                precondition=refuse, denied_details={"query_id": "q"}))
    failed = services.writer.append(AuditEvent(actor_type="institution", actor_id="i", action="query",
                                               decision="allow", reason="consent", precondition=boom))
    assert (ok.decision, ok.reason) == ("allow", "consent")
    assert (refused.decision, refused.reason, dict(refused.details)) == ("deny", "consent_revoked", {"query_id": "q"})
    assert (failed.decision, failed.reason) == ("deny", "precondition_failed")
    assert _seqs(services) == [1, 2, 3]
    services.writer.checkpoint_now()
    _verify(services)


def test_one_group_commit_isolates_a_bad_event_and_a_failing_precondition(services: Services) -> None:
    """Appends made in one loop turn share a commit; a malformed event and a raising
    precondition fail only their own callers, and the others' precondition writes stand."""
    import asyncio

    from service.db.raw import RawConnection

    with services.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe_uses (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO probe_uses (id, n) VALUES (1, 0)")

    def take(db: RawConnection) -> str | None:
        return None if db.execute("UPDATE probe_uses SET n = n + 1 WHERE id = 1") == 1 else "gone"

    def boom(_: RawConnection) -> str | None:
        raise RuntimeError("broken check")

    def event(n: int, **kw: object) -> AuditEvent:
        return AuditEvent(actor_type="institution", actor_id="i", action="query", decision="allow",
                          reason="consent", details={"n": n}, **kw)  # type: ignore[arg-type]

    async def together() -> list[object]:
        return await asyncio.gather(
            services.writer.append_async(event(1, precondition=take)),
            services.writer.append_async(AuditEvent(actor_type="x", actor_id="y", action="z", decision="allow",
                                                    reason="r", details={"ratio": 0.5})),
            services.writer.append_async(event(3, precondition=boom)),
            services.writer.append_async(event(4, precondition=take)),
            return_exceptions=True,
        )

    first, bad, failed, last = asyncio.run(together())
    assert isinstance(bad, ValueError)
    assert (first.decision, failed.decision, last.decision) == ("allow", "deny", "allow")  # type: ignore[attr-defined]
    assert failed.reason == "precondition_failed"  # type: ignore[attr-defined]
    assert [first.seq, failed.seq, last.seq] == [1, 2, 3]  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM probe_uses WHERE id = 1").scalar_one() == 2
    assert _seqs(services) == [1, 2, 3]
    services.writer.checkpoint_now()
    _verify(services)
