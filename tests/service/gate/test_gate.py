"""The governed access path on real databases: decision, decryption, masking, durable audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from policies import ConsentView, Role, Viewer, decide_case_read, make_resident_id
from service.audit_log.models import AuditEntryRow
from service.audit_log.writer import AuditUnavailable
from service.crypto.vault import FieldPlace, SealedField
from service.db.engine import make_engine
from service.db.raw import raw_connection
from service.documents.signing import sha256_hex
from service.gate.access import AccessDenied
from service.gate.grant import GateViolation
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
    # Contact fields are not catalog information: never opened for an institution.
    assert set(result.fields) == {"name", "id_number"}
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


# --- decisions that decide() does not make: the provider of a record, the public list --------------


def _sealed_text(services: Services, sid: str, text: str) -> SealedField:
    with services.session() as s, s.begin():
        (blob,) = services.vault.encrypt(s, sid, [(FieldPlace("remedy_objections", "reason_ct", "o-1"), text)])
    return SealedField(FieldPlace("remedy_objections", "reason_ct", "o-1"), blob, "category:tax")


def test_a_case_read_opens_its_texts_under_the_decision_and_is_audited(services: Services) -> None:
    sid = _register(services, ADULT)
    sealed = _sealed_text(services, sid, "异议理由")
    provider = Viewer(role=Role.PROVIDER, actor_id="prov-1")
    decision = decide_case_read(provider, sid, record_provider_id="prov-1", category="tax")
    with raw_connection(services.engine) as s:
        result = services.gate.read_subject(s, viewer=provider, subject_id=sid, request_id=None, decision=decision,
                                            texts={"reason": sealed}, action="objection.read", now=NOW)
    assert result.texts == {"reason": "异议理由"}
    assert result.fields == {"name": "张*丰", "id_number": "110***********002X"}
    entry = _entries(services)[-1]
    assert (entry["action"], entry["decision"], entry["reason"]) == ("objection.read", "allow", "record_provider")
    assert "异议理由" not in json.dumps(entry, ensure_ascii=False)
    # A decision for another category cannot open the text; one about someone else is refused.
    other = decide_case_read(provider, sid, record_provider_id="prov-1", category="labor")
    with raw_connection(services.engine) as s, pytest.raises(GateViolation):
        services.gate.read_subject(s, viewer=provider, subject_id=sid, request_id=None, decision=other,
                                   texts={"reason": sealed}, now=NOW)
    with raw_connection(services.engine) as s, pytest.raises(ValueError):
        services.gate.read_subject(s, viewer=provider, subject_id="someone-else", request_id=None,
                                   decision=decision, now=NOW)
    # Another provider's decision is a denial, audited, and opens nothing.
    rival = Viewer(role=Role.PROVIDER, actor_id="prov-2")
    denied = decide_case_read(rival, sid, record_provider_id="prov-1", category="tax")
    with raw_connection(services.engine) as s, pytest.raises(AccessDenied) as info:
        services.gate.read_subject(s, viewer=rival, subject_id=sid, request_id=None, decision=denied,
                                   texts={"reason": sealed}, now=NOW)
    assert info.value.reason == "not_record_provider" and _entries(services)[-1]["decision"] == "deny"


def test_the_public_list_shows_public_masking_after_its_audit_entry(services: Services) -> None:
    sid = _register(services, ADULT)
    with raw_connection(services.engine) as s:
        page = services.gate.read_public_list(s, [sid, sid], request_id=None,
                                              describe=lambda shown: {"records": ["r-1"], "n": len(shown)})
    assert page.fields == {sid: {"id_number": "1****************X", "name": "张**"}}
    entry = _entries(services)[-1]
    assert entry["seq"] == page.audit_seq and entry["action"] == "public_list.read"
    assert entry["details"] == {"records": ["r-1"], "n": 1, "subjects_opened": [sid]}
