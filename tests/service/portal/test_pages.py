"""The person's pages over HTTP: what they show is what /v1/me returns for the same person
(and nothing of anyone else), and each action does exactly what the API does."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.jwk import KeySet
from litestar.testing import TestClient

from policies import Role
from policies.access import CHINA_STANDARD_TIME
from service.db.types import utcnow
from service.identity.jose import StrictJWSRegistry
from service.runtime import Services
from tests.service.identity.tokens import (
    make_account,
    make_guardianship,
    make_provider,
    new_resident_id,
    token_for_account,
)
from tests.service.portal.conftest import People, csrf_of, sign_in
from tests.service.query.conftest import add_record

_HEX = re.compile(r"[0-9a-f]{32}")


def _api(portal: TestClient[Any], services: Services, account: Any, path: str, **params: Any) -> Any:
    headers = token_for_account(services, account).headers
    resp = portal.get(path, headers=headers, params=params or None)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _ids(text: str) -> set[str]:
    return set(_HEX.findall(text))


def _grant(portal: TestClient[Any], request_id: str, **fields: Any) -> Any:
    csrf = csrf_of(portal.get(f"/app/requests/{request_id}").text)
    data = {"csrf": csrf, "categories": ["identity", "judicial_enforcement", "tax"], "valid_days": "30",
            "max_queries": "3", **fields}
    return portal.post(f"/app/requests/{request_id}/grant", data=data, follow_redirects=False)


def _query(portal: TestClient[Any], people: People, consent_id: str) -> Any:
    return portal.post("/v1/queries", headers=people.bank.headers,
                       json={"consent_id": consent_id, "purpose": "loan_approval"})


def test_pages_show_what_the_api_returns_and_nothing_more(portal: TestClient[Any], services: Services,
                                                          people: People) -> None:
    person = people.person
    court = make_provider(services)
    record = add_record(services, person.subject_id, court.id, "court_dishonest_judgment_debtor",
                        utcnow().astimezone(CHINA_STANDARD_TIME).date() - timedelta(days=20))
    pending = [people.ask(portal), people.ask(portal, categories=["identity"], max_queries=1)]
    granted = people.ask(portal)
    # Someone else, with a request, a consent and a record of their own.
    stranger = make_account(services, Role.SUBJECT)
    theirs = people.ask(portal, id_number=stranger.id_number)
    their_record = add_record(services, stranger.subject_id, court.id, "court_dishonest_judgment_debtor",
                              utcnow().astimezone(CHINA_STANDARD_TIME).date() - timedelta(days=5))
    their_consent = portal.post(f"/v1/me/consent-requests/{theirs}/grant",
                                headers=token_for_account(services, stranger).headers).json()["consent"]["id"]
    sign_in(portal, person)
    assert _grant(portal, granted).status_code == 303

    requests_page = portal.get("/app/requests").text
    api_requests = _api(portal, services, person, "/v1/me/consent-requests")["items"]
    assert {r["id"] for r in api_requests} == set(pending)
    assert _ids(requests_page) == set(pending)
    for r in api_requests:
        assert r["institution"]["name"] in requests_page and r["purpose"]["name"] in requests_page

    consents_page = portal.get("/app/consents").text
    api_consents = _api(portal, services, person, "/v1/me/consents")["items"]
    assert _ids(consents_page) == {c["id"] for c in api_consents}
    (consent,) = api_consents
    assert consent["institution"]["name"] in consents_page

    report_page = portal.get("/app/report").text
    report = _api(portal, services, person, "/v1/me/report")["report"]
    assert _ids(report_page) == {r["id"] for r in report["records"]} == {record}
    (shown,) = report["records"]
    for value in (report["subject"]["name"], report["subject"]["id_number"], shown["facts"],
                  shown["document"]["number"], shown["item_name"], shown["disclosure_ends"]):
        assert value in report_page
    # The page shows the masked ID number the API returns, never the full one.
    assert person.id_number not in report_page and report["subject"]["id_number"] != person.id_number

    log_page = portal.get("/app/access-log").text
    api_log = _api(portal, services, person, "/v1/me/access-log", limit=200)["items"]
    shown_seqs = {int(s) for s in re.findall(r'id="entry-(\d+)"', log_page)}
    api_seqs = {e["seq"] for e in api_log}
    assert shown_seqs and shown_seqs <= api_seqs
    # Only entries made after the page was drawn (the API's own read of the log) are missing from it.
    assert all(seq > max(shown_seqs) for seq in api_seqs - shown_seqs)

    everything = requests_page + consents_page + report_page + log_page
    for foreign in (theirs, their_record, their_consent, stranger.subject_id, stranger.id_number):
        assert foreign not in everything


def test_a_guardian_acts_for_one_ward_at_a_time(portal: TestClient[Any], services: Services,
                                                people: People) -> None:
    guardian = make_account(services, Role.GUARDIAN)
    first_number, second_number = new_resident_id(age=10), new_resident_id(age=8)
    wards = sorted([make_guardianship(services, guardian.id, first_number),
                    make_guardianship(services, guardian.id, second_number)])
    asked = {number: people.ask(portal, id_number=number) for number in (first_number, second_number)}
    sign_in(portal, guardian)
    me = _api(portal, services, guardian, "/v1/me")
    assert me["role"] == "guardian" and me["wards"] == wards and me["subject"] is None
    api_items = _api(portal, services, guardian, "/v1/me/consent-requests")["items"]
    by_ward = {i["subject"]: i["id"] for i in api_items}
    assert set(by_ward.values()) == set(asked.values())

    page = portal.get("/app/requests").text
    assert 'name="ward"' in page and all(f'value="{w}"' in page for w in wards)
    assert _ids(page) - set(wards) == {by_ward[wards[0]]}
    # Switch to the second ward: only their request shows.
    switched = portal.post("/app/ward", data={"csrf": csrf_of(page), "ward": wards[1], "page": "/app/requests"},
                           follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/app/requests"
    page = portal.get("/app/requests").text
    assert _ids(page) - set(wards) == {by_ward[wards[1]]} and "已切换到另一位被监护人" in page
    # A subject id that is not a ward is refused and changes nothing.
    stranger = make_account(services, Role.SUBJECT)
    refused = portal.post("/app/ward", data={"csrf": csrf_of(page), "ward": stranger.subject_id})
    assert refused.status_code == 404
    assert _ids(portal.get("/app/requests").text) - set(wards) == {by_ward[wards[1]]}
    # Grant for the ward; the consent and the report are the ward's.
    assert _grant(portal, by_ward[wards[1]]).status_code == 303
    consents = portal.get("/app/consents").text
    api_consents = _api(portal, services, guardian, "/v1/me/consents")["items"]
    assert [c["subject"] for c in api_consents] == [wards[1]] and api_consents[0]["for"] == "ward"
    assert api_consents[0]["id"] in consents and "被监护人" in consents
    report = portal.get("/app/report")
    api_report = _api(portal, services, guardian, "/v1/me/report", subject=wards[1])["report"]
    assert report.status_code == 200 and api_report["subject"]["id_number"] in report.text
    log = portal.get("/app/access-log").text
    assert "给出了授权" in log
    # Back to the first ward: the second ward's consent is not on its page.
    portal.post("/app/ward", data={"csrf": csrf_of(log), "ward": wards[0], "page": "/app/consents"})
    assert api_consents[0]["id"] not in portal.get("/app/consents").text


def test_grant_narrowed_but_never_widened(portal: TestClient[Any], services: Services, people: People) -> None:
    request_id = people.ask(portal)
    sign_in(portal, people.person)
    form = portal.get(f"/app/requests/{request_id}").text
    for code in ("identity", "judicial_enforcement", "tax"):
        assert f'id="cat-{code}" name="categories" value="{code}" checked' in form
    assert 'max="30"' in form and 'max="3"' in form
    refusals = [
        ({"categories": ["identity", "education"]}, "您可以缩小请求的范围，但不能扩大"),
        ({"max_queries": "4"}, "您可以缩小请求的范围，但不能扩大"),
        ({"valid_days": "31"}, "您可以缩小请求的范围，但不能扩大"),
        ({"categories": []}, "请至少选择一个信息类别"),
        ({"max_queries": "0"}, "请至少允许查询 1 次"),
        ({"valid_days": "ten"}, "请检查您填写的内容"),
        ({"valid_days": "9" * 5000}, "请检查您填写的内容"),
        ({"max_queries": "²"}, "请检查您填写的内容"),
    ]
    for fields, words in refusals:
        resp = _grant(portal, request_id, **fields)
        assert resp.status_code in (400, 409) and words in resp.text, (fields, resp.status_code)
    assert _api(portal, services, people.person, "/v1/me/consents")["items"] == []
    before = utcnow()
    done = _grant(portal, request_id, categories=["identity", "tax"], valid_days="10", max_queries="1")
    assert done.status_code == 303 and done.headers["location"] == "/app/consents"
    (consent,) = _api(portal, services, people.person, "/v1/me/consents")["items"]
    assert consent["categories"] == ["identity", "tax"] and consent["max_uses"] == 1
    until = datetime.fromisoformat(consent["valid_until"].replace("Z", "+00:00"))
    assert before + timedelta(days=10) <= until <= utcnow() + timedelta(days=10)
    page = portal.get("/app/consents").text
    assert "已同意授权" in page and f"/app/consents/{consent['id']}/receipt" in page and "剩余 1 次" in page
    # The notice shows once.
    assert "已同意授权" not in portal.get("/app/consents").text


def test_grant_a_request_with_an_end_date_to_an_earlier_day(portal: TestClient[Any], services: Services,
                                                            people: People) -> None:
    end = (utcnow() + timedelta(days=20)).replace(microsecond=0)
    request_id = people.ask(portal, valid_days=None, valid_until=end.isoformat())
    sign_in(portal, people.person)
    form = portal.get(f"/app/requests/{request_id}").text
    last_day = end.astimezone(CHINA_STANDARD_TIME).date()
    assert 'name="valid_until_day" min="' in form and f'max="{last_day.isoformat()}"' in form
    chosen = last_day - timedelta(days=5)
    csrf = csrf_of(form)
    later = portal.post(f"/app/requests/{request_id}/grant", data={
        "csrf": csrf, "categories": ["identity"], "valid_until_day": (last_day + timedelta(days=1)).isoformat(),
        "max_queries": "3"})
    assert later.status_code == 400 and "不能扩大" in later.text
    done = portal.post(f"/app/requests/{request_id}/grant", data={
        "csrf": csrf, "categories": ["identity"], "valid_until_day": chosen.isoformat(), "max_queries": "3"},
        follow_redirects=False)
    assert done.status_code == 303
    (consent,) = _api(portal, services, people.person, "/v1/me/consents")["items"]
    until = datetime.fromisoformat(consent["valid_until"].replace("Z", "+00:00"))
    assert until == datetime.combine(chosen + timedelta(days=1), datetime.min.time(), CHINA_STANDARD_TIME)


def test_reject_revoke_and_the_receipt(portal: TestClient[Any], services: Services, people: People) -> None:
    rejected, granted = people.ask(portal), people.ask(portal)
    stranger = make_account(services, Role.SUBJECT)
    theirs = people.ask(portal, id_number=stranger.id_number)
    their_consent = portal.post(f"/v1/me/consent-requests/{theirs}/grant",
                                headers=token_for_account(services, stranger).headers).json()["consent"]["id"]
    sign_in(portal, people.person)
    page = portal.get(f"/app/requests/{rejected}").text
    done = portal.post(f"/app/requests/{rejected}/reject", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/app/requests"
    assert "已拒绝该请求" in portal.get("/app/requests").text
    assert [r["id"] for r in _api(portal, services, people.person, "/v1/me/consent-requests")["items"]] == [granted]
    # Answering it again is refused in words.
    again = portal.post(f"/app/requests/{rejected}/reject", data={"csrf": csrf_of(page)})
    assert again.status_code == 409 and "该请求已答复或已失效" in again.text

    _grant(portal, granted, categories=["identity"], max_queries="2")
    (consent,) = _api(portal, services, people.person, "/v1/me/consents")["items"]
    receipt = portal.get(f"/app/consents/{consent['id']}/receipt")
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("application/jose")
    assert receipt.headers["content-disposition"] == f'attachment; filename="consent-{consent["id"]}.jws"'
    keys = KeySet.import_key_set(portal.get("/oauth/jwks").json())
    claims = json.loads(jws.deserialize_compact(receipt.text, keys, algorithms=["EdDSA"],
                                                registry=StrictJWSRegistry(["EdDSA"])).payload)
    assert claims["consent_id"] == consent["id"] and claims["categories"] == ["identity"]
    assert claims["max_queries"] == 2

    page = portal.get("/app/consents").text
    revoked = portal.post(f"/app/consents/{consent['id']}/revoke", data={"csrf": csrf_of(page)},
                          follow_redirects=False)
    assert revoked.status_code == 303
    page = portal.get("/app/consents").text
    assert "授权已撤回" in page and "state-revoked" in page and "撤回此授权" not in page
    assert _query(portal, people, consent["id"]).json()["code"] == "consent_revoked"
    twice = portal.post(f"/app/consents/{consent['id']}/revoke", data={"csrf": csrf_of(page)})
    assert twice.status_code == 409 and "该授权已不再有效" in twice.text
    # Somebody else's consent: not found, and untouched.
    for resp in (portal.get(f"/app/consents/{their_consent}/receipt"),
                 portal.post(f"/app/consents/{their_consent}/revoke", data={"csrf": csrf_of(page)})):
        assert resp.status_code == 404 and "不存在" in resp.text
    assert portal.get(f"/v1/consents/{their_consent}", headers=people.bank.headers).json()["state"] == "active"
    for bad in ("nothex", "A" * 32):
        assert portal.get(f"/app/consents/{bad}/receipt").status_code == 404
        assert portal.get(f"/app/requests/{bad}").status_code == 404


def test_who_looked_at_my_data(portal: TestClient[Any], services: Services, people: People) -> None:
    request_id = people.ask(portal)
    sign_in(portal, people.person)
    _grant(portal, request_id)
    (consent,) = _api(portal, services, people.person, "/v1/me/consents")["items"]
    assert _query(portal, people, consent["id"]).status_code == 200
    portal.post(f"/app/consents/{consent['id']}/revoke", data={"csrf": csrf_of(portal.get("/app/consents").text)})
    assert _query(portal, people, consent["id"]).status_code == 403
    page = portal.get("/app/access-log").text
    name = _api(portal, services, people.person, "/v1/me/consents")["items"][0]["institution"]["name"]
    assert page.count(f"<strong>{name}</strong>") >= 3  # asked, read, refused
    assert "已允许：依据您的授权" in page and "已拒绝：授权已被撤回" in page
    assert '<rect class="allowed"' in page and '<rect class="refused"' in page
    today = datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date().isoformat()
    assert f'<tr><th scope="row">{today}</th><td>1</td><td>1</td></tr>' in page
    assert 'role="img"' in page and "<title id=\"chart-title\">" in page
    # English.
    portal.get("/app/lang/en", params={"next": "/app/access-log"})
    english = portal.get("/app/access-log").text
    assert '<html lang="en">' in english and "Refused: the consent had been revoked" in english
    portal.get("/app/lang/zh-CN")
    assert '<html lang="zh-CN">' in portal.get("/app/access-log").text


def test_the_access_log_pages_back_with_or_without_htmx(portal: TestClient[Any], services: Services,
                                                        people: People) -> None:
    headers = token_for_account(services, people.person).headers
    for _ in range(60):
        assert portal.get("/v1/me/report", headers=headers).status_code == 200
    sign_in(portal, people.person)
    page = portal.get("/app/access-log").text
    seqs = [int(s) for s in re.findall(r'id="entry-(\d+)"', page)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    more = re.search(r'href="/app/access-log\?before=(\d+)" hx-get="/app/access-log\?before=(\d+)"', page)
    assert more and more.group(1) == more.group(2) == str(seqs[-1])
    fragment = portal.get(f"/app/access-log?before={seqs[-1]}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "<svg" not in fragment.text
    older = [int(s) for s in re.findall(r'id="entry-(\d+)"', fragment.text)]
    assert older and max(older) < seqs[-1]
    full = portal.get(f"/app/access-log?before={seqs[-1]}").text
    assert "<html" in full and "<svg" not in full
    assert [int(s) for s in re.findall(r'id="entry-(\d+)"', full)] == older
    assert portal.get("/app/access-log?before=abc").status_code == 400
