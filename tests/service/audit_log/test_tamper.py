"""Append-only in the database itself, and every kind of tampering caught by verify."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from audit import key_id_for
from service.audit_log.store import verify_database
from service.audit_log.writer import AuditEvent
from service.cli.main import main
from service.runtime import Services

N = 60


def _fill(services: Services, n: int = N) -> None:
    for i in range(n):
        services.writer.append(AuditEvent(actor_type="institution", actor_id=f"inst-{i % 3}", action="query",
                                          decision="allow", reason="consent", subject=f"subj{i}", details={"i": i}))
    services.writer.checkpoint_now()


def _drop_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("audit_entries", "audit_checkpoints", "audit_nodes"):
                conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
                conn.execute(text(f"DROP TRIGGER {table}_no_truncate ON {table}"))
        else:
            for table in ("audit_entries", "audit_checkpoints", "audit_nodes"):
                conn.execute(text(f"DROP TRIGGER {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER {table}_no_delete"))


def _report(services: Services):  # type: ignore[no-untyped-def]
    pk = services.keyring.signing_key("audit").public_key()
    return verify_database(services.engine, {key_id_for(pk): pk})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor_id = 'x' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 1",
        "UPDATE audit_checkpoints SET ts = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_database_refuses_updates_and_deletes(services: Services, statement: str) -> None:
    _fill(services, 3)
    with pytest.raises(DBAPIError, match="append-only"), services.engine.begin() as conn:
        conn.execute(text(statement))
    assert _report(services).ok


def test_truncate_refused_on_postgresql(services: Services) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _fill(services, 3)
    with pytest.raises(DBAPIError, match="append-only"), services.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_entries"))


def test_clean_log_verifies(services: Services) -> None:
    _fill(services)
    report = _report(services)
    assert report.ok and report.entries_checked == N and report.tree_size == N and report.uncovered_entries == 0


def _tamper(services: Services, *statements: str, params: dict[str, object] | None = None) -> None:
    _drop_triggers(services.engine)
    with services.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s), params or {})


def test_modified_body_is_named(services: Services) -> None:
    _fill(services)
    _tamper(services, "UPDATE audit_entries SET body = :b WHERE seq = 17",
            params={"b": b'{"action":"query"}'})
    report = _report(services)
    assert not report.ok and report.first_bad_seq == 17


def test_modified_column_is_named(services: Services) -> None:
    _fill(services)
    _tamper(services, "UPDATE audit_entries SET actor_id = 'inst-9' WHERE seq = 23")
    report = _report(services)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 23, "column_mismatch")


def test_rewritten_entry_with_recomputed_hash_is_caught_by_the_checkpoint(services: Services) -> None:
    import hashlib
    import json

    _fill(services)
    with services.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM audit_entries WHERE seq = 30")).scalar_one()
    doc = json.loads(body)
    doc["details"] = {"i": 999}
    forged = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    leaf = hashlib.sha256(b"\x00" + forged).digest()
    _tamper(services, "UPDATE audit_entries SET body = :b, leaf_hash = :h WHERE seq = 30",
            params={"b": forged, "h": leaf})
    report = _report(services)
    assert not report.ok and report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq is not None and report.first_bad_seq <= 30


def test_deleted_entry_is_named(services: Services) -> None:
    _fill(services)
    _tamper(services, "DELETE FROM audit_entries WHERE seq = 40")
    report = _report(services)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 40, "seq_gap")


def test_deleted_tail_is_caught(services: Services) -> None:
    _fill(services)
    _tamper(services, f"DELETE FROM audit_entries WHERE seq > {N - 5}")
    report = _report(services)
    assert not report.ok and report.problem == "checkpoint_beyond_log"


def test_inserted_entry_is_caught(services: Services) -> None:
    _fill(services)
    # Make room at seq 10 by shifting everything after it up by one, then insert a forgery.
    _drop_triggers(services.engine)
    with services.engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_entries WHERE seq >= 10 ORDER BY seq DESC")).mappings().all()
        for r in rows:
            conn.execute(text("UPDATE audit_entries SET seq = :n WHERE seq = :o"), {"n": r["seq"] + 1, "o": r["seq"]})
        forged = dict(rows[-1])
        conn.execute(text("INSERT INTO audit_entries (seq, ts, actor_type, actor_id, action, subject, consent_id, "
                          "decision, body, leaf_hash, purpose, reason) VALUES (:seq, :ts, :actor_type, :actor_id, "
                          ":action, :subject, :consent_id, :decision, :body, :leaf_hash, :purpose, :reason)"), forged)
    report = _report(services)
    assert not report.ok and report.first_bad_seq == 11


def test_reordered_entries_are_caught(services: Services) -> None:
    _fill(services)
    _tamper(services, "UPDATE audit_entries SET seq = -1 WHERE seq = 5",
            "UPDATE audit_entries SET seq = 5 WHERE seq = 6", "UPDATE audit_entries SET seq = 6 WHERE seq = -1")
    report = _report(services)
    assert not report.ok and report.first_bad_seq == 5


def test_forged_checkpoint_signature_is_caught(services: Services) -> None:
    _fill(services)
    _tamper(services, "UPDATE audit_checkpoints SET signature = :s", params={"s": bytes(64)})
    report = _report(services)
    assert not report.ok and report.problem == "checkpoint_signature_invalid"


def test_cli_verify_exit_codes(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(services)
    monkeypatch.setenv("CREDITGATE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CREDITGATE_KEY_FILE", str(services.settings.key_file))
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert f"OK: {N} entries" in ok.output
    _tamper(services, "DELETE FROM audit_entries WHERE seq = 12")
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "seq_gap at seq 12" in bad.output
