"""The subject's statement on a record, and the privacy of everything the remedies store:
texts and evidence encrypted, audit entries without personal data, on both databases."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import text

from policies import Role, add_years, make_resident_id
from service.admin.registry import Actor, register_guardianship
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for, new_resident_id
from tests.service.remedies.conftest import PDF, World, pdf_evidence, today

STATEMENT = "该笔罚款已于次月全额缴纳，特此说明。"


def test_a_statement_is_shown_with_the_record(world: World) -> None:
    record = world.record()
    put = world.http.post(f"/v1/me/records/{record}/statement", headers=world.person.headers,
                          json={"text": STATEMENT})
    assert put.status_code == 200, put.text
    assert put.json()["statement"] == STATEMENT and put.json()["replaced"] is False
    assert world.own()[record]["statement"] == STATEMENT
    assert world.institution()[record]["statement"] == STATEMENT
    again = world.http.post(f"/v1/me/records/{record}/statement", headers=world.person.headers,
                            json={"text": "更新后的说明。"})
    assert again.json()["replaced"] is True
    assert world.own()[record]["statement"] == "更新后的说明。"
    entry = world.audit("record.statement")[-1]
    assert entry["details"] == {"record": record, "replaced": True} and STATEMENT not in str(entry)


def test_statement_refusals(world: World) -> None:
    record = world.record()
    stranger = issue_token_for(world.services, Role.SUBJECT)
    url = f"/v1/me/records/{record}/statement"
    assert_problem(world.http.post(url, headers=stranger.headers, json={"text": STATEMENT}), 404, "not_found")
    assert_problem(world.http.post(url, headers=world.person.headers, json={"text": "说" * 501}), 400,
                   "validation_error")
    assert_problem(world.http.post(url, headers=world.person.headers, json={"text": "\x00"}), 400,
                   "validation_error")
    assert_problem(world.http.post(url, headers=world.person.headers, json={}), 400, "validation_error")
    assert_problem(world.http.post("/v1/me/records/zz/statement", headers=world.person.headers,
                                   json={"text": STATEMENT}), 400, "invalid_id")
    assert_problem(world.http.post(url, headers=world.bank.headers, json={"text": STATEMENT}), 403,
                   "forbidden_role")
    assert world.row(record).statement_ct is None


def test_texts_and_evidence_are_stored_only_encrypted(world: World) -> None:
    record = world.record(decided=today() - timedelta(days=120))
    reason = "异议理由：处罚所认定的当事人并非本人，身份证件曾遗失。"
    oid = world.object(record, reason=reason, evidence=pdf_evidence()).json()["id"]
    world.decide(oid, "rejected")
    world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                    json={"reason": "投诉理由：答复未说明核查经过。"})
    commitment = "信用承诺：所交材料真实，违诺担责。"
    world.http.post("/v1/me/repairs", headers=world.person.headers,
                    json={"record_id": record, "commitment": commitment, "evidence": pdf_evidence()})
    world.http.post(f"/v1/me/records/{record}/statement", headers=world.person.headers, json={"text": STATEMENT})
    with world.services.engine.connect() as conn:
        dump = b""
        for table in ("remedy_objections", "remedy_complaints", "remedy_repairs", "remedy_evidence",
                      "credit_records", "audit_entries"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dump += repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)).encode()
    for secret in (reason, "投诉理由", commitment, STATEMENT, "经核查"):
        assert secret.encode() not in dump and secret not in dump.decode("utf-8", "replace")
    assert PDF not in dump and base64.b64encode(PDF) not in dump
    # Every action left its audit entry.
    for action in ("objection.file", "objection.decide", "complaint.file", "repair.file", "record.statement"):
        assert world.audit(action), action


def test_a_guardian_acts_for_a_ward_only_under_the_guardianship_age(world: World) -> None:
    guardian = issue_token_for(world.services, Role.GUARDIAN, wards=[new_resident_id(10)])
    young_id = guardian.ward_subject_ids[0]
    # A second ward, linked two days ago, turned 14 yesterday.
    born = add_years(today() - timedelta(days=1), -14)
    link = register_guardianship(world.services, actor=Actor("operator", "test-setup"),
                                 guardian_account_id=guardian.actor_id,
                                 ward_id_number=make_resident_id("110105", born, 31, "male"), ward_name="赵小红",
                                 today=today() - timedelta(days=2))
    young_record = world.record("admin_license", subject_id=young_id)
    grown_record = world.record("admin_license", subject_id=link.ward_subject_id)
    assert world.object(young_record, person=guardian).status_code == 201
    # From the 14th birthday the guardian can do nothing for the ward.
    assert_problem(world.object(grown_record, person=guardian), 404, "not_found")
    assert_problem(world.http.post(f"/v1/me/records/{grown_record}/statement", headers=guardian.headers,
                                   json={"text": STATEMENT}), 404, "not_found")
    assert world.row(grown_record).state == "active"
