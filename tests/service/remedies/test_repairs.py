"""Credit repair over HTTP on both databases: applying, the provider's decision, revocation for
false evidence, what each viewer sees at each step, and every refusal code."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from policies import Role, add_months, add_workdays
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for
from tests.service.remedies.conftest import World, b64, pdf_evidence, today

COMMITMENT = "本人承诺所提交材料真实有效，已履行行政处罚决定确定的全部义务，愿意承担违反承诺的相应责任。"


def _apply(world: World, record: str, person: Any = None, **extra: Any) -> Any:
    body = {"record_id": record, "commitment": COMMITMENT, "evidence": pdf_evidence(), **extra}
    return world.http.post("/v1/me/repairs", headers=(person or world.person).headers, json=body)


def _decide(world: World, repair_id: str, outcome: str, provider: Any = None) -> Any:
    return world.http.post(f"/v1/repairs/{repair_id}/decision", headers=(provider or world.market).headers,
                           json={"outcome": outcome, "reasons": "已核实罚款缴清，符合修复条件。"})


def test_an_approved_repair_takes_the_record_out_of_every_report(world: World) -> None:
    # Ordinary information: repair from the day after the 3-month minimum.
    decided = today() - timedelta(days=120)
    record = world.record(decided=decided, severity="ordinary")
    assert record in world.institution()

    applied = _apply(world, record)
    assert applied.status_code == 201, applied.text
    repair = applied.json()
    assert repair["state"] == "open" and repair["free_of_charge"] is True
    assert repair["commitment"] == COMMITMENT
    assert repair["decision_period"]["days"] == 5 and "unverified" in repair["decision_period"]["basis"]
    assert repair["evidence"][0]["media_type"] == "application/pdf"
    # Applying changes nothing yet.
    assert world.own()[record]["state"] == "active" and record in world.institution()

    (item,) = world.http.get("/v1/repairs", headers=world.market.headers, params={"state": "open"}).json()["items"]
    assert item["id"] == repair["id"] and "commitment" not in item and item["overdue"] is False
    one = world.http.get(f"/v1/repairs/{repair['id']}", headers=world.market.headers).json()
    assert one["commitment"] == COMMITMENT and one["evidence"][0]["content"] == pdf_evidence()[0]["content"]
    assert set(one["subject"]) == {"name", "id_number"}

    approved = _decide(world, repair["id"], "approved")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    own = world.own()[record]
    assert own["state"] == "repaired" and own["repaired"] is True
    assert record not in world.institution()
    mine = world.http.get("/v1/me/repairs", headers=world.person.headers).json()["items"]
    assert mine[0]["answer"]["outcome"] == "approved" and mine[0]["answer"]["reasons"].startswith("已核实")
    assert_problem(_decide(world, repair["id"], "rejected"), 409, "repair_not_open")
    assert_problem(_apply(world, record), 409, "record_not_active")
    for action in ("repair.file", "repair.decide"):
        entry = world.audit(action)[-1]
        assert entry["subject"] == world.person.subject_id and COMMITMENT not in str(entry)


def test_false_evidence_revokes_the_repair_and_bars_a_new_one(world: World) -> None:
    record = world.record(decided=today() - timedelta(days=120))
    rid = _apply(world, record).json()["id"]
    assert_problem(world.http.post(f"/v1/repairs/{rid}/revocation", headers=world.market.headers,
                                   json={"reasons": "x"}), 409, "repair_not_approved")
    assert _decide(world, rid, "approved").status_code == 200
    revoked = world.http.post(f"/v1/repairs/{rid}/revocation", headers=world.market.headers,
                              json={"reasons": "经核查，缴款凭证系伪造。"})
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["state"] == "revoked" and body["revocation"]["reasons"] == "经核查，缴款凭证系伪造。"
    assert body["revocation"]["reapply_from"] == add_months(today(), 36).isoformat()
    # The record is in force again, for the subject and for institutions.
    assert world.own()[record]["state"] == "active"
    assert record in world.institution()
    assert_problem(_apply(world, record), 409, "repair_barred")
    assert world.audit("repair.revoke")[-1]["reason"] == "false_evidence"


def test_a_rejected_repair_leaves_the_record_and_allows_another(world: World) -> None:
    record = world.record(decided=today() - timedelta(days=120))
    rid = _apply(world, record).json()["id"]
    assert_problem(_apply(world, record), 409, "repair_open")
    assert _decide(world, rid, "rejected").status_code == 200
    assert world.own()[record]["state"] == "active"
    assert _apply(world, record).status_code == 201


def test_refusals(world: World) -> None:
    # Not repairable by law (the court's own deletion applies), with the catalog citing why.
    court = world.record("court_dishonest_judgment_debtor", provider=world.court)
    assert_problem(_apply(world, court), 400, "not_repairable")
    licence = world.record("admin_license")
    assert_problem(_apply(world, licence), 400, "not_repairable")
    # Ordinary information decided a month ago: the 3-month minimum has not passed.
    young = world.record(decided=today() - timedelta(days=30), severity="ordinary")
    assert_problem(_apply(world, young), 409, "minimum_period_not_reached")
    # Light information: repairable as soon as the obligations are fulfilled.
    light = world.record(decided=today() - timedelta(days=3), severity="light")
    assert _apply(world, light).status_code == 201
    # Someone else's record; an expired one; a malformed id.
    stranger = issue_token_for(world.services, Role.SUBJECT)
    assert_problem(_apply(world, young, person=stranger), 404, "not_found")
    old = world.record(decided=today() - timedelta(days=400))
    assert_problem(_apply(world, old), 404, "not_found")
    assert_problem(_apply(world, "xyz"), 400, "invalid_id")
    # The commitment and the evidence.
    other = world.record(decided=today() - timedelta(days=120))
    assert_problem(_apply(world, other, evidence=[]), 400, "evidence_required")
    assert_problem(_apply(world, other, commitment=""), 400, "validation_error")
    assert_problem(_apply(world, other, evidence=[{"media_type": "image/jpeg", "content": b64(b"%PDF-1.4")}]),
                   400, "evidence_content_mismatch")
    assert_problem(_apply(world, other, fee=100), 400, "validation_error")
    assert world.audit("repair.file")[-1]["details"]["record"] == light
    # Another provider sees and decides nothing of it.
    rid = _apply(world, other).json()["id"]
    rival = issue_token_for(world.services, Role.PROVIDER, provider_type="market_regulation")
    assert_problem(_decide(world, rid, "approved", provider=rival), 404, "not_found")
    assert_problem(world.http.get(f"/v1/repairs/{rid}", headers=rival.headers), 404, "not_found")
    assert_problem(world.http.post(f"/v1/repairs/{rid}/revocation", headers=rival.headers, json={"reasons": "x"}),
                   404, "not_found")
    assert world.http.get("/v1/repairs", headers=rival.headers).json()["items"] == []
    assert_problem(_decide(world, rid, "maybe"), 400, "validation_error")


def test_repair_of_a_severe_record_waits_a_year_and_leaves_the_public_list(world: World) -> None:
    tax = issue_token_for(world.services, Role.PROVIDER, provider_type="tax")
    decided = today() - timedelta(days=370)
    record = world.record("tax_major_violation", decided=decided, provider=tax, published=True)
    assert record in world.public_ids()
    early = world.record("tax_major_violation", decided=today() - timedelta(days=200), provider=tax, published=True)
    assert_problem(_apply(world, early), 409, "minimum_period_not_reached")
    rid = _apply(world, record).json()["id"]
    assert world.public_ids() >= {record}  # an application alone changes nothing
    assert _decide(world, rid, "approved", provider=tax).status_code == 200
    assert record not in world.public_ids()
    assert world.own()[record]["state"] == "repaired"
    flags = world.http.get("/v1/me/report", headers=world.person.headers).json()["report"]["flags"]
    assert flags["on_serious_list"] is True  # the other listing is still in force
    del early


def test_overdue_repairs_are_marked(world: World) -> None:
    record = world.record(decided=date(2026, 1, 5), severity="ordinary")
    world.clock.set(date(2026, 5, 4))
    rid = _apply(world, record).json()["id"]
    world.clock.fixed = None
    (item,) = world.http.get("/v1/repairs", headers=world.market.headers).json()["items"]
    assert item["id"] == rid and item["overdue"] is True
    # Five working days from the day after filing: 5 May is still a holiday, Saturday 9 May is worked.
    assert item["decide_by"] == add_workdays(date(2026, 5, 4), 5).isoformat() == "2026-05-11"
