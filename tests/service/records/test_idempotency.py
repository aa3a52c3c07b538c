"""Idempotent registration: replays, key reuse, keys per provider, and concurrent retries."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role
from service.db.types import utcnow
from service.http.app import create_app
from service.records.models import CreditRecord
from service.records.service import NewRecord, RecordConflict, RecordDocument, RecordService
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for, new_resident_id
from tests.service.records.helpers import audit_bodies, court_body, record_count


def _key(caller: Caller, key: str) -> dict[str, str]:
    return {**caller.headers, "Idempotency-Key": key}


def test_a_retry_returns_the_original_record(http: TestClient[Any], services: Services, court: Caller) -> None:
    body = court_body(leniency=["slight", "not_intentional"])
    first = http.post("/v1/records", headers=_key(court, "case-2026:0001"), json=body)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # Same request, other JSON formatting and flag order: the same request.
    retry_body = {**body, "leniency": ["not_intentional", "slight"], "name": " 张三丰 "}
    retry = http.post("/v1/records", headers=_key(court, "case-2026:0001"), json=retry_body)
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert record_count(services) == 1
    assert len(audit_bodies(services, "record.register")) == 1
    assert len(audit_bodies(services, "subject.register")) == 1
    with services.session() as s:
        row = s.execute(select(CreditRecord)).scalar_one()
    # The key is stored as a keyed hash: a client may put a case number (or worse) in it.
    assert row.idempotency_key == RecordService(services).key_hash(court.actor_id, "case-2026:0001")
    assert row.idempotency_key != "case-2026:0001" and "case-2026" not in (row.idempotency_key or "")


def test_a_key_reused_for_another_request_is_refused(
    http: TestClient[Any], services: Services, court: Caller
) -> None:
    body = court_body()
    assert http.post("/v1/records", headers=_key(court, "k-1"), json=body).status_code == 201
    other = http.post("/v1/records", headers=_key(court, "k-1"), json={**body, "facts": "另一份事实。"})
    assert other.status_code == 409, other.text
    assert other.json()["code"] == "idempotency_key_reused"
    assert "另一份事实" not in other.text
    # Even a request that would be refused on its own gets the conflict for a used key.
    bad = http.post("/v1/records", headers=_key(court, "k-1"), json={**body, "item_code": "admin_penalty_general"})
    assert bad.status_code == 409 and bad.json()["code"] == "idempotency_key_reused"
    assert record_count(services) == 1
    assert len(audit_bodies(services, "record.register")) == 1


def test_keys_belong_to_one_provider(http: TestClient[Any], services: Services, court: Caller) -> None:
    other_court = issue_token_for(services, Role.PROVIDER, provider_type="court")
    body = court_body()
    a = http.post("/v1/records", headers=_key(court, "shared-key"), json=body)
    b = http.post("/v1/records", headers=_key(other_court, "shared-key"), json=body)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert record_count(services) == 2


@pytest.mark.parametrize("key", ["", "has space", "semi;colon", "中文", "x" * 129])
def test_malformed_keys_are_refused(http: TestClient[Any], services: Services, court: Caller, key: str) -> None:
    headers: dict[str, Any] = {**court.headers, "Idempotency-Key": key.encode("utf-8")}
    resp = http.post("/v1/records", headers=headers, json=court_body())
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "invalid_idempotency_key"
    assert record_count(services) == 0


def test_the_longest_key_is_accepted(http: TestClient[Any], court: Caller) -> None:
    key = "A1._:-" * 21 + "ab"
    assert len(key) == 128
    assert http.post("/v1/records", headers=_key(court, key), json=court_body()).status_code == 201


def test_a_refused_request_does_not_use_up_its_key(http: TestClient[Any], services: Services, court: Caller) -> None:
    body = court_body()
    refused = http.post("/v1/records", headers=_key(court, "k-2"), json={**body, "procedure": "summary"})
    assert refused.status_code == 400
    assert http.post("/v1/records", headers=_key(court, "k-2"), json=body).status_code == 201
    assert record_count(services) == 1


def _new_record(id_number: str) -> NewRecord:
    day = date.fromisoformat(court_body()["decision_date"])
    return NewRecord(
        id_number=id_number, name="李四", item_code="court_dishonest_judgment_debtor",
        document=RecordDocument("enforcement_ruling", "（2026）京0105执9号", "示范市朝阳区人民法院", day),
        decision_date=day, facts="被执行人拒不履行给付义务。", procedure="general", first_violation_corrected=False,
    )


def test_concurrent_retries_create_exactly_one_record(services: Services, court: Caller) -> None:
    """Many threads send the same keyed request at once (a new person, so the subject is
    created concurrently too): one record, one subject, one audit entry, every caller gets it."""
    new = _new_record(new_resident_id(33))
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            barrier.wait()
            record, created = RecordService(services).register(
                court.actor_id, new, idempotency_key="retry-storm", request_id=None, now=utcnow())
            with lock:
                results.append((record.id, created))
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == threads_n
    assert len({rid for rid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert record_count(services) == 1
    assert len(audit_bodies(services, "record.register")) == 1
    assert len(audit_bodies(services, "subject.register")) == 1


def test_losing_the_race_at_the_unique_index_answers_with_the_winner(
    services: Services, court: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both checks for an earlier record miss it (as when two retries run side by side); the
    unique index refuses the second insert, and the loser answers with the winner's record,
    or with the conflict when its body differs."""
    import service.records.service as records_service

    new = _new_record(new_resident_id(45))
    winner, created = RecordService(services).register(court.actor_id, new, idempotency_key="race",
                                                       request_id=None, now=utcnow())
    assert created
    real_by_key = records_service._by_key
    calls = {"n": 0}

    def find_after_insert(self: RecordService, provider_id: str, key: str) -> CreditRecord | None:
        calls["n"] += 1
        if calls["n"] == 1:  # the check before the transaction misses
            return None
        with services.session() as s:
            return real_by_key(s, provider_id, self.key_hash(provider_id, key))

    monkeypatch.setattr(records_service, "_by_key", lambda *_: None)  # so does the one inside it
    monkeypatch.setattr(RecordService, "find_by_key", find_after_insert)
    record, created = RecordService(services).register(court.actor_id, new, idempotency_key="race",
                                                       request_id=None, now=utcnow())
    assert (record.id, created) == (winner.id, False)

    calls["n"] = 0
    other = replace(new, facts="不同的事实。")
    with pytest.raises(RecordConflict):
        RecordService(services).register(court.actor_id, other, idempotency_key="race", request_id=None,
                                         now=utcnow())
    assert record_count(services) == 1
    assert len(audit_bodies(services, "record.register")) == 1


def test_concurrent_retries_over_http(services: Services, court: Caller) -> None:
    body = court_body()
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        barrier = threading.Barrier(6)

        def attempt() -> None:
            barrier.wait()
            resp = client.post("/v1/records", headers=_key(court, "http-storm"), json=body)
            with lock:
                answers.append((resp.status_code, resp.json().get("id", resp.text)))

        threads = [threading.Thread(target=attempt) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(code for code, _ in answers) == [200] * 5 + [201]
    assert len({rid for _, rid in answers}) == 1
    assert record_count(services) == 1
    assert len(audit_bodies(services, "record.register")) == 1
