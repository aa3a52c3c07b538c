"""``GET /v1/public/serious-list`` over HTTP on both databases: no login, public masking, only
what the rules put on the list, filters, pages, the rate limit, an audit entry per page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role
from service.config import Settings
from service.http.app import create_app
from service.runtime import Services, build_services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import Caller, issue_token_for, new_resident_id
from tests.service.remedies.conftest import World, today

COURT = "court_dishonest_judgment_debtor"


def _person(world: World, name: str, age: int = 35) -> Caller:
    from tests.service.identity.tokens import make_account, token_for_account

    account = make_account(world.services, Role.SUBJECT, id_number=new_resident_id(age), name=name)
    return token_for_account(world.services, account)


def test_what_the_public_sees(world: World) -> None:
    zhuge = _person(world, "诸葛亮")
    li = _person(world, "李娜")
    listed = world.record(COURT, provider=world.court, subject_id=zhuge.subject_id, published=True,
                          decided=today() - timedelta(days=10))
    other = world.record(COURT, provider=world.court, subject_id=li.subject_id, published=True,
                         decided=today() - timedelta(days=20))
    # Never on the list: a repaired, corrected or revoked listing; one past its window; an unpublished
    # record; a sealed one; a minor's; a non-serious item; a penalty even if published.
    for state in ("repaired", "corrected", "revoked"):
        world.record(COURT, provider=world.court, subject_id=li.subject_id, published=True, state=state)
    world.record(COURT, provider=world.court, subject_id=li.subject_id, published=True,
                 decided=today() - timedelta(days=1200))
    world.record(COURT, provider=world.court, subject_id=li.subject_id, published=False)
    world.record(COURT, provider=world.court, subject_id=li.subject_id, published=True, sealed=True)
    world.record(COURT, provider=world.court, subject_id=li.subject_id, published=True, leniency=("minor",))
    world.record("admin_penalty_general", subject_id=li.subject_id, published=True)

    page = world.public()
    assert page["total"] == 2 and page["pages"] == 1
    assert [i["record_id"] for i in page["items"]] == [listed, other]  # newest decision first
    first = page["items"][0]
    number = str(zhuge.id_number)
    assert first["name"] == "诸**"  # surname only
    assert first["id_number"] == number[0] + "*" * 16 + number[-1]  # first and last character
    assert first["item_name"] == "失信被执行人信息" and first["serious_list_field"] == "court_and_admin_credibility"
    assert first["listed_until"] > today().isoformat() and first["disputed"] is False
    assert set(first) == {"record_id", "name", "id_number", "item_code", "item_name", "serious_list_field",
                          "authority", "decision_date", "listed_until", "disputed"}
    body = str(page)
    for secret in (number, "诸葛亮", "未按规定履行义务", str(li.id_number)):
        assert secret not in body

    # Every page served is an audit entry, without personal data.
    entry = world.audit("public_list.read")[-1]
    assert entry["actor_type"] == "public" and entry["decision"] == "allow"
    assert entry["details"]["records"] == [listed, other] and entry["seq"] == page["audit_seq"]
    assert "诸" not in str(entry) and number not in str(entry)


def test_filters_and_pages(world: World) -> None:
    tax = issue_token_for(world.services, Role.PROVIDER, provider_type="tax")
    people = [_person(world, name) for name in ("张伟", "张敏", "王芳")]
    ids = [world.record(COURT, provider=world.court, subject_id=p.subject_id, published=True,
                        decided=today() - timedelta(days=k + 1)) for k, p in enumerate(people)]
    tax_id = world.record("tax_major_violation", provider=tax, subject_id=people[2].subject_id, published=True,
                          decided=today() - timedelta(days=30))
    assert world.public(per_page=2)["pages"] == 2
    second = world.public(per_page=2, page=2)
    assert [i["record_id"] for i in second["items"]] == [ids[2], tax_id] and second["total"] == 4
    assert world.public_ids(item="tax_major_violation") == {tax_id}
    assert world.public_ids(name_prefix="张") == {ids[0], ids[1]}
    assert world.public_ids(name_prefix="张*") == {ids[0], ids[1]}
    # Only the masked name can be matched: a full name finds nobody.
    assert world.public_ids(name_prefix="张伟") == set()
    assert world.public_ids(name_prefix="王", item=COURT) == {ids[2]}
    assert world.audit("public_list.read")[-1]["details"]["name_prefix_chars"] == 1
    assert world.public(page=9)["items"] == []


@pytest.mark.parametrize(("params", "code"), [
    ({"id_number": "110105194912310021"}, "unknown_parameter"),
    ({"name": "张伟"}, "unknown_parameter"),
    ({"name_prefix": "张伟张伟张"}, "name_prefix_invalid"),
    ({"name_prefix": " "}, "name_prefix_invalid"),
    ({"item": "admin_penalty_general"}, "item_not_listed"),
    ({"item": "nope"}, "item_not_listed"),
    ({"per_page": "51"}, "validation_error"),
    ({"page": "0"}, "validation_error"),
    ({"page": "x"}, "validation_error"),
])
def test_bad_queries(world: World, params: dict[str, str], code: str) -> None:
    problem = assert_problem(world.http.get("/v1/public/serious-list", params=params), 400, code)
    assert "110105194912310021" not in str(problem) and "张伟" not in str(problem)


def test_no_login_is_needed_and_a_token_changes_nothing(world: World) -> None:
    world.record(COURT, provider=world.court, published=True)
    anonymous = world.public()
    with_token = world.http.get("/v1/public/serious-list", headers=world.bank.headers).json()
    assert anonymous["items"] == with_token["items"]


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[TestClient[Any], Services]]:
    from dataclasses import replace

    services = build_services(replace(settings, public_list_per_minute=3))
    services.start()
    with TestClient(create_app(services=services), raise_server_exceptions=False) as http:
        yield http, services
    services.close()


def test_rate_limited_per_client_address(limited: tuple[TestClient[Any], Services]) -> None:
    http, services = limited
    for _ in range(3):
        assert http.get("/v1/public/serious-list").status_code == 200
    refused = http.get("/v1/public/serious-list")
    problem = assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert "items" not in problem
    metrics = http.get("/metrics", headers=issue_token_for(services, Role.OPERATOR).headers).text
    assert 'creditgate_rate_limited_total{route="/v1/public/serious-list"}' in metrics


def test_the_rate_limiter_by_itself() -> None:
    from service.public.ratelimit import RateLimiter

    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.admit("a") is None and limiter.admit("a") is None
    assert limiter.admit("a") == 30  # one token every 30 seconds at 2 a minute
    assert limiter.admit("b") is None  # per address
    now[0] += 30
    assert limiter.admit("a") is None
    assert limiter.admit("a") == 30
    with pytest.raises(ValueError):
        RateLimiter(0)
