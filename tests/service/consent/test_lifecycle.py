"""The consent lifecycle on SQLite and PostgreSQL: request, grant, narrow, reject, revoke, use, expiry."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from policies import Role, make_resident_id
from policies.consent import ConsentRuleError
from service.audit_log.models import AuditEntryRow
from service.consent.models import Consent
from service.consent.service import (
    RECEIPT_TYPE,
    ConsentConflict,
    ConsentForbidden,
    ConsentNotFound,
    ConsentService,
    Narrowing,
    NewRequest,
    shown_terms,
)
from service.db.raw import of_session
from service.documents.signing import verify_document
from service.identity.models import Institution
from service.identity.principal import Principal
from tests.service.consent.conftest import World

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _ask(world: World, institution: Principal | None = None, id_number: str | None = None,  # type: ignore[no-untyped-def]
         now: datetime = NOW, **kw: object):
    data = {"id_number": id_number or world.adult_id_number, "purpose": "loan_approval",
            "categories": ["identity", "judicial_enforcement"], "valid_days": 30, "valid_until": None,
            "max_queries": 3, "reason": "个人住房贷款审批"}
    data.update(kw)
    return ConsentService(world.services).create_request(institution or world.bank, NewRequest(**data), "r1", now)  # type: ignore[arg-type]


def _audit(world: World) -> list[dict[str, object]]:
    with world.services.session() as s:
        return [json.loads(b) for b in s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()]  # type: ignore[call-overload]


def test_request_for_unknown_person_looks_the_same(world: World) -> None:
    known = _ask(world)
    unknown = _ask(world, id_number=make_resident_id("500103", date(1970, 1, 1), 1, "male"))
    assert known.state == unknown.state == "pending"
    assert known.expires_at == NOW + timedelta(days=7)
    entries = [e for e in _audit(world) if e["action"] == "consent.request"]
    assert entries[0]["subject"] == world.adult.subject_id and entries[1]["subject"] is None
    assert world.adult_id_number not in json.dumps(entries)


def test_request_rules_are_enforced(world: World) -> None:
    with pytest.raises(ConsentRuleError) as info:
        _ask(world, valid_days=None)
    assert info.value.code == "validity_required"
    with pytest.raises(ConsentRuleError) as info:
        _ask(world, institution=world.employer)
    assert info.value.code == "purpose_not_permitted"


def test_grant_narrowed_with_verifiable_receipt(world: World) -> None:
    svc = ConsentService(world.services)
    req = _ask(world)
    pending = svc.pending_for(world.adult, NOW)
    assert [(r.id, reason) for r, _, _, reason in pending] == [(req.id, "个人住房贷款审批")]
    # Reading the reason (free text about the person) went through the gate and is audited.
    read = [e for e in _audit(world) if e["action"] == "consent_request.read"]
    assert [(e["subject"], e["details"]["requests"]) for e in read] == [(world.adult.subject_id, [req.id])]
    assert svc.pending_for(world.stranger, NOW) == []
    later = NOW + timedelta(hours=1)
    narrowed = Narrowing(categories=["identity"], valid_days=10, max_queries=2)
    consent = svc.grant(world.adult, req.id, narrowed, "r2", later)
    assert (consent.state, consent.categories, consent.max_uses) == ("active", ["identity"], 2)
    assert consent.valid_until == later + timedelta(days=10)
    public = world.services.keyring.signing_key("documents").public_key()
    receipt = verify_document(consent.receipt, public, RECEIPT_TYPE)
    with world.services.session() as s:
        inst = s.get(Institution, world.bank.institution_id)
        assert inst is not None
        shown = shown_terms(req, inst, "个人住房贷款审批")
        # The hash covers exactly the notice text the person was shown (PIPL arts. 17 and 23).
        assert receipt["terms_sha256"] == hashlib.sha256(shown["notice"].encode("utf-8")).hexdigest()
        assert receipt["terms_sha256"] == shown["notice_sha256"]
    assert receipt["consent_id"] == consent.id and receipt["max_queries"] == 2
    assert receipt["categories"] == ["identity"] and receipt["subject"] == world.adult.subject_id
    with pytest.raises(ValueError):
        verify_document(consent.receipt[:-4] + "AAAA", public, RECEIPT_TYPE)
    assert svc.institution_request(world.bank, req.id, later).consent_id == consent.id
    with pytest.raises(ConsentConflict):
        svc.grant(world.adult, req.id, Narrowing(), "r3", later)


def test_widening_refused_and_strangers_see_nothing(world: World) -> None:
    svc = ConsentService(world.services)
    req = _ask(world)
    with pytest.raises(ConsentRuleError) as info:
        svc.grant(world.adult, req.id, Narrowing(max_queries=4), "r", NOW)
    assert info.value.code == "consent_widening_refused"
    with pytest.raises(ConsentNotFound):
        svc.grant(world.stranger, req.id, Narrowing(), "r", NOW)
    with pytest.raises(ConsentNotFound):
        svc.institution_request(world.other_bank, req.id, NOW)


def test_minor_cannot_grant_but_guardian_can_until_fourteen(world: World) -> None:
    svc = ConsentService(world.services)
    req = _ask(world, id_number=world.minor_id_number)
    minor_self = Principal(role=Role.SUBJECT, actor_id="acct-minor", account_id=None, subject_id=world.minor_subject)
    with pytest.raises(ConsentForbidden) as info:
        svc.grant(minor_self, req.id, Narrowing(), "r", NOW)
    assert info.value.code == "subject_is_minor"
    assert [r.id for r, _, _, _ in svc.pending_for(world.guardian, NOW)] == [req.id]
    consent = svc.grant(world.guardian, req.id, Narrowing(), "r", NOW)
    assert consent.subject_id == world.minor_subject and consent.granted_by == world.guardian.account_id
    late = _ask(world, id_number=world.minor_id_number)
    birthday = datetime(2030, 5, 31, 16, 0, tzinfo=UTC)  # 2030-06-01 00:00 in China
    with pytest.raises(ConsentForbidden) as info:
        svc.grant(world.guardian, late.id, Narrowing(), "r", birthday)
    assert info.value.code == "ward_of_age"


def test_reject_and_pending_expiry(world: World) -> None:
    svc = ConsentService(world.services)
    rejected = svc.reject(world.adult, _ask(world).id, "r", NOW)
    assert rejected.state == "rejected"
    lapsing = _ask(world)
    with pytest.raises(ConsentConflict) as info:
        svc.grant(world.adult, lapsing.id, Narrowing(), "r", NOW + timedelta(days=7))
    assert info.value.code == "request_not_pending"
    assert svc.institution_request(world.bank, lapsing.id, NOW).state == "expired"
    actions = [e["action"] for e in _audit(world)]
    assert "consent.reject" in actions and "consent_request.expire" in actions


def test_revocation_and_uses(world: World) -> None:
    svc = ConsentService(world.services)
    consent = svc.grant(world.adult, _ask(world, max_queries=2).id, Narrowing(), "r", NOW)
    inst = world.bank.institution_id
    assert inst is not None
    with world.services.write_session() as s, s.begin():
        assert svc.take_use(of_session(s), consent.id, inst, "loan_approval", NOW) == 1
        assert svc.take_use(of_session(s), consent.id, inst, "post_loan_management", NOW) is None  # wrong purpose
        other = world.other_bank.institution_id or ""
        assert svc.take_use(of_session(s), consent.id, other, "loan_approval", NOW) is None
    revoked = svc.revoke(world.adult, consent.id, "r", NOW)
    assert revoked.state == "revoked"
    with world.services.write_session() as s, s.begin():
        assert svc.take_use(of_session(s), consent.id, inst, "loan_approval", NOW) is None
    with pytest.raises(ConsentConflict):
        svc.revoke(world.adult, consent.id, "r", NOW)
    with pytest.raises(ConsentNotFound):
        svc.revoke(world.stranger, consent.id, "r", NOW)
    assert [e["action"] for e in _audit(world)][-1] == "consent.revoke"


def test_exhaustion_and_expiry_sweep(world: World) -> None:
    svc = ConsentService(world.services)
    one = svc.grant(world.adult, _ask(world, max_queries=1).id, Narrowing(), "r", NOW)
    short = svc.grant(world.adult, _ask(world, valid_days=1).id, Narrowing(), "r", NOW)
    _ask(world)  # stays pending until it lapses
    inst = world.bank.institution_id or ""
    with world.services.write_session() as s, s.begin():
        assert svc.take_use(of_session(s), one.id, inst, "loan_approval", NOW) == 1
        assert svc.take_use(of_session(s), one.id, inst, "loan_approval", NOW) is None
        assert svc.take_use(of_session(s), short.id, inst, "loan_approval", NOW + timedelta(days=1)) is None
    assert svc.expire_due(NOW + timedelta(hours=1)) == (0, 1)
    assert svc.expire_due(NOW + timedelta(days=8)) == (1, 1)
    assert svc.expire_due(NOW + timedelta(days=8)) == (0, 0)
    with world.services.session() as s:
        states = {c.id: c.state for c in s.execute(select(Consent)).scalars()}
    assert states == {one.id: "exhausted", short.id: "expired"}
    actions = [e["action"] for e in _audit(world)]
    assert {"consent.exhaust", "consent.expire", "consent_request.expire"} <= set(actions)


def test_no_query_started_after_revocation_succeeds(world: World) -> None:
    """Queries race a revocation; any use that began after revoke() returned must fail."""
    svc = ConsentService(world.services)
    # Real time throughout: the queries and the revocation run on the wall clock.
    request = _ask(world, purpose="post_loan_management", valid_days=365, max_queries=36, now=datetime.now(UTC))
    consent = svc.grant(world.adult, request.id, Narrowing(), "r", datetime.now(UTC))
    inst = world.bank.institution_id or ""
    results: list[tuple[float, bool]] = []
    revoked_at: list[float] = []
    stop = threading.Event()
    first_success = threading.Event()
    lock = threading.Lock()

    revoked = threading.Event()

    def query_loop() -> None:
        while not stop.is_set():
            with lock:
                successes = sum(1 for _, ok in results if ok)
            if successes >= 30 and not revoked.is_set():
                # Keep uses in hand so that the revocation, not exhaustion, is what stops them.
                time.sleep(0.001)
                continue
            started = time.monotonic()
            with world.services.write_session() as s, s.begin():
                uses = svc.take_use(of_session(s), consent.id, inst, "post_loan_management", datetime.now(UTC))
            ok = uses is not None
            with lock:
                results.append((started, ok))
            if ok:
                first_success.set()
            time.sleep(0.003)

    threads = [threading.Thread(target=query_loop) for _ in range(4)]
    for t in threads:
        t.start()
    # Revoke while queries are running (36 uses would last far longer than this).
    assert first_success.wait(10)
    svc.revoke(world.adult, consent.id, "r", datetime.now(UTC))
    revoked_at.append(time.monotonic())
    revoked.set()
    time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    before = [ok for started, ok in results if started < revoked_at[0]]
    after = [ok for started, ok in results if started > revoked_at[0]]
    assert any(before), "some queries ran before the revocation"
    assert after and not any(after), "a query that started after the revocation succeeded"
