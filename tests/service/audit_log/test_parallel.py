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
