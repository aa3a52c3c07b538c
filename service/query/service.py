"""The governed query (DESIGN §2): an institution reads a person's report under a consent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from audit import decode_entry
from policies import ConsentView, Role
from policies.access import CHINA_STANDARD_TIME
from policies.consent import effective_state
from service.audit_log.models import AuditEntryRow
from service.audit_log.writer import AuditEvent
from service.consent.models import Consent
from service.consent.service import ConsentService
from service.db.types import iso_z
from service.documents.signing import sign_document
from service.gate.access import AccessDenied, ReadResult
from service.identity.models import Institution
from service.identity.principal import Principal
from service.query import records
from service.runtime import Services

REPORT_TYPE = "credit-report+jwt"
SELF_REPORT_TYPE = "credit-self-report+jwt"
IDENTITY_FIELDS = frozenset({"id_number", "name"})
ALL_FIELDS = frozenset({"id_number", "name", "mobile", "address", "bank_card"})

# What a failed use says about the consent, in the order the states are checked.
_USE_REFUSALS = {"revoked": "consent_revoked", "expired": "consent_expired", "exhausted": "consent_exhausted"}



def consent_view(c: Consent, now: datetime) -> ConsentView:
    """The policy view of a stored consent, with its state as of ``now``."""
    return ConsentView(
        id=c.id, institution_id=c.institution_id, subject_id=c.subject_id, purpose=c.purpose,
        categories=frozenset(c.categories), state=effective_state(c.state, c.valid_until, c.uses, c.max_uses, now),
        valid_from=c.valid_from, valid_until=c.valid_until, max_uses=c.max_uses, uses=c.uses,
    )


class QueryService:
    """Institution queries, the person's own report and their access log."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def institution_query(
        self, principal: Principal, consent_id: str, purpose: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], str]:
        """Run one query under a consent; returns the report and its JWS. Raises AccessDenied."""
        assert principal.institution_id
        query_id = uuid.uuid4().hex
        today = now.astimezone(CHINA_STANDARD_TIME).date()
        with self._svc.session() as s:
            consent = s.get(Consent, consent_id)
            if consent is None:
                # Unknown and foreign consent ids get the same answer.
                entry = self._svc.writer.append(AuditEvent(
                    actor_type="institution", actor_id=principal.actor_id, action="query", decision="deny",
                    reason="consent_not_held", purpose=purpose, consent_id=None, request_id=request_id,
                    details={"query_id": query_id},
                ))
                raise AccessDenied("consent_not_held", entry.seq)
            view = consent_view(consent, now)

            def claim(conn: Connection) -> str | None:
                # Runs inside the audit commit: the database orders it against revocation.
                if ConsentService.consume(conn, consent_id, principal.institution_id or "", purpose, now):
                    return None
                row = conn.execute(
                    select(Consent.state, Consent.valid_until, Consent.uses, Consent.max_uses)  # type: ignore[call-overload]
                    .where(Consent.id == consent_id)
                ).first()
                if row is None:
                    return "consent_revoked"
                state = effective_state(row[0], row[1], row[2], row[3], now).value
                return _USE_REFUSALS.get(state, "consent_not_active")

            result: ReadResult = self._svc.gate.read_subject(
                s, viewer=principal.viewer(), subject_id=consent.subject_id, request_id=request_id,
                action="query", purpose=purpose, consent=view, now=now, claim=claim,
                records=lambda d: records.for_institution(s, consent.subject_id, d, today),
                details={"query_id": query_id},
                only_fields=ALL_FIELDS if "identity" in view.categories else IDENTITY_FIELDS,
            )
            institution = s.get(Institution, principal.institution_id)
        report = {
            "type": "credit-report",
            "query_id": query_id,
            "generated_at": iso_z(now),
            "issuer": self._svc.settings.issuer,
            "institution": {"id": principal.institution_id, "name": institution.name if institution else None},
            "consent": {"id": consent.id, "purpose": consent.purpose, "categories": sorted(result.decision.categories),
                        "uses": consent.uses + 1, "max_uses": consent.max_uses},
            "subject": {k: v for k, v in result.fields.items() if v is not None},
            "records": [records.record_view(r, today) for r in result.records],
            "audit_seq": result.audit_seq,
        }
        return report, sign_document(self._svc.keyring, report, REPORT_TYPE)

    def self_report(
        self, principal: Principal, subject_id: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], str]:
        """The person's own full report (or their ward's): free, unlimited, audited."""
        today = now.astimezone(CHINA_STANDARD_TIME).date()
        with self._svc.session() as s:
            result = self._svc.gate.read_subject(
                s, viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
                action="report.self", now=now, records=lambda d: records.for_subject(s, subject_id, today),
            )
            everything = records.subject_records(s, subject_id)
        report = {
            "type": "credit-self-report",
            "generated_at": iso_z(now),
            "subject": {k: v for k, v in result.fields.items() if v is not None},
            "flags": records.flags(everything, today),
            "records": [records.record_view(r, today) for r in result.records],
            "audit_seq": result.audit_seq,
        }
        return report, sign_document(self._svc.keyring, report, SELF_REPORT_TYPE)

    def access_log(
        self, principal: Principal, subject_id: str, request_id: str | None, now: datetime,
        limit: int, before: int | None,
    ) -> dict[str, Any]:
        """Every access to the subject's data, newest first, from the audit log.
        Reading it is itself decided by the gate and audited (no field is decrypted)."""
        with self._svc.session() as s:
            result = self._svc.gate.read_subject(
                s, viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
                action="access_log.read", now=now, only_fields=frozenset(),
            )
            upper = min(before, result.audit_seq) if before is not None else result.audit_seq
            table = AuditEntryRow.__table__  # type: ignore[attr-defined]
            rows = s.execute(
                select(table.c.seq, table.c.body).where(table.c.subject == subject_id, table.c.seq < upper)
                .order_by(table.c.seq.desc()).limit(limit)
            ).all()
            total = s.execute(
                select(func.count()).select_from(table).where(table.c.subject == subject_id)
            ).scalar_one()
            entries = [decode_entry(bytes(body)) for _, body in rows]
            names = dict(s.execute(
                select(Institution.id, Institution.name).where(  # type: ignore[call-overload]
                    Institution.id.in_({e.actor_id for e in entries if e.actor_type == "institution"})  # type: ignore[attr-defined]
                )
            ).all())
        items = []
        for e in entries:
            details = dict(e.details)
            institution = {"id": e.actor_id, "name": names.get(e.actor_id)} if e.actor_type == "institution" else None
            items.append({
                "seq": e.seq, "at": e.ts, "actor_type": e.actor_type, "institution": institution,
                "action": e.action, "purpose": e.purpose, "consent_id": e.consent_id, "decision": e.decision,
                "reason": e.reason, "categories": details.get("categories", []),
                "records_returned": len(details.get("records", [])),
            })
        return {"items": items, "total": total,
                "next_before": items[-1]["seq"] if len(items) == limit else None}


def subject_for(principal: Principal, requested: str | None) -> str:
    """Whose data a /v1/me call is about: the caller's own, or a ward's when asked for."""
    if requested is None:
        if principal.role is Role.SUBJECT and principal.subject_id:
            return principal.subject_id
        if principal.role is Role.GUARDIAN and len(principal.wards) == 1:
            return next(iter(principal.wards))
        raise ValueError("subject_required")
    return requested
