"""Revision 0008 on a database that already holds people and consent requests.

Birth dates are stored apart from the ID numbers (each opening of an ID number
audited for its subject) and consent reasons encrypted, with the keys that
``creditgate db upgrade`` passes in; the plaintext reasons leave the database
file and its WAL. Without the keys the upgrade refuses before changing anything.
On both databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from policies import Role, Viewer, make_resident_id, make_uscc
from service.config import Settings
from service.consent.reasons import sealed_reason
from service.crypto.vault import FieldPlace
from service.db.engine import make_engine
from service.db.migrate import current_revision, upgrade
from service.db.types import utcnow
from service.runtime import Services, build_services
from tests.conftest import pg_database

REASON = "为张三丰（身份证 11010519491231002X）办理住房贷款"
BORN = date(1987, 4, 23)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with pg_database("cg_old") as (_, url):
        yield url


def _populate(services: Services) -> tuple[str, str]:
    """A subject (ID number sealed under their key) and a consent request with a plaintext
    reason, written as the 0005 schema stored them."""
    subject_id, request_id, inst_id = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    number = make_resident_id("110105", BORN, 7, "male")
    index = services.blind_index.compute(number)
    now = utcnow().replace(tzinfo=None)
    with Session(services.engine) as s, s.begin():
        s.execute(text("INSERT INTO subjects (id, id_number_index, id_number_ct, name_ct, created_at) "
                       "VALUES (:id, :ix, :ct, :ct, :now)"), {"id": subject_id, "ix": index, "ct": b"x", "now": now})
        id_ct, name_ct = services.vault.encrypt(s, subject_id, [
            (FieldPlace("subjects", "id_number_ct", subject_id), number),
            (FieldPlace("subjects", "name_ct", subject_id), "张三丰")])
        s.execute(text("UPDATE subjects SET id_number_ct = :i, name_ct = :n WHERE id = :id"),
                  {"i": id_ct, "n": name_ct, "id": subject_id})
        s.execute(text("INSERT INTO institutions (id, name, uscc, type, permitted_purposes, status, created_at, "
                       "status_changed_at) VALUES (:id, '示例银行', :uscc, 'bank', :purposes, 'active', :now, :now)"),
                  {"id": inst_id, "uscc": make_uscc("91110105MA0000001"), "purposes": '["loan_approval"]',
                   "now": now})
        s.execute(text("INSERT INTO consent_requests (id, institution_id, subject_index, purpose, categories, "
                       "valid_days, max_queries, reason, state, created_at, expires_at) VALUES (:id, :inst, :ix, "
                       "'loan_approval', :categories, 30, 3, :reason, 'pending', :now, :now)"),
                  {"id": request_id, "inst": inst_id, "ix": index, "categories": '["identity"]', "reason": REASON,
                   "now": now})
    return subject_id, request_id


def test_upgrade_converts_existing_rows(empty_url: str, tmp_path: Path, key_file: Path) -> None:
    upgrade(empty_url, "0005")
    settings = Settings(data_dir=tmp_path, database_url=empty_url, key_file=key_file)
    old = build_services(settings)
    subject_id, request_id = _populate(old)
    old.engine.dispose()
    if empty_url.startswith("sqlite"):
        assert "住房贷款".encode() in _stored(tmp_path)  # so that the check at the end means something

    # The revisions before 0008 need no keys; 0008 without them refuses, before changing anything.
    upgrade(empty_url, "0007")
    with pytest.raises(RuntimeError, match="creditgate db upgrade"):
        upgrade(empty_url, "head")
    engine = make_engine(empty_url)
    assert current_revision(engine) == "0007"
    assert "login_throttles" not in inspect(engine).get_table_names()
    engine.dispose()

    upgrade(empty_url, "head", settings=settings)
    services = build_services(settings)
    services.start()
    try:
        assert "reason" not in {c["name"] for c in inspect(services.engine).get_columns("consent_requests")}
        person = Viewer(role=Role.SUBJECT, actor_id="acct", subject_id=subject_id)
        with services.reads() as db:
            assert services.gate.birth_date(db, person, subject_id) == BORN
            row = db.one("SELECT reason_ct FROM consent_requests WHERE id = ?", (request_id,))
            assert row is not None
            opened = services.gate.open_texts(db, person, subject_id,
                                              {"reason": sealed_reason(request_id, bytes(row[0]))}, utcnow())
        assert opened == {"reason": REASON}
        with services.engine.connect() as conn:
            entries = conn.execute(text("SELECT action, subject, decision FROM audit_entries")).all()
        # The one opening of the ID number is on the record, for the person to see.
        assert [tuple(r) for r in entries] == [("subject.birth_date.seal", subject_id, "allow")]
    finally:
        services.close()
    if empty_url.startswith("sqlite"):
        stored = _stored(tmp_path)
        assert "住房贷款".encode() not in stored and b"11010519491231002X" not in stored


def _stored(directory: Path) -> bytes:
    """The SQLite file and its side files, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("old.db*")) if p.is_file())
