"""The governed query: an institution reads a person's report under a consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from audit import AuditEntry, decode_entry
from policies import ConsentView, Role, known_purpose
from policies.consent import effective_state
from service.audit_log.models import AuditEntryRow
from service.audit_log.writer import AuditEvent
from service.consent.service import ConsentService
from service.db.raw import RawConnection, as_datetime, as_json, of_session
from service.db.types import china_today, iso_z
from service.documents.signing import sign_document
from service.gate.access import AccessDenied, PendingRead
from service.identity.models import Institution
from service.identity.principal import Principal
from service.query import records
from service.runtime import Services

REPORT_TYPE = "credit-report+jwt"
SELF_REPORT_TYPE = "credit-self-report+jwt"

# What a failed use says about the consent, in the order the states are checked.
_USE_REFUSALS = {"revoked": "consent_revoked", "expired": "consent_expired", "exhausted": "consent_exhausted"}

_CONSENT = (
    "SELECT c.institution_id, c.subject_id, c.purpose, c.categories, c.state, c.valid_from, c.valid_until, "
    "c.max_uses, c.uses, i.name FROM consents c JOIN institutions i ON i.id = c.institution_id WHERE c.id = ?"
)
_CONSENT_STATE = "SELECT state, valid_until, uses, max_uses FROM consents WHERE id = ?"


@dataclass(frozen=True)
class StoredConsent:
    """A consent as the query reads it, with the name of the institution holding it."""

    view: ConsentView
    institution_name: str


def load_consent(db: RawConnection, consent_id: str, now: datetime) -> StoredConsent | None:
    """The consent with its state as of ``now``, or None for an unknown id."""
    row = db.one(_CONSENT, (consent_id,))
    if row is None:
        return None
    institution_id, subject_id, purpose, categories, state, valid_from, valid_until, max_uses, uses, name = row
    until = as_datetime(valid_until)
    view = ConsentView(
        id=consent_id, institution_id=institution_id, subject_id=subject_id, purpose=purpose,
        categories=frozenset(as_json(categories)), state=effective_state(state, until, uses, max_uses, now),
        valid_from=as_datetime(valid_from), valid_until=until, max_uses=max_uses, uses=uses,
    )
    return StoredConsent(view, name)


@dataclass(frozen=True)
class PreparedQuery:
    """An institution query decided, decrypted and masked, waiting for its audit commit.
    ``read`` is None when the consent id is unknown (then ``denial`` is the event)."""

    query_id: str
    now: datetime
    today: date
    consent: StoredConsent | None
    read: PendingRead | None
    denial: AuditEvent | None = None
    #: Filled in at commit time by the use claim: the consent's uses after this query.
    taken: dict[str, int] = field(default_factory=dict)

    @property
    def event(self) -> AuditEvent:
        """What the audit log must commit before anything is answered."""
        if self.read is not None:
            return self.read.event
        assert self.denial is not None
        return self.denial


class QueryService:
    """Institution queries, the person's own report and their access log."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def prepare_query(
        self, principal: Principal, consent_id: str, purpose: str, request_id: str | None, now: datetime
    ) -> PreparedQuery:
        """Decide the query through the gate and open what it allows; nothing is answered
        until :meth:`finish_query` has the committed audit entry."""
        institution_id = principal.institution_id
        assert institution_id
        query_id = uuid.uuid4().hex
        today = china_today(now)
        with self._svc.reads() as db:
            stored = load_consent(db, consent_id, now)
            if stored is None:
                # Unknown and foreign consent ids get the same answer.
                denial = AuditEvent(
                    actor_type="institution", actor_id=principal.actor_id, action="query", decision="deny",
                    reason="consent_not_held", purpose=known_purpose(purpose), consent_id=None,
                    request_id=request_id, details={"query_id": query_id},
                )
                return PreparedQuery(query_id, now, today, None, None, denial)
            view = stored.view
            taken: dict[str, int] = {}

            def claim(conn: RawConnection) -> str | None:
                # Runs inside the audit commit: the database orders it against revocation.
                uses = ConsentService.take_use(conn, consent_id, institution_id, purpose, now)
                if uses is not None:
                    taken["uses"] = uses
                    return None
                row = conn.one(_CONSENT_STATE, (consent_id,))
                if row is None:
                    return "consent_revoked"
                state = effective_state(row[0], as_datetime(row[1]), row[2], row[3], now).value
                return _USE_REFUSALS.get(state, "consent_not_active")

            read = self._svc.gate.prepare(
                db, viewer=principal.viewer(), subject_id=view.subject_id, request_id=request_id,
                action="query", purpose=purpose, consent=view, now=now, claim=claim,
                records=lambda d: records.for_institution(db, view.subject_id, d, today),
                details={"query_id": query_id},
            )
        return PreparedQuery(query_id, now, today, stored, read, taken=taken)

    def finish_query(self, prepared: PreparedQuery, entry: AuditEntry) -> tuple[dict[str, Any], str]:
        """The signed report, once ``entry`` (the prepared event's entry) is committed.
        Raises AccessDenied for a denial, decided up front or when the use was claimed.

        Each refusal is checked here on its own, before the gate is asked for data: the
        entry's decision, and the use the commit-time claim took. A consent revoked (or
        used up) between the decision and the commit therefore answers its own reason
        and nothing else, whatever the other checks would have said."""
        if prepared.read is None or prepared.consent is None or entry.decision != "allow":
            raise AccessDenied(entry.reason, entry.seq)
        uses = prepared.taken.get("uses")
        if uses is None:
            # An allow entry without a use taken: fail closed rather than answer.
            raise AccessDenied("consent_not_active", entry.seq)
        result = self._svc.gate.complete(prepared.read, entry)
        consent = prepared.consent.view
        report = {
            "type": "credit-report",
            "query_id": prepared.query_id,
            "generated_at": iso_z(prepared.now),
            "issuer": self._svc.settings.issuer,
            "institution": {"id": consent.institution_id, "name": prepared.consent.institution_name},
            "consent": {"id": consent.id, "purpose": consent.purpose, "categories": sorted(result.decision.categories),
                        "uses": uses, "max_uses": consent.max_uses},
            "subject": {k: v for k, v in result.fields.items() if v is not None},
            "records": [records.record_view(r, prepared.today) for r in result.records],
            "audit_seq": result.audit_seq,
        }
        return report, sign_document(self._svc.keyring, report, REPORT_TYPE)

    def institution_query(
        self, principal: Principal, consent_id: str, purpose: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], str]:
        """Run one query under a consent; returns the report and its JWS. Raises AccessDenied."""
        prepared = self.prepare_query(principal, consent_id, purpose, request_id, now)
        return self.finish_query(prepared, self._svc.writer.append(prepared.event))

    async def institution_query_async(
        self, principal: Principal, consent_id: str, purpose: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], str]:
        """:meth:`institution_query` for the event loop: no thread is held while the
        audit log commits, so one process keeps many queries in one group commit."""
        prepared = await self._svc.run_reads(self.prepare_query, principal, consent_id, purpose, request_id, now)
        entry = await self._svc.writer.append_async(prepared.event)
        return self.finish_query(prepared, entry)

    def self_report(
        self, principal: Principal, subject_id: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], str]:
        """The person's own full report (or their ward's): free, unlimited, audited."""
        today = china_today(now)
        with self._svc.reads() as db:
            everything = records.subject_records(db, subject_id)
            result = self._svc.gate.read_subject(
                db, viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
                action="report.self", now=now, records=lambda d: records.for_subject(everything, today),
            )
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
                of_session(s), viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
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
            names: dict[str, str] = dict(s.execute(  # type: ignore[arg-type]
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
