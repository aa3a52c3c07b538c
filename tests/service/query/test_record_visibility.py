"""Records an institution must never see, over HTTP on both databases.

(a) a sealed record (an administrative penalty of a minor, whatever its item) is
never in an institution's report, but is in the subject's own;
(b) a record stored ``expired`` is shown to nobody, even inside its window;
(c) a consent whose purpose the institution may no longer use is refused with
``purpose_not_permitted``, audited, and costs no use.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from policies import Role
from policies.catalog import load_minor_rules
from service.audit_log.models import AuditEntryRow
from service.consent.models import Consent
from service.identity.models import Institution
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for, make_provider
from tests.service.query.conftest import Scene, add_record, china_today, decided_for_last_day

SEALED = "admin_penalty_general"
# What the scene's bank sees under scene.consent() (identity, penalties, judicial enforcement).
SCENE_VISIBLE = ("active", "disputed", "ends_tomorrow", "court")
# What the scene's person sees of their own.
SCENE_OWN = ("active", "disputed", "repaired", "corrected", "revoked", "ends_tomorrow", "court", "tax")


def _audit(scene: Scene) -> list[dict[str, Any]]:
    with scene.services.session() as s:
        bodies = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()  # type: ignore[call-overload]
        return [json.loads(bytes(b)) for b in bodies]




def _ids(scene: Scene, *keys: str) -> set[str]:
    return {scene.records[k] for k in keys}


def _institution_ids(scene: Scene) -> set[str]:
    resp = scene.query(scene.consent())
    assert resp.status_code == 200, resp.text
    return {r["id"] for r in resp.json()["report"]["records"]}


def _own(scene: Scene) -> dict[str, dict[str, Any]]:
    resp = scene.http.get("/v1/me/report", headers=scene.person.headers)
    assert resp.status_code == 200, resp.text
    return {r["id"]: r for r in resp.json()["report"]["records"]}


# --- (a) sealed ---------------------------------------------------------------------------------


def test_the_catalog_cites_why_minors_records_are_sealed() -> None:
    assert any("预防未成年人犯罪法" in c for c in load_minor_rules().seal_basis)


def test_an_unshared_item_is_never_in_an_institution_report_but_is_in_the_subject_s(scene: Scene) -> None:
    subject = scene.person.subject_id
    assert subject
    market = make_provider(scene.services, provider_type="market_regulation").id
    today = china_today()
    sealed = {
        "recent": add_record(scene.services, subject, market, SEALED, today - timedelta(days=3),
                             facts="未成年时在公共场所违规经营", sealed=True, leniency=("minor",)),
        "disputed": add_record(scene.services, subject, market, SEALED, today - timedelta(days=50), state="disputed",
                               sealed=True, leniency=("minor",)),
        "last_day": add_record(scene.services, subject, market, SEALED, decided_for_last_day(SEALED, today),
                               sealed=True, leniency=("minor",)),
    }
    # Same item, same window, same states as records the bank does see: only the seal differs.
    assert _institution_ids(scene) == _ids(scene, *SCENE_VISIBLE)
    broad = scene.consent(purpose="post_loan_management", valid_days=365, max_queries=36,
                          categories=["identity", "administrative_penalty"])
    wide = scene.query(broad, purpose="post_loan_management")
    assert wide.status_code == 200, wide.text
    assert {r["id"] for r in wide.json()["report"]["records"]} == _ids(scene, "active", "disputed", "ends_tomorrow")
    assert "未成年时在公共场所违规经营" not in wide.text
    # The audit entry of the query lists what was opened: never the sealed records.
    queries = [e for e in _audit(scene) if e["action"] == "query" and e["decision"] == "allow"]
    assert queries and all(not set(e["details"]["records"]) & set(sealed.values()) for e in queries)
    # The subject sees every one of them, with its state and details.
    own = _own(scene)
    assert set(own) == _ids(scene, *SCENE_OWN) | set(sealed.values())
    assert own[sealed["recent"]]["item_code"] == SEALED and own[sealed["recent"]]["state"] == "active"
    assert own[sealed["recent"]]["facts"] == "未成年时在公共场所违规经营"
    assert own[sealed["disputed"]]["state"] == "disputed" and own[sealed["disputed"]]["disputed"] is True
    assert own[sealed["last_day"]]["disclosure_ends"] == today.isoformat()
    assert all(own[r]["sealed"] is True for r in sealed.values())


# --- (b) stored as expired ----------------------------------------------------------------------


def test_a_record_stored_expired_is_shown_to_nobody(scene: Scene) -> None:
    subject = scene.person.subject_id
    assert subject
    market = make_provider(scene.services, provider_type="market_regulation").id
    court = make_provider(scene.services, provider_type="court").id
    today = china_today()
    expired = {
        add_record(scene.services, subject, market, "admin_penalty_general", today - timedelta(days=15),
                   state="expired", facts="已届满的处罚"),
        add_record(scene.services, subject, court, "court_dishonest_judgment_debtor", today - timedelta(days=2),
                   state="expired"),
    }
    body = scene.query(scene.consent())
    assert body.status_code == 200, body.text
    assert {r["id"] for r in body.json()["report"]["records"]} == _ids(scene, *SCENE_VISIBLE)
    assert "已届满的处罚" not in body.text
    own = scene.http.get("/v1/me/report", headers=scene.person.headers)
    assert {r["id"] for r in own.json()["report"]["records"]} == _ids(scene, *SCENE_OWN)
    assert "已届满的处罚" not in own.text
    for entry in _audit(scene):
        if entry["action"] in {"query", "report.self"} and entry["decision"] == "allow":
            assert not set(entry["details"]["records"]) & expired


def test_an_expired_record_counts_for_no_flag(scene: Scene) -> None:
    other = issue_token_for(scene.services, Role.SUBJECT)
    assert other.subject_id
    court = make_provider(scene.services, provider_type="court").id
    add_record(scene.services, other.subject_id, court, "court_dishonest_judgment_debtor",
               china_today() - timedelta(days=30), state="expired")
    report = scene.http.get("/v1/me/report", headers=other.headers).json()["report"]
    assert report["records"] == []
    assert report["flags"] == {"on_serious_list": False, "no_negative_record_in_three_years": True}
    # The same record active puts the person on the list.
    add_record(scene.services, other.subject_id, court, "court_dishonest_judgment_debtor",
               china_today() - timedelta(days=30))
    flags = scene.http.get("/v1/me/report", headers=other.headers).json()["report"]["flags"]
    assert flags == {"on_serious_list": True, "no_negative_record_in_three_years": False}


# --- (c) purpose_not_permitted ------------------------------------------------------------------


def _uses(scene: Scene, consent_id: str) -> int:
    with scene.services.session() as s:
        row = s.get(Consent, consent_id)
        assert row is not None
        return row.uses


def test_a_purpose_no_longer_permitted_is_refused_and_audited(scene: Scene) -> None:
    assert scene.bank.institution is not None
    inst = scene.bank.institution.id
    consent = scene.consent()
    # The operator narrows the bank's permitted purposes after the consent was granted.
    with scene.services.session() as s, s.begin():
        s.execute(update(Institution).where(Institution.id == inst).values(  # type: ignore[arg-type]
            permitted_purposes=["credit_card_approval", "post_loan_management"]))
    refused = scene.query(consent)
    body = assert_problem(refused, 403, "purpose_not_permitted")
    assert "report" not in body and "signature" not in body
    entry = _audit(scene)[-1]
    assert (entry["action"], entry["decision"], entry["reason"]) == ("query", "deny", "purpose_not_permitted")
    assert (entry["actor_type"], entry["actor_id"], entry["consent_id"], entry["purpose"]) == (
        "institution", inst, consent, "loan_approval")
    assert entry["subject"] == scene.person.subject_id and entry["seq"] == body["audit_seq"]
    assert "records" not in entry["details"]
    assert _uses(scene, consent) == 0
    # Permitted again: the same consent works, and that is its first use.
    with scene.services.session() as s, s.begin():
        s.execute(update(Institution).where(Institution.id == inst).values(  # type: ignore[arg-type]
            permitted_purposes=["credit_card_approval", "loan_approval"]))
    again = scene.query(consent)
    assert again.status_code == 200, again.text
    assert again.json()["report"]["consent"]["uses"] == 1


def test_a_purpose_the_institution_type_disallows_is_refused(scene: Scene) -> None:
    assert scene.bank.institution is not None
    inst = scene.bank.institution.id
    consent = scene.consent()
    # Re-registered as a landlord: loan approval is not open to that type, whatever the list says.
    with scene.services.session() as s, s.begin():
        s.execute(update(Institution).where(Institution.id == inst).values(type="landlord"))  # type: ignore[arg-type]
    assert_problem(scene.query(consent), 403, "purpose_not_permitted")
    denial = _audit(scene)[-1]
    assert (denial["action"], denial["decision"], denial["reason"], denial["consent_id"]) == (
        "query", "deny", "purpose_not_permitted", consent)
    assert _uses(scene, consent) == 0
    # The purpose is checked against the consent first: a mismatch is still reported as such.
    assert_problem(scene.query(consent, purpose="rental_screening"), 403, "purpose_mismatch")
