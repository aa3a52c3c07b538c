"""Suspension of measures, exactly as the rules say, over HTTP on both databases.

While an objection or a complaint is open, a record's measures are suspended; on a
final rejection (or an unconfirmed objection) they resume and their end moves later
by exactly the suspended time. The design example: measures 2026-01-05 to
2027-01-05, objection filed 2026-03-02 and rejected 2026-03-12, measures now end
2027-01-15.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from litestar.testing import TestClient

import service.remedies.deadlines as deadlines
from service.http.app import create_app
from service.remedies.clock import CLOCK_STATE_KEY
from tests.http_helpers import assert_problem
from tests.service.remedies.conftest import World


def _end(world: World, record: str) -> str:
    return world.row(record).disclosure_ends.isoformat()


def _object_on(world: World, record: str, day: date) -> str:
    world.clock.set(day)
    filed = world.object(record)
    assert filed.status_code == 201, filed.text
    return str(filed.json()["id"])


def _decide_on(world: World, oid: str, day: date, outcome: str = "rejected") -> dict[str, object]:
    world.clock.set(day)
    decided = world.decide(oid, outcome)
    assert decided.status_code == 200, decided.text
    return decided.json()  # type: ignore[no-any-return]


def test_the_design_example(world: World) -> None:
    record = world.record(decided=date(2026, 1, 5), severity="ordinary")
    assert _end(world, record) == "2027-01-05"  # one year, a calendar period
    oid = _object_on(world, record, date(2026, 3, 2))
    assert world.row(record).suspended_since == date(2026, 3, 2)
    answer = _decide_on(world, oid, date(2026, 3, 12))
    assert answer["answer"]["measures_end_moved_days"] == 10  # type: ignore[index]
    assert _end(world, record) == "2027-01-15"
    row = world.row(record)
    assert (row.state, row.suspended_days, row.suspended_since) == ("active", 10, None)
    # Every view of the record states the new end.
    world.clock.fixed = None
    assert world.own()[record]["disclosure_ends"] == "2027-01-15"
    assert world.institution()[record]["disclosure_ends"] == "2027-01-15"
    entry = world.audit("objection.decide")[-1]
    assert entry["details"]["measures_end_moved_days"] == 10 and entry["reason"] == "rejected"


def test_several_objections_in_sequence(world: World) -> None:
    record = world.record(decided=date(2026, 1, 5), severity="ordinary")
    first = _object_on(world, record, date(2026, 3, 2))
    _decide_on(world, first, date(2026, 3, 12))
    assert _end(world, record) == "2027-01-15"
    second = _object_on(world, record, date(2026, 4, 1))
    _decide_on(world, second, date(2026, 4, 8))
    assert _end(world, record) == "2027-01-22"
    third = _object_on(world, record, date(2026, 5, 6))
    answer = _decide_on(world, third, date(2026, 5, 7), outcome="unconfirmed")
    assert answer["answer"]["measures_end_moved_days"] == 1  # type: ignore[index]
    assert _end(world, record) == "2027-01-23"
    assert world.row(record).suspended_days == 18
    # The end moved for each of them, and the subject sees every answer.
    world.clock.fixed = None
    mine = world.http.get("/v1/me/objections", headers=world.person.headers).json()["items"]
    assert [o["answer"]["measures_end_moved_days"] for o in mine] == [1, 7, 10]


def test_a_complaint_after_a_rejection_suspends_again(world: World) -> None:
    record = world.record(decided=date(2026, 1, 5), severity="ordinary")
    oid = _object_on(world, record, date(2026, 3, 2))
    _decide_on(world, oid, date(2026, 3, 12))
    assert _end(world, record) == "2027-01-15"

    # Between the rejection and the complaint the measures ran again.
    world.clock.set(date(2026, 3, 16))
    complaint = world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                                json={"reason": "答复未回应本人提交的注销证明，事实认定有误。"})
    assert complaint.status_code == 201, complaint.text
    body = complaint.json()
    assert body["state"] == "open" and body["measures_suspended"] is True
    assert body["decision_period"]["unit"] == "workdays" and "unverified" in body["decision_period"]["basis"]
    assert world.row(record).state == "disputed" and world.row(record).suspended_since == date(2026, 3, 16)
    world.clock.fixed = None
    assert world.institution()[record]["disputed"] is True

    listed = world.http.get("/v1/complaints", headers=world.operator.headers, params={"state": "open"})
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["id"] == body["id"] and item["reason"].startswith("答复未回应")
    assert item["objection"]["reason"].startswith("处罚所认定") and item["objection"]["answer"]["reasons"]
    review = world.audit("complaints.review")[-1]
    assert review["decision"] == "allow" and review["reason"] == "complaint_review"
    assert review["details"]["fields"] == []  # no personal field is opened for the operator

    world.clock.set(date(2026, 3, 20))
    decided = world.http.post(f"/v1/complaints/{body['id']}/decision", headers=world.operator.headers,
                              json={"outcome": "rejected", "reasons": "经召集认定部门复核，维持原答复。"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["answer"]["measures_end_moved_days"] == 4
    assert _end(world, record) == "2027-01-19"
    assert world.row(record).state == "active"

    # The subject sees the complaint and its answer with the objection.
    world.clock.fixed = None
    (mine,) = world.http.get("/v1/me/objections", headers=world.person.headers).json()["items"]
    assert mine["complaint"]["state"] == "rejected" and mine["complaint"]["answer"]["reasons"].startswith("经召集")
    # One complaint per objection; a decided complaint cannot be decided again.
    again = world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                            json={"reason": "再次投诉。"})
    assert_problem(again, 409, "complaint_exists")
    assert_problem(world.http.post(f"/v1/complaints/{body['id']}/decision", headers=world.operator.headers,
                                   json={"outcome": "upheld", "reasons": "x", "record_action": "revoked"}),
                   409, "complaint_not_open")


def test_an_upheld_complaint_revokes_the_record(world: World) -> None:
    record = world.record(decided=date(2026, 1, 5), severity="ordinary")
    oid = _object_on(world, record, date(2026, 3, 2))
    _decide_on(world, oid, date(2026, 3, 12))
    world.clock.fixed = None
    cid = world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                          json={"reason": "事实认定有误。"}).json()["id"]
    assert_problem(world.http.post(f"/v1/complaints/{cid}/decision", headers=world.operator.headers,
                                   json={"outcome": "upheld", "reasons": "投诉成立。"}), 400, "record_action_required")
    assert_problem(world.http.post(f"/v1/complaints/{cid}/decision", headers=world.operator.headers,
                                   json={"outcome": "rejected", "reasons": "x", "record_action": "revoked"}),
                   400, "record_action_not_applicable")
    assert_problem(world.http.post(f"/v1/complaints/{'e' * 32}/decision", headers=world.operator.headers,
                                   json={"outcome": "rejected", "reasons": "x"}), 404, "not_found")
    upheld = world.http.post(f"/v1/complaints/{cid}/decision", headers=world.operator.headers,
                             json={"outcome": "upheld", "reasons": "投诉成立。", "record_action": "revoked"})
    assert upheld.status_code == 200, upheld.text
    assert world.own()[record]["state"] == "revoked"
    assert record not in world.institution()
    assert world.audit("complaint.decide")[-1]["details"]["record_action"] == "revoked"


def test_only_a_rejected_objection_can_be_complained_about(world: World) -> None:
    record = world.record()
    oid = world.object(record).json()["id"]
    complain = world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                               json={"reason": "未答复。"})
    assert_problem(complain, 409, "objection_not_rejected")
    assert world.decide(oid, "unconfirmed").status_code == 200
    assert_problem(world.http.post(f"/v1/me/objections/{oid}/complaint", headers=world.person.headers,
                                   json={"reason": "未答复。"}), 409, "objection_not_rejected")
    assert_problem(world.http.post(f"/v1/me/objections/{'d' * 32}/complaint", headers=world.person.headers,
                                   json={"reason": "x"}), 404, "not_found")


def test_an_objection_across_new_year_is_provisional_and_logged_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # An app built now logs to the captured stream.
    app = create_app(services=world.services)
    app.state[CLOCK_STATE_KEY] = world.clock
    with TestClient(app, raise_server_exceptions=False) as http:
        _across_new_year(replace(world, http=http), capsys)


def _across_new_year(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    record = world.record(decided=date(2026, 6, 30), severity="ordinary")
    assert _end(world, record) == "2027-06-30"
    deadlines._warned.discard(2027)
    capsys.readouterr()
    world.clock.set(date(2026, 12, 30))
    filed = world.object(record)
    assert filed.status_code == 201, filed.text
    # Thursday 12-31 counts; 2027-01-01 is a statutory holiday; Monday and Tuesday complete it.
    assert filed.json()["answer_by"] == "2027-01-05"
    assert filed.json()["answer_by_provisional"] is True
    other = world.record(decided=date(2026, 7, 1))
    assert world.object(other).json()["answer_by_provisional"] is True
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [line["year"] for line in logged if line.get("event") == "workday_calendar_provisional"] == [2027]

    oid = filed.json()["id"]
    listed = world.http.get("/v1/objections", headers=world.market.headers).json()["items"]
    assert {o["id"]: o["answer_by_provisional"] for o in listed}[oid] is True
    # Rejected on 2027-01-04: five days of suspension, across the year end.
    world.clock.set(date(2027, 1, 4))
    assert world.decide(oid, "rejected").json()["answer"]["measures_end_moved_days"] == 5
    assert _end(world, record) == "2027-07-05"
