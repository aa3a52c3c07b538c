"""Guardians on ``GET /v1/me/report`` and ``GET /v1/me/access-log``, over HTTP on both databases.

A guardian reads a ward's report and access log (named with ``?subject=``, or
implied when they have exactly one ward); anyone else is "not found"; from the
ward's 14th birthday (the China date, Asia/Shanghai) the guardian is refused;
every read, allowed or not, is an audit entry naming the guardian's account and
the ward's pseudonym; the access log shows the institutions' queries on the ward.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role, make_resident_id
from service.admin.registry import Actor, register_guardianship
from service.audit_log.models import AuditEntryRow
from service.http.app import create_app
from service.identity.models import Guardianship, Institution
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.admin.people import caller, link_ward, register_guardian, register_person, years_before
from tests.service.identity.tokens import Caller, issue_token_for, make_provider, new_resident_id
from tests.service.query.conftest import add_record

SHANGHAI = ZoneInfo("Asia/Shanghai")
_SETUP = Actor("operator", "test-setup")


def shanghai_today() -> date:
    return datetime.now(SHANGHAI).date()


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    body = assert_problem(resp, status, code)
    assert "report" not in body and "items" not in body
    return body


def _audit(services: Services) -> list[dict[str, Any]]:
    with services.session() as s:
        bodies = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()  # type: ignore[call-overload]
        return [json.loads(bytes(b)) for b in bodies]


def _last(services: Services, action: str) -> dict[str, Any]:
    return [e for e in _audit(services) if e["action"] == action][-1]


@dataclass
class Family:
    http: TestClient[Any]
    services: Services
    operator: dict[str, str]
    bank: Caller
    guardian: Caller  # one ward
    ward_id_number: str
    ward: str  # the ward's subject pseudonym
    records: list[str]
    parent_of_two: Caller
    twins: tuple[str, str]
    stranger: Caller  # an adult subject, nobody's ward

    def report(self, who: Caller, subject: str | None = None) -> Any:
        return self.http.get("/v1/me/report", headers=who.headers, params={"subject": subject} if subject else None)

    def log(self, who: Caller, subject: str | None = None, **params: Any) -> Any:
        if subject:
            params["subject"] = subject
        return self.http.get("/v1/me/access-log", headers=who.headers, params=params)


@pytest.fixture
def family(services: Services) -> Iterator[Family]:
    operator = issue_token_for(services, Role.OPERATOR).headers
    with TestClient(create_app(services=services), raise_server_exceptions=False) as http:
        ward_number = new_resident_id(age=9)
        ward = register_person(http, operator, id_number=ward_number, name="王小明", mobile="13500005678")
        guardian = register_guardian(http, operator)
        link_ward(http, operator, guardian["id"], ward_number)
        two = register_guardian(http, operator)
        twins = []
        for name in ("李大宝", "李二宝"):
            resp = http.post("/v1/admin/guardianships", headers=operator, json={
                "guardian_account_id": two["id"], "ward_id_number": new_resident_id(age=6), "ward_name": name})
            assert resp.status_code == 201, resp.text
            twins.append(resp.json()["ward_subject_id"])
        market = make_provider(services, provider_type="market_regulation").id
        court = make_provider(services, provider_type="court").id
        today = shanghai_today()
        records = [
            add_record(services, ward["subject_id"], market, "admin_penalty_general", today - timedelta(days=40)),
            add_record(services, ward["subject_id"], market, "admin_penalty_general", today - timedelta(days=10)),
            add_record(services, ward["subject_id"], court, "court_dishonest_judgment_debtor",
                       today - timedelta(days=5)),
        ]
        yield Family(
            http, services, operator, issue_token_for(services, Role.INSTITUTION, institution_type="bank"),
            caller(services, guardian), ward_number, ward["subject_id"], records, caller(services, two),
            (twins[0], twins[1]), issue_token_for(services, Role.SUBJECT),
        )


# --- reading the ward ---------------------------------------------------------------------------


def test_guardian_reads_the_ward_with_and_without_naming_them(family: Family) -> None:
    named = family.report(family.guardian, family.ward)
    implied = family.report(family.guardian)
    for resp in (named, implied):
        assert resp.status_code == 200, resp.text
        report = resp.json()["report"]
        assert {r["id"] for r in report["records"]} == set(family.records)
        n = family.ward_id_number
        assert report["subject"]["id_number"] == n[:6] + "********" + n[-4:]
        assert report["subject"]["name"] == "王小明"
    for resp in (family.log(family.guardian, family.ward), family.log(family.guardian)):
        assert resp.status_code == 200, resp.text
        assert resp.json()["items"][0]["action"] in {"report.self", "access_log.read"}
    # With two wards the guardian must say which; each can be read.
    _problem(family.report(family.parent_of_two), 400, "subject_required")
    _problem(family.log(family.parent_of_two), 400, "subject_required")
    for twin in family.twins:
        assert family.report(family.parent_of_two, twin).status_code == 200
        assert family.log(family.parent_of_two, twin).status_code == 200


def test_every_guardian_read_is_audited_with_the_guardian_and_the_ward(family: Family) -> None:
    services = family.services
    before = len(_audit(services))
    report = family.report(family.guardian, family.ward).json()
    entry = _last(services, "report.self")
    assert (entry["actor_type"], entry["actor_id"], entry["subject"]) == ("guardian", family.guardian.actor_id,
                                                                          family.ward)
    assert (entry["decision"], entry["reason"]) == ("allow", "guardian")
    assert entry["seq"] == report["report"]["audit_seq"]
    assert set(entry["details"]["records"]) == set(family.records)
    family.log(family.guardian)
    entry = _last(services, "access_log.read")
    assert (entry["actor_type"], entry["actor_id"], entry["subject"], entry["decision"], entry["reason"]) == (
        "guardian", family.guardian.actor_id, family.ward, "allow", "guardian")
    assert entry["details"]["fields"] == []  # reading the log decrypts nothing
    assert len(_audit(services)) == before + 2
    text = json.dumps(_audit(services), ensure_ascii=False)
    assert family.ward_id_number not in text and "王小明" not in text


def test_someone_who_is_not_a_ward_is_not_found(family: Family) -> None:
    services = family.services
    strangers = {"adult": family.stranger.subject_id, "another guardian's ward": family.twins[0],
                 "unknown": "0" * 32}
    bodies = []
    for label, subject in strangers.items():
        assert subject, label
        for resp in (family.report(family.guardian, subject), family.log(family.guardian, subject)):
            body = _problem(resp, 404, "not_found")
            bodies.append({k: v for k, v in body.items() if k not in {"request_id", "instance"}})
    # The same answer whether or not the person exists.
    assert all(b == bodies[0] for b in bodies)
    denials = [e for e in _audit(services) if e["decision"] == "deny" and e["actor_id"] == family.guardian.actor_id]
    assert [(e["action"], e["reason"], e["subject"]) for e in denials] == [
        ("report.self", "not_guardian", family.stranger.subject_id),
        ("access_log.read", "not_guardian", family.stranger.subject_id),
        ("report.self", "not_guardian", family.twins[0]),
        ("access_log.read", "not_guardian", family.twins[0]),
        ("report.self", "not_guardian", None),  # no such subject: no pseudonym to name
        ("access_log.read", "not_guardian", None),
    ]
    _problem(family.report(family.guardian, "not-a-hex-id"), 400, "invalid_id")


def test_an_ended_guardianship_ends_access(family: Family) -> None:
    with family.services.session() as s:
        link = s.execute(select(Guardianship).filter_by(ward_subject_id=family.ward)).scalar_one()
    ended = family.http.post(f"/v1/admin/guardianships/{link.id}/end", headers=family.operator)
    assert ended.status_code == 200, ended.text
    _problem(family.report(family.guardian, family.ward), 404, "not_found")
    _problem(family.log(family.guardian, family.ward), 404, "not_found")
    _problem(family.report(family.guardian), 400, "subject_required")  # no ward left to imply


# --- the guardianship age -----------------------------------------------------------------------


def _turning_14_on(birthday: date, sequence: int) -> str:
    """An ID number of someone whose 14th birthday is ``birthday``."""
    born = years_before(birthday, 14)
    if (born.month, born.day) != (birthday.month, birthday.day):
        pytest.skip("a 29 February birthday has no 14th-birthday twin")
    return make_resident_id("110105", born, sequence, "female")


def _guardian_of(family: Family, ward_number: str, name: str) -> tuple[Caller, str]:
    """A guardian linked while the ward was still 13 (two days ago), the way the operator did then."""
    parent = register_guardian(family.http, family.operator)
    link = register_guardianship(family.services, actor=_SETUP, guardian_account_id=parent["id"],
                                 ward_id_number=ward_number, ward_name=name,
                                 today=shanghai_today() - timedelta(days=2))
    return caller(family.services, parent), link.ward_subject_id


def test_access_ends_on_the_ward_s_14th_birthday(family: Family) -> None:
    """From the birthday on, the former guardian is a stranger to the ward: "not found",
    and the refusal is audited like any other."""
    today = shanghai_today()
    cases = {
        "turns 14 tomorrow": (today + timedelta(days=1), True),
        "turns 14 today": (today, False),
        "turned 14 yesterday": (today - timedelta(days=1), False),
    }
    for i, (label, (birthday, allowed)) in enumerate(cases.items()):
        guardian, ward = _guardian_of(family, _turning_14_on(birthday, 10 + i), "赵小红")
        for read, action in ((family.report, "report.self"), (family.log, "access_log.read")):
            resp = read(guardian, ward)
            if allowed:
                assert resp.status_code == 200, (label, resp.text)
                assert read(guardian, None).status_code == 200, label  # the only ward is implied
            else:
                _problem(resp, 404, "not_found")
                _problem(read(guardian, None), 400, "subject_required")  # no ward left to imply
            entry = _last(family.services, action)
            assert (entry["actor_type"], entry["actor_id"], entry["subject"]) == (
                "guardian", guardian.actor_id, ward), label
            assert (entry["decision"], entry["reason"]) == (
                ("allow", "guardian") if allowed else ("deny", "not_guardian")), label


def test_the_birthday_is_the_china_date_not_the_utc_date(family: Family, monkeypatch: pytest.MonkeyPatch) -> None:
    """Midnight in Shanghai is 16:00 UTC the day before: from that instant the guardian is refused."""
    import service.identity.resource as resource
    import service.query.routes as routes

    birthday = shanghai_today()
    guardian, ward = _guardian_of(family, _turning_14_on(birthday, 20), "钱小丽")
    midnight = datetime(birthday.year, birthday.month, birthday.day, tzinfo=SHANGHAI)
    eve = midnight - timedelta(microseconds=1)
    assert midnight.astimezone(ZoneInfo("UTC")).date() == birthday - timedelta(days=1)
    for module in (routes, resource):
        monkeypatch.setattr(module, "utcnow", lambda: eve.astimezone(ZoneInfo("UTC")))
    assert family.report(guardian, ward).status_code == 200
    assert family.log(guardian, ward).status_code == 200
    for module in (routes, resource):
        monkeypatch.setattr(module, "utcnow", lambda: midnight.astimezone(ZoneInfo("UTC")))
    _problem(family.report(guardian, ward), 404, "not_found")
    _problem(family.log(guardian, ward), 404, "not_found")


def test_the_access_log_shows_institution_queries_on_the_ward(family: Family) -> None:
    http, bank = family.http, family.bank
    req = http.post("/v1/consent-requests", headers=bank.headers, json={
        "id_number": family.ward_id_number, "purpose": "loan_approval",
        "categories": ["identity", "administrative_penalty"], "valid_days": 30, "max_queries": 3,
        "reason": "助学贷款审批"})
    assert req.status_code == 201, req.text
    grant = http.post(f"/v1/me/consent-requests/{req.json()['id']}/grant", headers=family.guardian.headers)
    assert grant.status_code == 201, grant.text
    consent = grant.json()["consent"]["id"]
    ok = http.post("/v1/queries", headers=bank.headers, json={"consent_id": consent, "purpose": "loan_approval"})
    assert ok.status_code == 200, ok.text
    returned = {r["id"] for r in ok.json()["report"]["records"]}
    assert returned == set(family.records[:2])  # the court record is not in the consent
    wrong = http.post("/v1/queries", headers=bank.headers,
                      json={"consent_id": consent, "purpose": "credit_card_approval"})
    _problem(wrong, 403, "purpose_mismatch")

    page = family.log(family.guardian, family.ward, limit=3).json()
    denied, allowed, granted = page["items"]
    assert [denied["seq"], allowed["seq"], granted["seq"]] == sorted(
        [denied["seq"], allowed["seq"], granted["seq"]], reverse=True)
    assert bank.institution is not None
    with family.services.session() as s:
        name = s.get(Institution, bank.institution.id).name  # type: ignore[union-attr]
    assert denied | {"seq": 0, "at": ""} == {
        "seq": 0, "at": "", "actor_type": "institution", "institution": {"id": bank.institution.id, "name": name},
        "action": "query", "purpose": "credit_card_approval", "consent_id": consent, "decision": "deny",
        "reason": "purpose_mismatch", "categories": [], "records_returned": 0}
    assert allowed | {"seq": 0, "at": ""} == {
        "seq": 0, "at": "", "actor_type": "institution", "institution": {"id": bank.institution.id, "name": name},
        "action": "query", "purpose": "loan_approval", "consent_id": consent, "decision": "allow",
        "reason": "consent", "categories": ["administrative_penalty", "identity"], "records_returned": 2}
    assert (granted["action"], granted["actor_type"], granted["institution"]) == ("consent.grant", "guardian", None)
    assert page["next_before"] == granted["seq"]
    # The same entries without naming the only ward; the read just made is now the newest entry.
    again = family.log(family.guardian, limit=3).json()["items"]
    assert (again[0]["action"], again[0]["actor_type"], again[0]["decision"]) == ("access_log.read", "guardian",
                                                                                  "allow")
    assert again[1:] == [denied, allowed]
