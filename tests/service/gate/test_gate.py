"""The governed access path on real databases: decision, decryption, masking, durable audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from policies import ConsentView, Role, Viewer, make_resident_id
from service.audit_log.models import AuditEntryRow
from service.audit_log.writer import AuditUnavailable
from service.db.engine import make_engine
from service.db.raw import raw_connection
from service.documents.signing import sha256_hex
from service.gate.access import AccessDenied
from service.runtime import Services
from service.subjects.repository import SubjectData, register_subject

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ADULT = SubjectData("11010519491231002X", "张三丰", "13800138000", "北京市朝阳区建国路88号", "6222021234567890123")


def _register(services: Services, data: SubjectData) -> str:
    with services.session() as s, s.begin():
        return register_subject(s, services.vault, services.blind_index, data)[0]


def _entries(services: Services) -> list[dict[str, object]]:
    with services.session() as s:
        rows = s.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[arg-type]
    return [json.loads(r.body) for r in rows]


def test_self_read_masks_and_audits(services: Services) -> None:
    sid = _register(services, ADULT)
    viewer = Viewer(role=Role.SUBJECT, actor_id="acct-1", subject_id=sid)
    with raw_connection(services.engine) as s:
        result = services.gate.read_subject(s, viewer=viewer, subject_id=sid, request_id="req-00000001", now=NOW)
    assert result.fields["name"] == "张三丰"
    assert result.fields["id_number"] == "110105********002X"
    assert result.fields["bank_card"] == "622202*********0123"
    entry = _entries(services)[-1]
    assert entry["seq"] == result.audit_seq
    assert entry["decision"] == "allow" and entry["reason"] == "self" and entry["subject"] == sid
    assert entry["details"]["response_sha256"] == sha256_hex({"fields": dict(result.fields), "records": []})
    raw = json.dumps(entry, ensure_ascii=False)
    for secret in ("张三丰", "11010519491231002X", "13800138000", "建国路"):
        assert secret not in raw


def test_institution_without_consent_is_denied_and_audited(services: Services) -> None:
    sid = _register(services, ADULT)
    viewer = Viewer(role=Role.INSTITUTION, actor_id="inst-1", institution_type="bank",
                    permitted_purposes=frozenset({"loan_approval"}))
    with raw_connection(services.engine) as s, pytest.raises(AccessDenied) as info:
        services.gate.read_subject(s, viewer=viewer, subject_id=sid, request_id=None, purpose="loan_approval", now=NOW)
    assert info.value.reason == "consent_required"
    entry = _entries(services)[-1]
    assert (entry["decision"], entry["reason"], entry["seq"]) == ("deny", "consent_required", info.value.audit_seq)


def test_institution_with_active_consent_sees_institution_masking(services: Services) -> None:
    sid = _register(services, ADULT)
    consent = ConsentView(id="c-1", institution_id="inst-1", subject_id=sid, purpose="loan_approval",
                          categories=frozenset({"identity"}), state="active", valid_from=NOW - timedelta(days=1),
                          valid_until=NOW + timedelta(days=1), max_uses=3, uses=0)
    viewer = Viewer(role=Role.INSTITUTION, actor_id="inst-1", institution_type="bank",
                    permitted_purposes=frozenset({"loan_approval"}))
    with raw_connection(services.engine) as s:
        result = services.gate.read_subject(s, viewer=viewer, subject_id=sid, request_id=None,
                                            purpose="loan_approval", consent=consent, now=NOW)
    assert result.fields["name"] == "张*丰"
    assert result.fields["id_number"] == "110***********002X"
    assert result.fields["mobile"] == "138****8000"
    other = Viewer(role=Role.INSTITUTION, actor_id="inst-2", institution_type="bank",
                   permitted_purposes=frozenset({"loan_approval"}))
    with raw_connection(services.engine) as s, pytest.raises(AccessDenied) as info:
        services.gate.read_subject(s, viewer=other, subject_id=sid, request_id=None,
                                   purpose="loan_approval", consent=consent, now=NOW)
    assert info.value.reason == "consent_not_held"


def test_guardian_reads_a_minor_ward_only_until_the_guardianship_age(services: Services) -> None:
    birth = date(2016, 6, 1)
    ward = _register(services, SubjectData(make_resident_id("310115", birth, 7, "female"), "王小雨", "13600136000"))
    viewer = Viewer(role=Role.GUARDIAN, actor_id="acct-g", wards=frozenset({ward}))
    with raw_connection(services.engine) as s:
        result = services.gate.read_subject(s, viewer=viewer, subject_id=ward, request_id=None, now=NOW)
    assert result.fields["name"] == "王小雨" and result.fields["mobile"] == "136****6000"
    on_birthday = datetime(2030, 6, 1, 0, 0, tzinfo=UTC)
    with raw_connection(services.engine) as s, pytest.raises(AccessDenied) as info:
        services.gate.read_subject(s, viewer=viewer, subject_id=ward, request_id=None, now=on_birthday)
    assert info.value.reason == "ward_of_age"


def test_auditor_never_reads_personal_fields(services: Services) -> None:
    sid = _register(services, ADULT)
    with raw_connection(services.engine) as s, pytest.raises(AccessDenied) as info:
        services.gate.read_subject(s, viewer=Viewer(role=Role.AUDITOR, actor_id="aud"), subject_id=sid,
                                   request_id=None, now=NOW)
    assert info.value.reason == "role_not_permitted"


def test_fail_closed_when_the_audit_log_cannot_commit(services: Services, tmp_path: Path) -> None:
    sid = _register(services, ADULT)
    viewer = Viewer(role=Role.SUBJECT, actor_id="acct-1", subject_id=sid)
    before = len(_entries(services))
    # Point the writer at a database without audit tables: every commit fails, so the
    # read must raise instead of returning data.
    broken = make_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    services.writer._engine = broken  # type: ignore[attr-defined]
    try:
        with raw_connection(services.engine) as s, pytest.raises(AuditUnavailable):
            services.gate.read_subject(s, viewer=viewer, subject_id=sid, request_id=None, now=NOW)
    finally:
        services.writer._engine = services.engine  # type: ignore[attr-defined]
        broken.dispose()
    assert len(_entries(services)) == before
