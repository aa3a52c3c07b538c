"""The consent lifecycle on the database: request, grant (narrowed), reject, revoke,
use and expiry. Every state change commits together with its audit entry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from policies import Role, age_on, load_categories, load_consent_settings, load_purposes, normalize_resident_id
from policies.access import CHINA_STANDARD_TIME
from policies.consent import RequestedTerms, check_request, effective_state, grant_terms, request_expires_at
from policies.notice import consent_notice, notice_sha256
from service.audit_log.writer import AuditEvent
from service.consent.models import Consent, ConsentRequest
from service.consent.reasons import clean_reason, reason_place, sealed_reason
from service.db.raw import RawConnection, of_session
from service.db.types import china_today, iso_z
from service.documents.signing import sign_document
from service.errors import CodedError
from service.identity.models import Institution
from service.identity.principal import Principal
from service.runtime import Services
from service.subjects.models import Subject

RECEIPT_TYPE = "consent-receipt+jwt"

# One statement, so the database orders every use against every revocation.
_CONSUME = (
    "UPDATE consents SET uses = uses + 1 WHERE id = ? AND institution_id = ? AND purpose = ? "
    "AND state = 'active' AND uses < max_uses AND valid_from <= ? AND valid_until > ? RETURNING uses"
)


class ConsentNotFound(Exception):
    """Unknown id, or one the caller may not see. The caller is told the same either
    way; ``reason`` (``unknown_id`` or ``not_held``) is for the audit log only."""

    def __init__(self, reason: str = "unknown_id") -> None:
        super().__init__(reason)
        self.reason = reason


class ConsentConflict(CodedError):
    """The request or consent is not in a state that allows the action."""


class _Lapsed(Exception):
    """Internal: the pending request turned out to be past its expiry."""


class ConsentForbidden(CodedError):
    """The caller may see the item but may not act on it (e.g. a minor granting)."""


@dataclass(frozen=True)
class NewRequest:
    """A consent request as the institution sent it (already schema-checked)."""

    id_number: str
    purpose: str
    categories: Sequence[str]
    valid_days: int | None
    valid_until: datetime | None
    max_queries: int
    reason: str


@dataclass(frozen=True)
class Narrowing:
    """What the subject chose to narrow when granting; None keeps the requested value."""

    categories: Sequence[str] | None = None
    valid_days: int | None = None
    valid_until: datetime | None = None
    max_queries: int | None = None


def _new_id() -> str:
    return uuid.uuid4().hex


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_z(value)


def _validity_text(req: ConsentRequest) -> str:
    if req.valid_days is not None:
        return f"自授权之日起{req.valid_days}日"
    assert req.valid_until is not None
    return f"至{req.valid_until.astimezone(CHINA_STANDARD_TIME):%Y-%m-%d %H:%M}（北京时间）"


def shown_terms(req: ConsentRequest, institution: Institution, reason: str | None) -> dict[str, Any]:
    """The terms a person is shown for a request (``reason`` opened by the gate), with the
    notice that PIPL arts. 17 and 23 require (``notice``): the receipt's ``terms_sha256``
    is the SHA-256 of exactly that text."""
    purposes, categories = load_purposes(), load_categories()
    purpose = purposes.get(req.purpose)
    purpose_name = purpose.name_zh if purpose else req.purpose
    kinds = [(c, categories[c].name_zh if c in categories else c) for c in sorted(req.categories)]
    notice = consent_notice(
        institution_name=institution.name, institution_uscc=institution.uscc, institution_contact=institution.contact,
        purpose_code=req.purpose, purpose_name=purpose_name, reason=reason or "", categories=kinds,
        validity=_validity_text(req), max_queries=req.max_queries,
    )
    return {
        "request_id": req.id,
        "institution": {"id": institution.id, "name": institution.name, "uscc": institution.uscc,
                        "type": institution.type, "contact": institution.contact},
        "purpose": {"code": req.purpose, "name": purpose_name},
        "categories": [{"code": c, "name": name} for c, name in kinds],
        "validity": {"days": req.valid_days} if req.valid_days is not None else {"until": _iso(req.valid_until)},
        "max_queries": req.max_queries,
        "reason": reason,
        "notice": notice,
        "notice_sha256": notice_sha256(notice),
    }


def request_state(req: ConsentRequest, now: datetime) -> str:
    """A pending request past its expiry is expired, whatever the row says yet."""
    return "expired" if req.state == "pending" and now >= req.expires_at else req.state


def request_for_institution(req: ConsentRequest, now: datetime, reason: str | None = None) -> dict[str, Any]:
    """An institution's view of its own request. Nothing here says whether the person is known.
    The reason is stored encrypted for the person; it is echoed (``reason``) only in the
    answer to the request that carried it."""
    view = {
        "id": req.id,
        "state": request_state(req, now),
        "purpose": req.purpose,
        "categories": sorted(req.categories),
        "valid_days": req.valid_days,
        "valid_until": _iso(req.valid_until),
        "max_queries": req.max_queries,
        "created_at": _iso(req.created_at),
        "expires_at": _iso(req.expires_at),
        "decided_at": _iso(req.decided_at),
        "consent_id": req.consent_id,
    }
    if reason is not None:
        view["reason"] = reason
    return view


def consent_view(c: Consent, now: datetime, *, with_receipt: bool = False) -> dict[str, Any]:
    """A consent with its effective state (a lapsed window reads as expired at once)."""
    out: dict[str, Any] = {
        "id": c.id,
        "request_id": c.request_id,
        "institution_id": c.institution_id,
        "purpose": c.purpose,
        "categories": sorted(c.categories),
        "state": effective_state(c.state, c.valid_until, c.uses, c.max_uses, now).value,
        "valid_from": _iso(c.valid_from),
        "valid_until": _iso(c.valid_until),
        "max_uses": c.max_uses,
        "uses": c.uses,
        "granted_at": _iso(c.granted_at),
        "state_changed_at": _iso(c.state_changed_at),
    }
    if with_receipt:
        out["receipt"] = c.receipt
    return out


class ConsentService:
    """Consent operations for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    # --- helpers ---------------------------------------------------------------------------

    def _event(self, principal: Principal | None, action: str, *, subject: str | None, request_id: str | None,
               consent_id: str | None = None, purpose: str | None = None, reason: str = "recorded",
               details: dict[str, Any] | None = None) -> AuditEvent:
        return AuditEvent(
            actor_type=principal.role.value if principal else "system",
            actor_id=principal.actor_id if principal else "consent-expiry",
            action=action, decision="record", reason=reason, subject=subject, purpose=purpose,
            consent_id=consent_id, request_id=request_id, details=details or {},
        )

    def _subject_of(self, session: Session, req: ConsentRequest) -> str | None:
        return session.execute(
            select(col(Subject.id)).where(col(Subject.id_number_index) == req.subject_index)
        ).scalar_one_or_none()

    def _age_today(self, session: Session, principal: Principal, subject_id: str, now: datetime) -> int | None:
        birth = self._svc.gate.birth_date(of_session(session), principal.viewer(), subject_id)
        return None if birth is None else age_on(birth, china_today(now))

    def _may_grant_for(self, session: Session, principal: Principal, subject_id: str, now: datetime) -> None:
        """Only the subject (of age) or a registered guardian of a minor may turn a request into a consent."""
        limit = load_consent_settings().guardianship_age
        if principal.role is Role.SUBJECT:
            if principal.subject_id != subject_id:
                raise ConsentNotFound("not_held")
            age = self._age_today(session, principal, subject_id, now)
            if age is None or age < limit:
                raise ConsentForbidden("subject_is_minor", f"a subject under {limit} cannot grant; a guardian can")
            return
        if principal.role is Role.GUARDIAN:
            if subject_id not in principal.wards:
                raise ConsentNotFound("not_held")
            age = self._age_today(session, principal, subject_id, now)
            if age is None or age >= limit:
                raise ConsentForbidden("ward_of_age", f"the ward is {limit} or older and decides alone")
            return
        raise ConsentNotFound("not_held")

    def _may_act_on(self, principal: Principal, subject_id: str) -> None:
        """Rejecting and revoking protect the person, so age does not restrict them."""
        if principal.role is Role.SUBJECT and principal.subject_id == subject_id:
            return
        if principal.role is Role.GUARDIAN and subject_id in principal.wards:
            return
        raise ConsentNotFound("not_held")

    def _people_of(self, principal: Principal) -> list[str]:
        if principal.role is Role.SUBJECT and principal.subject_id:
            return [principal.subject_id]
        if principal.role is Role.GUARDIAN:
            return sorted(principal.wards)
        return []

    # --- institution side ------------------------------------------------------------------

    def create_request(self, principal: Principal, data: NewRequest, request_id: str | None,
                       now: datetime) -> ConsentRequest:
        """Validate and store a request. The person is looked up only to name them in the
        audit entry; the answer is the same whether or not they are known."""
        assert principal.institution_id and principal.institution_type
        terms = check_request(
            purpose=data.purpose, categories=data.categories, valid_days=data.valid_days,
            valid_until=data.valid_until, max_queries=data.max_queries,
            institution_type=principal.institution_type, permitted_purposes=principal.permitted_purposes, now=now,
        )
        index = self._svc.blind_index.compute(
            normalize_resident_id(data.id_number, china_today(now))
        )
        reason = clean_reason(data.reason)
        req = ConsentRequest(
            id=_new_id(), institution_id=principal.institution_id, subject_index=index, purpose=terms.purpose,
            categories=sorted(terms.categories), valid_days=terms.valid_days, valid_until=terms.valid_until,
            max_queries=terms.max_queries, state="pending", created_at=now, expires_at=request_expires_at(now),
        )
        with self._svc.write_session() as s, s.begin():
            [req.reason_ct] = self._svc.vault.encrypt_text(s, [(reason_place(req.id), reason)])
            s.add(req)
            s.flush()
            subject = self._subject_of(s, req)
            self._svc.writer.append_in(s.connection(), self._event(
                principal, "consent.request", subject=subject, request_id=request_id, purpose=req.purpose,
                details={"request": req.id, "categories": req.categories, "valid_days": req.valid_days,
                         "valid_until": _iso(req.valid_until), "max_queries": req.max_queries},
            ))
        return req

    def institution_request(self, principal: Principal, request_id: str, now: datetime) -> ConsentRequest:
        """One of the caller's own requests (another institution's id is not found)."""
        with self._svc.session() as s:
            req = s.get(ConsentRequest, request_id)
        if req is None:
            raise ConsentNotFound("unknown_id")
        if req.institution_id != principal.institution_id:
            raise ConsentNotFound("not_held")
        return req

    def institution_consent(self, principal: Principal, consent_id: str) -> Consent:
        """One of the caller's own consents (another institution's id is not found)."""
        with self._svc.session() as s:
            consent = s.get(Consent, consent_id)
        if consent is None:
            raise ConsentNotFound("unknown_id")
        if consent.institution_id != principal.institution_id:
            raise ConsentNotFound("not_held")
        return consent

    # --- subject and guardian side ---------------------------------------------------------

    def pending_for(
        self, principal: Principal, now: datetime, http_request_id: str | None = None,
    ) -> list[tuple[ConsentRequest, Institution, str, str | None]]:
        """Pending, unexpired requests addressed to the caller or their wards, newest first,
        each with its reason. The reasons are opened by the access gate, and reading them
        is audited per person (``consent_request.read``) before this returns."""
        people = self._people_of(principal)
        if not people:
            return []
        with self._svc.session() as s:
            indexes: dict[bytes, str] = dict(s.execute(  # type: ignore[arg-type]
                select(Subject.id_number_index, Subject.id).where(Subject.id.in_(people))  # type: ignore[attr-defined,call-overload]
            ).all())
            rows = s.execute(
                select(ConsentRequest, Institution)
                .join(Institution, Institution.id == ConsentRequest.institution_id)  # type: ignore[arg-type]
                .where(ConsentRequest.subject_index.in_(list(indexes)))  # type: ignore[attr-defined]
                .where(ConsentRequest.state == "pending", ConsentRequest.expires_at > now)  # type: ignore[arg-type]
                .order_by(ConsentRequest.created_at.desc())  # type: ignore[attr-defined]
            ).all()
        by_subject: dict[str, list[ConsentRequest]] = {}
        for req, _ in rows:
            by_subject.setdefault(indexes[req.subject_index], []).append(req)
        reasons: dict[str, str | None] = {}
        with self._svc.reads() as db:
            for subject, reqs in by_subject.items():
                opened = self._svc.gate.open_texts(
                    db, principal.viewer(), subject, {r.id: sealed_reason(r.id, r.reason_ct) for r in reqs}, now,
                )
                if opened is None:
                    continue
                reasons.update(opened)
                self._svc.writer.append(self._event(
                    principal, "consent_request.read", subject=subject, request_id=http_request_id,
                    details={"requests": [r.id for r in reqs]},
                ))
        return [(req, inst, indexes[req.subject_index], reasons[req.id]) for req, inst in rows if req.id in reasons]

    def _pending_request(self, s: Session, request_id: str) -> tuple[ConsentRequest, str]:
        req = s.get(ConsentRequest, request_id)
        if req is None:
            raise ConsentNotFound("unknown_id")
        subject = self._subject_of(s, req)
        if subject is None:
            raise ConsentNotFound("not_held")  # addressed to a person the service does not hold
        return req, subject

    def _ensure_pending(self, req: ConsentRequest, now: datetime) -> None:
        if req.state == "pending" and now >= req.expires_at:
            raise _Lapsed
        if req.state != "pending":
            raise ConsentConflict("request_not_pending", f"the request is {req.state}")

    def _record_lapse(self, request_id: str, http_request_id: str | None, now: datetime) -> ConsentConflict:
        # The answer is a refusal, but the expiry it discovered is a fact worth keeping:
        # record it in its own transaction so the refusal's rollback does not undo it.
        with self._svc.write_session() as s, s.begin():
            req = s.get(ConsentRequest, request_id)
            if req is not None:
                self._expire_request(s, req, self._subject_of(s, req), http_request_id, now)
        return ConsentConflict("request_not_pending", "the request is expired")

    def grant(self, principal: Principal, request_id: str, narrowing: Narrowing, http_request_id: str | None,
              now: datetime) -> Consent:
        """Turn a pending request into an active consent, narrowed as chosen, with a signed receipt."""
        try:
            return self._grant(principal, request_id, narrowing, http_request_id, now)
        except _Lapsed:
            raise self._record_lapse(request_id, http_request_id, now) from None

    def _grant(self, principal: Principal, request_id: str, narrowing: Narrowing, http_request_id: str | None,
               now: datetime) -> Consent:
        with self._svc.write_session() as s, s.begin():
            req, subject = self._pending_request(s, request_id)
            self._may_grant_for(s, principal, subject, now)
            self._ensure_pending(req, now)
            institution = s.get(Institution, req.institution_id)
            assert institution is not None
            if institution.status != "active":
                raise ConsentConflict("institution_suspended", "the institution is suspended")
            requested = RequestedTerms(req.purpose, frozenset(req.categories), req.valid_days, req.valid_until,
                                       req.max_queries)
            terms = grant_terms(requested, now=now, categories=narrowing.categories,
                                valid_days=narrowing.valid_days, valid_until=narrowing.valid_until,
                                max_queries=narrowing.max_queries)
            # The reason is opened for the person granting, to hash the terms they were shown;
            # the consent.grant entry below commits with the consent.
            opened = self._svc.gate.open_texts(of_session(s), principal.viewer(), subject,
                                               {"reason": sealed_reason(req.id, req.reason_ct)}, now)
            if opened is None:
                raise ConsentNotFound("not_held")
            shown = shown_terms(req, institution, opened["reason"])
            consent_id = _new_id()
            payload = {
                "iss": self._svc.settings.issuer, "iat": int(now.timestamp()), "consent_id": consent_id,
                "request_id": req.id, "subject": subject,
                "granted_by": {"role": principal.role.value, "account": principal.account_id},
                "institution": shown["institution"], "purpose": shown["purpose"],
                "categories": sorted(terms.categories), "valid_from": _iso(terms.valid_from),
                "valid_until": _iso(terms.valid_until), "max_queries": terms.max_uses,
                "terms_sha256": shown["notice_sha256"],
            }
            consent = Consent(
                id=consent_id, request_id=req.id, institution_id=req.institution_id, subject_id=subject,
                purpose=req.purpose, categories=sorted(terms.categories), valid_from=terms.valid_from,
                valid_until=terms.valid_until, max_uses=terms.max_uses, uses=0, state="active",
                granted_by=principal.account_id or principal.actor_id, granted_at=now, state_changed_at=now,
                terms_sha256=payload["terms_sha256"], receipt=sign_document(self._svc.keyring, payload, RECEIPT_TYPE),
            )
            s.add(consent)
            req.state, req.decided_at, req.decided_by, req.consent_id = "granted", now, principal.account_id, consent_id
            s.flush()
            self._svc.writer.append_in(s.connection(), self._event(
                principal, "consent.grant", subject=subject, request_id=http_request_id, consent_id=consent_id,
                purpose=req.purpose,
                details={"request": req.id, "categories": consent.categories, "valid_until": _iso(consent.valid_until),
                         "max_uses": consent.max_uses, "terms_sha256": consent.terms_sha256},
            ))
        return consent

    def reject(
        self, principal: Principal, request_id: str, http_request_id: str | None, now: datetime
    ) -> ConsentRequest:
        """Refuse a pending request."""
        try:
            return self._reject(principal, request_id, http_request_id, now)
        except _Lapsed:
            raise self._record_lapse(request_id, http_request_id, now) from None

    def _reject(
        self, principal: Principal, request_id: str, http_request_id: str | None, now: datetime
    ) -> ConsentRequest:
        with self._svc.write_session() as s, s.begin():
            req, subject = self._pending_request(s, request_id)
            self._may_act_on(principal, subject)
            self._ensure_pending(req, now)
            req.state, req.decided_at, req.decided_by = "rejected", now, principal.account_id
            s.flush()
            self._svc.writer.append_in(s.connection(), self._event(
                principal, "consent.reject", subject=subject, request_id=http_request_id, purpose=req.purpose,
                details={"request": req.id},
            ))
        return req

    def consents_for(self, principal: Principal) -> list[Consent]:
        """Every consent of the caller and their wards, newest first."""
        people = self._people_of(principal)
        if not people:
            return []
        with self._svc.session() as s:
            return list(s.execute(
                select(Consent).where(Consent.subject_id.in_(people))  # type: ignore[attr-defined]
                .order_by(Consent.granted_at.desc())  # type: ignore[attr-defined]
            ).scalars())

    def institutions(self, ids: set[str]) -> dict[str, dict[str, str]]:
        """Who holds the consents: id, name and type of each institution named."""
        if not ids:
            return {}
        with self._svc.session() as s:
            rows = s.execute(
                select(Institution.id, Institution.name, Institution.type)  # type: ignore[call-overload]
                .where(Institution.id.in_(sorted(ids)))  # type: ignore[attr-defined]
            ).all()
        return {i: {"id": i, "name": name, "type": kind} for i, name, kind in rows}

    def revoke(self, principal: Principal, consent_id: str, http_request_id: str | None, now: datetime) -> Consent:
        """Revoke at once: the conditional update commits before this returns, and every
        query that starts afterwards finds the consent revoked."""
        with self._svc.write_session() as s, s.begin():
            consent = s.get(Consent, consent_id)
            if consent is None:
                raise ConsentNotFound("unknown_id")
            self._may_act_on(principal, consent.subject_id)
            state = effective_state(consent.state, consent.valid_until, consent.uses, consent.max_uses, now)
            if state.value != "active":
                raise ConsentConflict("consent_not_active", f"the consent is already {state.value}")
            changed = s.execute(
                update(Consent).where(Consent.id == consent_id, Consent.state == "active")  # type: ignore[arg-type]
                .values(state="revoked", state_changed_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if changed != 1:
                raise ConsentConflict("consent_not_active", "the consent changed state meanwhile")
            self._svc.writer.append_in(s.connection(), self._event(
                principal, "consent.revoke", subject=consent.subject_id, request_id=http_request_id,
                consent_id=consent_id, purpose=consent.purpose,
            ))
            s.refresh(consent)
        return consent

    # --- use and expiry --------------------------------------------------------------------

    @staticmethod
    def take_use(db: RawConnection, consent_id: str, institution_id: str, purpose: str, now: datetime) -> int | None:
        """Take one use of a consent, atomically, if it is active, held by this institution,
        for this purpose, inside its window and not exhausted; the uses count after it, or
        None. Revocation and this update are ordered by the database, so a query after a
        committed revocation gets None."""
        at = db.bind_datetime(now)
        row = db.one(_CONSUME, (consent_id, institution_id, purpose, at, at))
        return None if row is None else int(row[0])

    def _expire_request(self, s: Session, req: ConsentRequest, subject: str | None, http_request_id: str | None,
                        now: datetime) -> None:
        changed = s.execute(
            update(ConsentRequest).where(ConsentRequest.id == req.id, ConsentRequest.state == "pending")  # type: ignore[arg-type]
            .values(state="expired", decided_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if changed == 1:
            self._svc.writer.append_in(s.connection(), self._event(
                None, "consent_request.expire", subject=subject, request_id=http_request_id, purpose=req.purpose,
                details={"request": req.id},
            ))
        s.refresh(req)

    def expire_due(self, now: datetime) -> tuple[int, int]:
        """Record the expiry of lapsed requests and consents (and exhaustion), each audited.
        Idempotent and safe to run from several processes at once."""
        requests = consents = 0
        with self._svc.write_session() as s, s.begin():
            for req in s.execute(
                select(ConsentRequest).where(ConsentRequest.state == "pending", ConsentRequest.expires_at <= now)  # type: ignore[arg-type]
            ).scalars().all():
                self._expire_request(s, req, self._subject_of(s, req), None, now)
                requests += 1
            due = s.execute(
                select(Consent).where(
                    Consent.state == "active",  # type: ignore[arg-type]
                    or_(col(Consent.valid_until) <= now, col(Consent.uses) >= Consent.max_uses),
                )
            ).scalars().all()
            for c in due:
                state = effective_state(c.state, c.valid_until, c.uses, c.max_uses, now)
                if state.value == "active":
                    continue
                changed = s.execute(
                    update(Consent).where(Consent.id == c.id, Consent.state == "active")  # type: ignore[arg-type]
                    .values(state=state.value, state_changed_at=now)
                ).rowcount  # type: ignore[attr-defined]
                if changed == 1:
                    self._svc.writer.append_in(s.connection(), self._event(
                        None, f"consent.{'expire' if state.value == 'expired' else 'exhaust'}", subject=c.subject_id,
                        request_id=None, consent_id=c.id, purpose=c.purpose,
                    ))
                    consents += 1
        return requests, consents
