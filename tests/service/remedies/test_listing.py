"""The serious dishonesty list procedure over HTTP on both databases: notice, objection
window, decision, publication, and removal on repair, at the end of the period and on an
upheld objection; every refusal code."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from policies import Role, add_months, add_workdays
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import Caller, issue_token_for, new_resident_id
from tests.service.remedies.conftest import World, pdf_evidence, today

REASONS = "当事人采取隐匿收入手段进行虚假纳税申报，少缴税款数额较大，经责令限期缴纳后仍未缴纳。"
BASIS = "《重大税收违法失信主体信息公布管理办法》第六条"


@pytest.fixture
def tax(world: World) -> Caller:
    return issue_token_for(world.services, Role.PROVIDER, provider_type="tax", provider_level="county")


def _notice(world: World, provider: Caller, **changes: Any) -> Any:
    body = {"id_number": world.person.id_number, "name": "张三", "item_code": "tax_major_violation",
            "reasons": REASONS, "basis": BASIS, **changes}
    return world.http.post("/v1/serious-list/notices", headers=provider.headers, json=body)


def _decision(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "outcome": "list", "id_number": world.person.id_number, "name": "张三",
        "document": {"type": "admin_ruling", "number": "示税决〔2026〕88号", "date": today().isoformat()},
        "decision_date": today().isoformat(), "reasons": REASONS, "basis": BASIS,
        "measures": "依法实施联合惩戒：限制担任相关职务、限制高消费等。",
        "removal": "缴清税款、滞纳金和罚款后可申请提前停止公布；公布期满自动移出。",
        "remedies": "对决定不服的，可自收到决定书之日起60日内申请行政复议，或6个月内提起行政诉讼。",
        **changes,
    }


def _decide(world: World, provider: Caller, notice_id: str, **changes: Any) -> Any:
    if "decision_date" in changes and "document" not in changes:
        changes["document"] = {"type": "admin_ruling", "number": "示税决〔2026〕88号", "date": changes["decision_date"]}
    return world.http.post(f"/v1/serious-list/notices/{notice_id}/decision", headers=provider.headers,
                           json=_decision(world, **changes))


def test_notice_window_decision_and_publication(world: World, tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))  # a Monday: 5 working days end on Monday 2026-11-09
    given = _notice(world, tax)
    assert given.status_code == 201, given.text
    notice = given.json()
    assert notice["state"] == "notified" and notice["reasons"] == REASONS and notice["basis"] == BASIS
    assert notice["objection_window_closes"] == add_workdays(date(2026, 11, 2), 5).isoformat() == "2026-11-09"
    assert "2026-11-09" in notice["rights"] and notice["objection_window_provisional"] is False
    assert notice["serious_list_field"] == "market_order"

    # The subject sees the notice, its reasons, basis and rights.
    (mine,) = world.http.get("/v1/me/serious-list/notices", headers=world.person.headers).json()["items"]
    assert mine["id"] == notice["id"] and mine["reasons"] == REASONS and mine["rights"] == notice["rights"]
    assert mine["objection_window_open"] is True and mine["decision"] is None
    # Nothing is listed yet: not in reports, not public.
    assert world.public()["total"] == 0
    assert world.http.get("/v1/me/report", headers=world.person.headers).json()["report"]["flags"][
        "on_serious_list"] is False

    # Too early: the window is still open (its last day included).
    world.clock.set(date(2026, 11, 9))
    assert_problem(_decide(world, tax, notice["id"]), 409, "notice_window_open")
    (listed,) = world.http.get("/v1/serious-list/notices", headers=tax.headers).json()["items"]
    assert listed["decidable"] is False and "reasons" not in listed

    world.clock.set(date(2026, 11, 10))
    decided = _decide(world, tax, notice["id"], decision_date="2026-11-10")
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["state"] == "listed" and body["record"]["nature"] == "serious"
    assert body["record"]["published"] is True and body["record"]["severity"] == "severe"
    assert set(body["decision"]) == {"outcome", "reasons", "basis", "measures", "removal", "remedies"}
    record = body["record"]["id"]
    assert body["record"]["disclosure_ends"] == add_months(date(2026, 11, 10), 36).isoformat()
    assert_problem(_decide(world, tax, notice["id"]), 409, "notice_not_pending")

    # Now: the subject sees the decision and the record; institutions and the public see the listing.
    world.clock.fixed = None
    (mine,) = world.http.get("/v1/me/serious-list/notices", headers=world.person.headers).json()["items"]
    assert mine["state"] == "listed" and mine["decision"]["remedies"].startswith("对决定不服")
    assert world.own()[record]["state"] == "active"
    assert world.institution()[record]["nature"] == "serious"
    public = world.public()
    assert [i["record_id"] for i in public["items"]] == [record]
    assert public["items"][0]["name"] == "张*" and public["items"][0]["item_code"] == "tax_major_violation"
    for action in ("serious_list.notice", "serious_list.decide", "record.register"):
        entry = world.audit(action)[-1]
        assert REASONS not in str(entry) and str(world.person.id_number) not in str(entry)


def test_an_objection_in_the_window_holds_the_decision_and_an_upheld_one_withdraws(world: World,
                                                                                   tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))
    nid = _notice(world, tax).json()["id"]
    filed = world.http.post("/v1/me/objections", headers=world.person.headers,
                            json={"notice_id": nid, "reason": "本人已于告知前缴清税款，附缴款凭证。",
                                  "evidence": pdf_evidence()})
    assert filed.status_code == 201, filed.text
    assert filed.json()["notice_id"] == nid and filed.json()["measures_suspended"] is False
    world.clock.set(date(2026, 11, 12))
    assert_problem(_decide(world, tax, nid), 409, "objection_open")
    (mine,) = world.http.get("/v1/me/serious-list/notices", headers=world.person.headers).json()["items"]
    assert mine["objection"]["state"] == "open"
    upheld = world.decide(filed.json()["id"], "upheld", provider=tax)
    assert upheld.status_code == 200, upheld.text
    (mine,) = world.http.get("/v1/me/serious-list/notices", headers=world.person.headers).json()["items"]
    assert mine["state"] == "withdrawn"
    assert_problem(_decide(world, tax, nid), 409, "notice_not_pending")
    assert world.public()["total"] == 0


def test_a_rejected_objection_lets_the_listing_go_ahead(world: World, tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))
    nid = _notice(world, tax).json()["id"]
    oid = world.http.post("/v1/me/objections", headers=world.person.headers,
                          json={"notice_id": nid, "reason": "数额计算有误。"}).json()["id"]
    assert world.decide(oid, "rejected", provider=tax).status_code == 200
    world.clock.set(date(2026, 11, 10))
    assert _decide(world, tax, nid, decision_date="2026-11-10").status_code == 200


def test_objection_window_closes(world: World, tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))
    nid = _notice(world, tax).json()["id"]
    world.clock.set(date(2026, 11, 10))
    late = world.http.post("/v1/me/objections", headers=world.person.headers,
                           json={"notice_id": nid, "reason": "异议。"})
    assert_problem(late, 409, "notice_window_closed")
    stranger = issue_token_for(world.services, Role.SUBJECT)
    assert_problem(world.http.post("/v1/me/objections", headers=stranger.headers,
                                   json={"notice_id": nid, "reason": "异议。"}), 404, "not_found")


def test_withdrawing_without_listing(world: World, tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))
    nid = _notice(world, tax).json()["id"]
    world.clock.set(date(2026, 11, 10))
    withdrawn = world.http.post(f"/v1/serious-list/notices/{nid}/decision", headers=tax.headers,
                                json={"outcome": "withdraw", "reasons": "当事人已缴清，不予列入。"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] == "withdrawn" and withdrawn.json()["record"] is None


def test_notice_refusals(world: World, tax: Caller) -> None:
    assert_problem(_notice(world, tax, item_code="nope"), 400, "item_unknown")
    assert_problem(_notice(world, tax, item_code="admin_penalty_general"), 400, "not_a_serious_list_item")
    assert_problem(_notice(world, world.court, item_code="court_dishonest_judgment_debtor"), 400,
                   "listing_by_court_rules")
    assert_problem(_notice(world, world.market), 403, "provider_not_allowed")
    low = issue_token_for(world.services, Role.PROVIDER, provider_type="tax", provider_level="township")
    assert_problem(_notice(world, low), 403, "provider_level_not_permitted")
    unknown_level = issue_token_for(world.services, Role.PROVIDER, provider_type="tax", provider_level=None)
    assert_problem(_notice(world, unknown_level), 403, "provider_level_not_permitted")
    assert_problem(_notice(world, tax, id_number=new_resident_id(16)), 409, "minor_not_listable")
    assert_problem(_notice(world, tax, id_number="110105198503091234"), 400, "id_number_checksum")
    assert_problem(_notice(world, tax, reasons=""), 400, "validation_error")
    assert_problem(_notice(world, tax, extra=1), 400, "validation_error")
    assert world.audit("serious_list.notice") == []
    # Each refusal by the rules is audited (the undecodable body is refused before the handler runs).
    assert len(world.audit("serious_list.notice", refusals=True)) == 9


def test_decision_refusals(world: World, tax: Caller) -> None:
    world.clock.set(date(2026, 11, 2))
    nid = _notice(world, tax).json()["id"]
    world.clock.set(date(2026, 11, 10))
    rival = issue_token_for(world.services, Role.PROVIDER, provider_type="tax")
    assert_problem(_decide(world, rival, nid), 404, "not_found")
    assert_problem(_decide(world, tax, "a" * 32), 404, "not_found")
    assert_problem(_decide(world, tax, nid, id_number=None), 400, "decision_incomplete")
    assert_problem(_decide(world, tax, nid, measures=None), 400, "validation_error")
    other = issue_token_for(world.services, Role.SUBJECT)
    assert_problem(_decide(world, tax, nid, id_number=other.id_number), 409, "subject_mismatch")
    assert_problem(_decide(world, tax, nid, document={"type": "court_judgment", "number": "x",
                                                      "date": "2026-11-10"}, decision_date="2026-11-10"),
                   400, "document_type_not_accepted")
    assert world.http.get("/v1/me/serious-list/notices", headers=world.person.headers).json()["items"][0][
        "state"] == "notified"


def test_removal_on_an_upheld_objection_and_at_the_end_of_the_period(world: World, tax: Caller) -> None:
    court_record = world.record("court_dishonest_judgment_debtor", provider=world.court, published=True)
    ended = world.record("court_dishonest_judgment_debtor", provider=world.court, published=True,
                         decided=today() - timedelta(days=3 * 366))
    assert world.public_ids() == {court_record}  # the one past its 36 months is off the list
    oid = world.object(court_record).json()["id"]
    # Disputed: still listed, with the mark.
    assert world.public()["items"][0]["disputed"] is True
    assert world.decide(oid, "upheld", provider=world.court, record_action="revoked").status_code == 200
    assert world.public_ids() == set()
    del ended
