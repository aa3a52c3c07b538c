"""The governed query over HTTP on both databases: every allow and deny rule, masking,
the exact record set per state and window edge, the person's report and access log."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from policies import Role
from service.audit_log.models import AuditEntryRow
from service.consent.models import Consent
from service.documents.signing import verify_document
from service.gate.access import AccessDenied
from service.query.service import REPORT_TYPE, SELF_REPORT_TYPE
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for
from tests.service.query.conftest import Scene


def _audit(scene: Scene, action: str) -> list[dict[str, Any]]:
    with scene.services.session() as s:
        bodies = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()  # type: ignore[call-overload]
        return [e for e in (json.loads(b) for b in bodies) if e["action"] == action]




def test_query_returns_exactly_the_visible_records_masked_and_signed(scene: Scene) -> None:
    consent = scene.consent()
    resp = scene.query(consent)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    report = body["report"]
    ids = {r["id"] for r in report["records"]}
    expected = {scene.records[k] for k in ("active", "disputed", "ends_tomorrow", "court")}
    assert ids == expected  # not repaired/corrected/revoked, not past the window, not tax (not consented)
    disputed = next(r for r in report["records"] if r["id"] == scene.records["disputed"])
    assert disputed["disputed"] is True and disputed["state"] == "disputed"
    court = next(r for r in report["records"] if r["id"] == scene.records["court"])
    assert court["facts"] == "有履行能力而拒不履行生效法律文书确定义务" and court["document"]["number"]
    number = scene.person.id_number or ""
    assert report["subject"]["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert report["subject"]["name"] == "张*"  # helpers register the person as 张三
    assert report["consent"]["uses"] == 1
    public = scene.services.keyring.signing_key("documents").public_key()
    assert verify_document(body["signature"], public, REPORT_TYPE) == report
    entry = _audit(scene, "query")[-1]
    assert entry["decision"] == "allow" and entry["consent_id"] == consent
    assert set(entry["details"]["records"]) == expected
    assert number not in json.dumps(entry) and "张三" not in json.dumps(entry, ensure_ascii=False)


def test_categories_are_consent_intersect_purpose(scene: Scene) -> None:
    consent = scene.consent(categories=["judicial_enforcement"])
    report = scene.query(consent).json()["report"]
    assert {r["id"] for r in report["records"]} == {scene.records["court"]}
    assert "mobile" not in report["subject"]  # identity not consented: only name and ID number to identify


def test_every_denial_is_403_with_its_code_and_audited(scene: Scene) -> None:
    consent = scene.consent(max_queries=1)
    assert scene.query(consent).status_code == 200
    assert_problem(scene.query(consent), 403, "consent_exhausted")
    other = scene.consent()
    assert_problem(scene.query(other, purpose="credit_card_approval"), 403, "purpose_mismatch")
    assert_problem(scene.query(other, bank=scene.rival), 403, "consent_not_held")
    assert_problem(scene.query("0" * 32), 403, "consent_not_held")
    assert_problem(scene.query("not-an-id"), 400, "invalid_id")
    revoked = scene.consent()
    assert scene.http.post(f"/v1/me/consents/{revoked}/revoke", headers=scene.person.headers).status_code == 200
    assert_problem(scene.query(revoked), 403, "consent_revoked")
    lapsed = scene.consent()
    with scene.services.session() as s, s.begin():
        row = s.get(Consent, lapsed)
        assert row is not None
        s.execute(update(Consent).where(Consent.id == lapsed).values(  # type: ignore[arg-type]
            valid_from=row.valid_from - timedelta(days=40), valid_until=row.valid_from - timedelta(days=10)))
    assert_problem(scene.query(lapsed), 403, "consent_expired")
    denials = [e["reason"] for e in _audit(scene, "query") if e["decision"] == "deny"]
    assert denials == ["consent_exhausted", "purpose_mismatch", "consent_not_held", "consent_not_held",
                       "consent_revoked", "consent_expired"]


def test_bad_query_bodies(scene: Scene) -> None:
    consent = scene.consent()
    for body, code in (({"consent_id": consent}, "validation_error"),
                       ({"consent_id": consent, "purpose": "loan_approval", "extra": 1}, "validation_error"),
                       ({"consent_id": 5, "purpose": "loan_approval"}, "validation_error")):
        assert_problem(scene.http.post("/v1/queries", headers=scene.bank.headers, json=body), 400, code)
    assert _audit(scene, "query") == []


def test_suspended_institution_is_refused_at_once(scene: Scene) -> None:
    consent = scene.consent()
    operator = issue_token_for(scene.services, Role.OPERATOR)
    inst = scene.bank.institution.id if scene.bank.institution else ""
    assert scene.http.post(f"/v1/admin/institutions/{inst}/suspend", headers=operator.headers).status_code == 200
    refused = scene.query(consent)
    assert refused.status_code == 403 and refused.json()["code"] == "institution_suspended"
    assert "report" not in refused.json()
    denial = _audit(scene, "query")[-1]
    assert (denial["decision"], denial["reason"], denial["consent_id"]) == ("deny", "institution_suspended", consent)
    assert denial["seq"] == refused.json()["audit_seq"]
    # Its other routes refuse it at the guard.
    other = scene.http.get(f"/v1/consents/{consent}", headers=scene.bank.headers)
    assert other.status_code == 403 and other.json()["code"] == "institution_suspended"
    assert scene.http.post(f"/v1/admin/institutions/{inst}/reactivate", headers=operator.headers).status_code == 200
    assert scene.query(consent).status_code == 200


def test_self_report_shows_all_but_expired_with_states_and_flags(scene: Scene) -> None:
    resp = scene.http.get("/v1/me/report", headers=scene.person.headers)
    assert resp.status_code == 200, resp.text
    report = resp.json()["report"]
    by_id = {r["id"]: r for r in report["records"]}
    shown = {k for k, v in scene.records.items() if v in by_id}
    assert shown == {"active", "disputed", "repaired", "corrected", "revoked", "ends_tomorrow", "court", "tax"}
    assert by_id[scene.records["repaired"]]["state"] == "repaired"
    assert report["subject"]["name"] == "张三"  # the subject sees their own name in full
    assert report["flags"] == {"on_serious_list": True, "no_negative_record_in_three_years": False}
    public = scene.services.keyring.signing_key("documents").public_key()
    assert verify_document(resp.json()["signature"], public, SELF_REPORT_TYPE) == report
    assert _audit(scene, "report.self")[-1]["decision"] == "allow"


def test_access_log_lists_accesses_newest_first_and_is_audited(scene: Scene) -> None:
    consent = scene.consent()
    scene.query(consent)
    scene.query(consent, purpose="credit_card_approval")
    page = scene.http.get("/v1/me/access-log", headers=scene.person.headers, params={"limit": 2}).json()
    first, second = page["items"]
    assert first["seq"] > second["seq"]
    assert (first["action"], first["decision"], first["reason"]) == ("query", "deny", "purpose_mismatch")
    assert (second["action"], second["decision"]) == ("query", "allow")
    assert second["institution"]["id"] == (scene.bank.institution.id if scene.bank.institution else None)
    assert second["records_returned"] == 4 and "administrative_penalty" in second["categories"]
    rest = scene.http.get("/v1/me/access-log", headers=scene.person.headers,
                          params={"before": page["next_before"], "limit": 200}).json()
    assert all(item["seq"] < second["seq"] for item in rest["items"])
    assert {"consent.grant", "consent.request"} <= {item["action"] for item in rest["items"]}
    assert len(_audit(scene, "access_log.read")) == 2
    other = issue_token_for(scene.services, Role.SUBJECT)
    resp = scene.http.get("/v1/me/access-log", headers=other.headers, params={"subject": scene.person.subject_id})
    assert_problem(resp, 404, "not_found")
    assert_problem(scene.http.get("/v1/me/access-log", headers=scene.person.headers, params={"limit": 0}),
             400, "validation_error")


def test_no_query_started_after_revocation_gets_data(scene: Scene) -> None:
    """Queries over the real path race a revocation: none that began after it returns data."""
    import threading
    import time

    consent = scene.consent(purpose="post_loan_management", valid_days=365, max_queries=36,
                            categories=["identity", "administrative_penalty"])
    results: list[tuple[float, int, str | None]] = []
    stop = threading.Event()
    first_ok = threading.Event()
    revoked = threading.Event()
    lock = threading.Lock()

    def loop() -> None:
        while not stop.is_set():
            with lock:
                successes = sum(1 for r in results if r[1] == 200)
            if successes >= 30 and not revoked.is_set():
                # Keep uses in hand so that the revocation, not exhaustion, is what stops them.
                time.sleep(0.001)
                continue
            started = time.monotonic()
            response = scene.query(consent, purpose="post_loan_management")
            code = response.json().get("code") if response.status_code != 200 else None
            with lock:
                results.append((started, response.status_code, code))
            if response.status_code == 200:
                first_ok.set()
            time.sleep(0.005)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    assert first_ok.wait(30)
    assert scene.http.post(f"/v1/me/consents/{consent}/revoke", headers=scene.person.headers).status_code == 200
    revoked_at = time.monotonic()
    revoked.set()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    after = [(status, code) for started, status, code in results if started > revoked_at]
    assert after and set(after) == {(403, "consent_revoked")}
    allowed = [e for e in _audit(scene, "query") if e["decision"] == "allow"]
    assert len(allowed) == sum(1 for _, status, _ in results if status == 200)


def test_each_report_states_the_use_it_took_even_when_queries_race(scene: Scene) -> None:
    """The signed report names the use the database gave it, not a count read before the claim."""
    import threading

    consent = scene.consent(purpose="post_loan_management", valid_days=365, max_queries=36,
                            categories=["identity", "administrative_penalty"])
    uses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(4):
            resp = scene.query(consent, purpose="post_loan_management")
            assert resp.status_code == 200, resp.text
            with lock:
                uses.append(resp.json()["report"]["consent"]["uses"])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(uses) == list(range(1, 17))


# --- a consent revoked between the decision and the audit commit ---------------------------------


def _prepare(scene: Scene, consent: str) -> tuple[Any, Any]:
    from service.db.types import utcnow
    from service.identity.resource import authenticate_bearer
    from service.query.service import QueryService

    queries = QueryService(scene.services)
    principal = authenticate_bearer(scene.services, scene.bank.token)
    prepared = queries.prepare_query(principal, consent, "loan_approval", uuid.uuid4().hex, utcnow())
    assert prepared.read is not None and prepared.read.decision.allowed  # the decision itself said yes
    return queries, prepared


def test_a_consent_revoked_between_the_decision_and_the_commit_gives_no_data(scene: Scene) -> None:
    """Deterministic: decide (and decrypt), then revoke, then commit and finish."""
    consent = scene.consent()
    queries, prepared = _prepare(scene, consent)
    revoked = scene.http.post(f"/v1/me/consents/{consent}/revoke", headers=scene.person.headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    entry = scene.services.writer.append(prepared.event)
    # The use could not be taken at commit time: the entry is the denial, without a field.
    assert (entry.decision, entry.reason) == ("deny", "consent_revoked")
    assert set(entry.details) == {"query_id"}
    with pytest.raises(AccessDenied) as refused:
        queries.finish_query(prepared, entry)
    assert refused.value.reason == "consent_revoked" and refused.value.audit_seq == entry.seq
    assert "uses" not in prepared.taken
    with scene.services.session() as s:
        assert s.get(Consent, consent).uses == 0  # type: ignore[union-attr]
    # Over HTTP the next query gets the same answer, 403 consent_revoked and no report.
    body = assert_problem(scene.query(consent), 403, "consent_revoked")
    assert "report" not in body and scene.person.id_number not in json.dumps(body)


def test_an_allow_entry_without_a_use_taken_hands_out_nothing(scene: Scene) -> None:
    """The refusal path does not hang on an incidental error: an entry that says allow while
    no use was taken (its claim never ran) is refused explicitly."""
    from dataclasses import replace

    consent = scene.consent()
    queries, prepared = _prepare(scene, consent)
    entry = scene.services.writer.append(replace(prepared.event, precondition=None))
    assert entry.decision == "allow" and "uses" not in prepared.taken
    with pytest.raises(AccessDenied) as refused:
        queries.finish_query(prepared, entry)
    assert refused.value.reason == "consent_not_active"


def test_the_gate_never_completes_a_read_whose_entry_is_a_denial(scene: Scene) -> None:
    from dataclasses import replace

    consent = scene.consent()
    _, prepared = _prepare(scene, consent)
    denial = scene.services.writer.append(replace(prepared.event, decision="deny", reason="consent_revoked",
                                                  details={}, precondition=None))
    with pytest.raises(AccessDenied):
        scene.services.gate.complete(prepared.read, denial)
