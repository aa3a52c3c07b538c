"""Parallel verification agrees with the serial verifier and finds tampering in any part."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from audit import key_id_for
from service.audit_log import parallel
from service.audit_log.parallel import verify_database_parallel
from service.audit_log.store import verify_database
from service.audit_log.writer import AuditEvent, AuditWriter
from service.runtime import Services
from tests.service.audit_log.test_tamper import _drop_triggers

N = 1200


@pytest.fixture
def filled(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ENTRIES", 100)
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), checkpoint_every=100)
    writer.start()
    for i in range(N):
        writer.submit(AuditEvent(actor_type="institution", actor_id=f"i{i % 5}", action="query",
                                 decision="allow", reason="consent", subject=f"s{i}", details={"i": i}))
    writer.close()
    return services


def _keys(services: Services):  # type: ignore[no-untyped-def]
    pk = services.keyring.signing_key("audit").public_key()
    return {key_id_for(pk): pk}


def test_parallel_matches_serial(filled: Services) -> None:
    progressed: list[int] = []
    par = verify_database_parallel(filled.settings.database_url, _keys(filled), progressed.append, workers=3)
    ser = verify_database(filled.engine, _keys(filled))
    assert par.ok and ser.ok
    assert (par.entries_checked, par.tree_size, par.root_hash) == (N, N, ser.root_hash)
    assert par.checkpoints_checked == ser.checkpoints_checked
    assert sum(progressed) == N


@pytest.mark.parametrize("seq", [150, 1150])
def test_parallel_names_the_tampered_entry_in_any_part(filled: Services, seq: int) -> None:
    _drop_triggers(filled.engine)
    with filled.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor_id = 'forged' WHERE seq = :s"), {"s": seq})
    report = verify_database_parallel(filled.settings.database_url, _keys(filled), workers=3)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, seq, "column_mismatch")


def test_parallel_reports_the_earliest_of_several_problems(filled: Services) -> None:
    _drop_triggers(filled.engine)
    with filled.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq IN (333, 1001)"))
    report = verify_database_parallel(filled.settings.database_url, _keys(filled), workers=3)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 333, "seq_gap")


def test_a_part_starts_from_the_stored_frontier_only_if_it_matches_the_signed_root(
    filled: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.audit_log.rows import LogReader

    rebuilt_at: list[int] = []
    rebuild = LogReader.rebuilt_frontier

    def recording(self: LogReader, size: int):  # type: ignore[no-untyped-def]
        rebuilt_at.append(size)
        return rebuild(self, size)

    monkeypatch.setattr(LogReader, "rebuilt_frontier", recording)

    url = filled.settings.database_url
    conn, paramstyle = parallel.connect_url(url)
    try:
        reader = LogReader(conn, paramstyle)
        cps = reader.checkpoints()
        mid = next(cp.tree_size for cp in cps if cp.tree_size >= N // 2)
        stored = reader.frontier_at(mid)
        assert stored is not None and stored.size == mid
        assert parallel._start_frontier(reader, mid, cps, _keys(filled)) == stored
        assert rebuilt_at == []
        # Signed by a key that is not trusted: rebuilt from the leaves instead.
        assert parallel._start_frontier(reader, mid, cps, {}) == stored
        assert rebuilt_at == [mid]
    finally:
        conn.close()
    _drop_triggers(filled.engine)
    with filled.engine.begin() as c:
        # Frontiers that do not hash to their signed roots: a verifier must not start from them.
        c.execute(text("UPDATE audit_checkpoints SET frontier = :f WHERE tree_size = :s"),
                  {"f": mid.to_bytes(8, "big") + bytes(32 * bin(mid).count("1")), "s": mid})
    conn, paramstyle = parallel.connect_url(url)
    try:
        reader = LogReader(conn, paramstyle)
        forged = reader.frontier_at(mid)
        assert forged is not None and forged != stored
        assert parallel._start_frontier(reader, mid, reader.checkpoints(), _keys(filled)) == stored
        assert rebuilt_at == [mid, mid]
    finally:
        conn.close()
    report = verify_database_parallel(url, _keys(filled), workers=3)
    assert report.ok and report.entries_checked == N
