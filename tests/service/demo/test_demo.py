"""The demo data set on both databases: idempotent, every consent state, the whole catalog, usable logins."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import func, select

from audit import key_id_for
from policies import disclosure_window, effective_record_state, load_catalog
from policies.access import CHINA_STANDARD_TIME
from service.audit_log.models import AuditEntryRow
from service.audit_log.store import verify_database
from service.consent.models import Consent, ConsentRequest
from service.demo.load import DEMO_PASSWORD, demo_steps, load_demo
from service.demo.organisations import INSTITUTIONS, PROVIDERS
from service.http.app import create_app
from service.identity.models import Account, Guardianship, Institution, OAuthClient, Provider
from service.identity.passwords import verify_password
from service.records.models import CreditRecord
from service.remedies.models import Complaint, ListingNotice, Objection, Repair
from service.runtime import Services
from service.subjects.models import Subject
from tests.service.identity.tokens import client_credentials_token

COUNT = 40

TABLES: tuple[Any, ...] = (Subject, Provider, Institution, Account, Guardianship, OAuthClient, CreditRecord,
                           ConsentRequest, Consent, AuditEntryRow, Objection, Complaint, Repair, ListingNotice)


def _counts(services: Services) -> dict[str, int]:
    with services.session() as s:
        return {t.__tablename__: int(s.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}


def test_the_demo_loads_once_and_covers_every_state(services: Services, tmp_path: Path) -> None:
    steps: list[int] = []
    first = load_demo(services, COUNT, progress=steps.append)
    assert sum(steps) == demo_steps(COUNT)
    assert first.new_subjects == COUNT  # the ward is one of the generated children
    assert (first.new_providers, first.new_institutions) == (len(PROVIDERS), len(INSTITUTIONS))
    assert first.new_accounts == 8 and first.new_records > COUNT // 2
    assert first.bank_credentials is not None and first.bank_credentials.client_secret
    after_first = _counts(services)

    again = load_demo(services, COUNT)
    assert (again.new_subjects, again.new_providers, again.new_institutions, again.new_accounts,
            again.new_records, again.new_consent_requests) == (0, 0, 0, 0, 0, 0)
    assert again.bank_credentials is None  # no file to keep it in, and no new client either
    assert _counts(services) == after_first
    assert again.records_by_category == first.records_by_category
    assert again.consent_states == first.consent_states

    # Consents and requests in every state.
    assert set(first.consent_states) == {"active", "revoked", "expired", "exhausted"}
    assert set(first.request_states) == {"pending", "granted", "rejected", "expired"}
    # Records: every catalog item and category; inside, at the edge of and past their windows.
    catalog = load_catalog()
    today = datetime.now(CHINA_STANDARD_TIME).date()
    with services.session() as s:
        records = list(s.execute(select(CreditRecord)).scalars())
        consents = list(s.execute(select(Consent)).scalars())
    assert {r.item_code for r in records} == set(catalog)
    assert set(first.records_by_category) == {item.category for item in catalog.values()}
    states = [effective_record_state(r.state, disclosure_window(catalog[r.item_code], r.decision_date), today)
              for r in records]
    assert "active" in states and "expired" in states
    assert any(0 <= (r.disclosure_ends - today).days <= 7 for r in records)  # on the edge
    assert any("minor" in r.leniency for r in records)  # the ward's record at least
    assert all(r.request_sha256 and r.idempotency_key for r in records)
    # Uses went through the governed query path.
    assert any(c.uses == 1 and c.state == "active" for c in consents)
    assert any(c.state == "exhausted" and c.uses == c.max_uses for c in consents)

    # One remedy in each state, on the demo logins.
    with services.session() as s:
        objections = list(s.execute(select(Objection)).scalars())
        complaints = list(s.execute(select(Complaint)).scalars())
        repairs = list(s.execute(select(Repair)).scalars())
        notices = list(s.execute(select(ListingNotice)).scalars())
    assert {o.state for o in objections} == {"open", "rejected"}
    assert [c.state for c in complaints] == ["open"]
    assert [r.state for r in repairs] == ["approved"] and any(r.state == "repaired" for r in records)
    assert any(n.state == "notified" and n.window_closes >= today for n in notices)
    assert any(n.state == "listed" for n in notices)
    # Serious lists decided by notice went through the notice procedure, every one.
    listed_by_notice = {r.id for r in records if catalog[r.item_code].listing == "notice"}
    assert listed_by_notice and listed_by_notice == {n.record_id for n in notices if n.state == "listed"}
    notes = {login.username: login.note for login in first.logins}
    assert "open objection" in notes["demo.subject1"] and "complaint" in notes["demo.subject2"]
    with TestClient(create_app(services=services)) as http:
        public = http.get("/v1/public/serious-list").json()
    assert public["total"] >= 1

    pk = services.keyring.signing_key("audit").public_key()
    assert verify_database(services.engine, {key_id_for(pk): pk}).ok


def test_logins_and_the_bank_client_work(services: Services, tmp_path: Path) -> None:
    stored = tmp_path / "demo-credentials.json"
    summary = load_demo(services, 12, credentials_file=stored)
    creds = summary.bank_credentials
    assert creds is not None and creds.client_secret and stored.exists()
    assert stored.stat().st_mode & 0o077 == 0
    # A later run prints the same client again instead of issuing another.
    again = load_demo(services, 12, credentials_file=stored)
    assert again.bank_credentials == creds
    # Lost file: a new client is issued once and kept.
    stored.unlink()
    third = load_demo(services, 12, credentials_file=stored)
    assert third.bank_credentials is not None and third.bank_credentials.client_id != creds.client_id
    with services.session() as s:
        hashes = {a.username: a.password_hash for a in s.execute(select(Account)).scalars()}
    logins = {login.username for login in summary.logins}
    assert {"operator", "auditor", "demo.subject1", "demo.guardian"} <= logins
    assert all(verify_password(hashes[name], DEMO_PASSWORD) for name in ("operator", "demo.subject1"))
    with TestClient(create_app(services=services)) as http:
        token = client_credentials_token(http, creds.client_id, creds.client_secret or "")
        resp = http.post("/v1/consent-requests", headers={"Authorization": f"Bearer {token}"}, json={
            "id_number": "11010519491231002X", "purpose": "loan_approval", "categories": ["identity"],
            "valid_days": 7, "max_queries": 1, "reason": "试用"})
        assert resp.status_code == 201, resp.text
