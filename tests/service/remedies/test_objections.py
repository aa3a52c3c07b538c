"""Objections over HTTP on both databases: filing, the dispute mark, the provider's answers,
what the subject, an institution and the public see at each step, and every refusal code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policies import Role
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for
from tests.service.remedies.conftest import World, pdf_evidence, today

REASON = "处罚所认定的经营场所并非本人经营，请求核实。"


def test_an_objection_marks_the_record_disputed_at_once(world: World) -> None:
    record = world.record()
    before = world.institution()[record]
    assert before["state"] == "active" and before["disputed"] is False

    filed = world.object(record, evidence=pdf_evidence())
    assert filed.status_code == 201, filed.text
    objection = filed.json()
    assert objection["state"] == "open" and objection["record_id"] == record
    assert objection["reason"] == REASON and objection["measures_suspended"] is True
    assert objection["answer_period"]["days"] == 3 and objection["answer_period"]["unit"] == "workdays"
    assert objection["answer_by"] > today().isoformat()
    assert objection["evidence"] == [{"media_type": "application/pdf", "size_bytes": len(b"%PDF-1.4\n% evidence of "
                                                                                        b"payment, remedies test\n"
                                                                                        b"%%EOF\n")}]

    # The subject sees it disputed, its measures suspended; so does the institution.
    own = world.own()[record]
    assert own["state"] == "disputed" and own["measures_suspended"] is True
    assert own["disputed_since"] == today().isoformat()
    seen = world.institution()[record]
    assert seen["state"] == "disputed" and seen["disputed"] is True and seen["measures_suspended"] is True
    # The institution does not read the subject's reason while it is open.
    assert REASON not in str(seen)

    mine = world.http.get("/v1/me/objections", headers=world.person.headers).json()["items"]
    assert [o["id"] for o in mine] == [objection["id"]]
    assert mine[0]["reason"] == REASON and mine[0]["answer"] is None and mine[0]["complaint"] is None

    entry = world.audit("objection.file")[-1]
    assert entry["decision"] == "record" and entry["reason"] == "recorded"
    assert entry["subject"] == world.person.subject_id and entry["actor_id"] == world.person.actor_id
    assert entry["details"]["objection"] == objection["id"] and entry["details"]["evidence"] == 1
    assert REASON not in str(entry)


def test_the_provider_lists_reads_and_upholds_with_a_correction(world: World) -> None:
    record = world.record()
    oid = world.object(record, evidence=pdf_evidence()).json()["id"]

    listed = world.http.get("/v1/objections", headers=world.market.headers, params={"state": "open"})
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["id"] == oid and item["overdue"] is False and "reason" not in item
    assert world.audit("objections.list")[-1]["details"]["rows"] == [oid]

    one = world.http.get(f"/v1/objections/{oid}", headers=world.market.headers)
    assert one.status_code == 200, one.text
    detail = one.json()
    assert detail["reason"] == REASON
    assert detail["evidence"][0]["media_type"] == "application/pdf" and detail["evidence"][0]["content"]
    assert detail["subject"]["name"] == "张*"  # masked for a provider; never the contact fields
    assert set(detail["subject"]) == {"name", "id_number"}
    assert detail["record"]["id"] == record
    read = world.audit("objection.read")[-1]
    assert read["decision"] == "allow" and read["reason"] == "record_provider"

    decided = world.decide(oid, "upheld", record_action="corrected", corrected_facts="更正后的事实：经营场所登记有误。")
    assert decided.status_code == 200, decided.text
    assert decided.json()["answer"]["outcome"] == "upheld" and decided.json()["answer"]["record_action"] == "corrected"

    # Corrected: gone from the institution's report, marked for the subject with the new facts.
    assert record not in world.institution()
    own = world.own()[record]
    assert own["state"] == "corrected" and own["facts"] == "更正后的事实：经营场所登记有误。"
    mine = world.http.get("/v1/me/objections", headers=world.person.headers).json()["items"][0]
    assert mine["state"] == "upheld" and mine["answer"]["reasons"].startswith("经核查")
    assert_problem(world.decide(oid, "rejected"), 409, "objection_not_open")


def test_revoked_on_an_upheld_objection(world: World) -> None:
    record = world.record()
    oid = world.object(record).json()["id"]
    assert world.decide(oid, "upheld", record_action="revoked").status_code == 200
    assert world.own()[record]["state"] == "revoked"
    assert record not in world.institution()


def test_rejected_measures_resume_and_a_new_objection_may_follow(world: World) -> None:
    record = world.record()
    oid = world.object(record).json()["id"]
    rejected = world.decide(oid, "rejected")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["answer"]["measures_end_moved_days"] == 0  # decided the day it was filed
    assert world.own()[record]["state"] == "active"
    assert world.institution()[record]["disputed"] is False
    again = world.object(record, reason="补充新的证据：已于处罚前注销该经营场所。")
    assert again.status_code == 201, again.text


def test_unconfirmed_objections_stay_beside_the_record(world: World) -> None:
    record = world.record()
    oid = world.object(record).json()["id"]
    answered = world.decide(oid, "unconfirmed")
    assert answered.status_code == 200, answered.text
    note = {"objection_id": oid, "decided_on": today().isoformat(), "reason": REASON}
    # Whoever sees the record sees the objection kept beside it (征信业管理条例 art. 25).
    assert world.own()[record]["objections_kept"] == [note]
    seen = world.institution()[record]
    assert seen["state"] == "active" and seen["objections_kept"] == [note]


def test_refusals(world: World) -> None:
    record = world.record()
    stranger = issue_token_for(world.services, Role.SUBJECT)
    # Someone else's record, an unknown one, a malformed id: not found or invalid.
    assert_problem(world.object(record, person=stranger), 404, "not_found")
    assert_problem(world.object("0" * 32), 404, "not_found")
    assert_problem(world.object("not-an-id"), 400, "invalid_id")
    # Exactly one target; unknown fields; text rules.
    both = world.http.post("/v1/me/objections", headers=world.person.headers,
                           json={"record_id": record, "notice_id": record, "reason": REASON})
    assert_problem(both, 400, "validation_error")
    assert_problem(world.http.post("/v1/me/objections", headers=world.person.headers, json={"reason": REASON}),
                   400, "validation_error")
    assert_problem(world.object(record, extra="x"), 400, "validation_error")
    blank = assert_problem(world.object(record, reason=" \u200b "), 400, "validation_error")
    assert blank["errors"][0] == {"field": "reason", "source": "body", "message": "must contain visible text",
                                  "code": "text_blank"}
    assert assert_problem(world.object(record, reason="异议\u202e"), 400, "validation_error")["errors"][0]["code"] == (
        "text_bidi_control")
    assert assert_problem(world.object(record, reason="异" * 2001), 400, "validation_error")["errors"][0]["code"] == (
        "text_too_long")
    # Nothing changed; every refusal of the identified caller is an audit entry, without the input.
    assert world.row(record).state == "active" and world.audit("objection.file") == []
    refusals = world.audit("objection.file", refusals=True)
    assert refusals and all(e["decision"] == "deny" for e in refusals)
    assert [e["reason"] for e in refusals[:3]] == ["not_found", "not_found", "invalid_id"]
    assert refusals[0]["actor_id"] == stranger.actor_id and refusals[1]["actor_id"] == world.person.actor_id
    assert REASON not in str(refusals) and "异议" not in str(refusals)
    # Each refusal is written once: the remedy's own entry, not a second one at the edge.
    edge = world.audit("request.refused", refusals=True)
    assert not {e["request_id"] for e in edge} & {e["request_id"] for e in refusals}

    oid = world.object(record).json()["id"]
    assert_problem(world.object(record), 409, "objection_open")
    # Another provider's objection is not found; the decision needs its action.
    other = issue_token_for(world.services, Role.PROVIDER, provider_type="market_regulation")
    assert_problem(world.decide(oid, "rejected", provider=other), 404, "not_found")
    assert_problem(world.http.get(f"/v1/objections/{oid}", headers=other.headers), 404, "not_found")
    assert world.http.get("/v1/objections", headers=other.headers).json()["items"] == []
    assert_problem(world.decide(oid, "upheld"), 400, "record_action_required")
    assert_problem(world.decide(oid, "rejected", record_action="revoked"), 400, "record_action_not_applicable")
    assert_problem(world.decide(oid, "upheld", record_action="revoked", corrected_facts="x"), 400,
                   "record_action_not_applicable")
    assert_problem(world.decide(oid, "maybe"), 400, "validation_error")
    assert_problem(world.decide(oid, "rejected", reasons="  "), 400, "validation_error")
    assert_problem(world.decide("f" * 32, "rejected"), 404, "not_found")
    assert world.row(record).state == "disputed"

    # Settled records cannot be objected to.
    assert world.decide(oid, "upheld", record_action="revoked").status_code == 200
    assert_problem(world.object(record), 409, "record_not_objectionable")


def test_an_expired_record_is_not_found(world: World) -> None:
    old = world.record(decided=today() - timedelta(days=400))  # ordinary: 12 months, over
    assert_problem(world.object(old), 404, "not_found")


def test_overdue_objections_are_marked(world: World) -> None:
    record = world.record()
    world.clock.set(today() - timedelta(days=20))
    oid = world.object(record).json()["id"]
    world.clock.fixed = None
    (item,) = world.http.get("/v1/objections", headers=world.market.headers).json()["items"]
    assert item["id"] == oid and item["overdue"] is True
    assert world.audit("objections.list")[-1]["details"]["overdue"] == 1
    late = world.decide(oid, "rejected")
    assert late.status_code == 200
    assert world.audit("objection.decide")[-1]["details"]["late"] is True


def test_court_listings_follow_their_own_period(world: World) -> None:
    record = world.record("court_dishonest_judgment_debtor", provider=world.court)
    filed = world.object(record)
    assert filed.status_code == 201, filed.text
    assert filed.json()["answer_period"] == {
        "days": 15, "unit": "days",
        "basis": "《最高人民法院关于公布失信被执行人名单信息的若干规定》（法释〔2017〕7号）第十二条"}
    assert filed.json()["answer_by"] == (today() + timedelta(days=15)).isoformat()
    assert filed.json()["answer_by_provisional"] is False


@pytest.mark.parametrize(("evidence", "code"), [
    ([{"media_type": "text/html", "content": "PGh0bWw+"}], "evidence_media_type_not_allowed"),
    ([{"media_type": "application/pdf", "content": "not base64!"}], "evidence_invalid"),
    ([{"media_type": "image/png", "content": "JVBERi0xLjQK"}], "evidence_content_mismatch"),
    ([{"media_type": "application/pdf", "content": "JVBERi0" + "A" * 400_000}], "evidence_too_large"),
    ([{"media_type": "application/pdf", "content": "JVBERi0xLjQK"}] * 4, "evidence_too_many"),
])
def test_evidence_is_checked(world: World, evidence: list[dict[str, str]], code: str) -> None:
    record = world.record()
    problem = assert_problem(world.object(record, evidence=evidence), 400, code)
    assert problem["errors"][0]["field"].startswith("evidence")
    assert world.row(record).state == "active"


def test_guardians_object_for_their_wards(world: World) -> None:
    from tests.service.identity.tokens import new_resident_id

    guardian = issue_token_for(world.services, Role.GUARDIAN, wards=[new_resident_id(12)])
    ward = guardian.ward_subject_ids[0]
    record = world.record("admin_license", subject_id=ward)
    filed = world.object(record, person=guardian)
    assert filed.status_code == 201, filed.text
    mine = world.http.get("/v1/me/objections", headers=guardian.headers).json()["items"]
    assert [o["id"] for o in mine] == [filed.json()["id"]]
    assert world.audit("objection.file")[-1]["actor_type"] == "guardian"
    # The person themself cannot see a stranger's objections.
    assert world.http.get("/v1/me/objections", headers=world.person.headers).json()["items"] == []
    assert_problem(world.http.get("/v1/me/objections", headers=guardian.headers, params={"subject": "a" * 32}),
                   404, "not_found")
