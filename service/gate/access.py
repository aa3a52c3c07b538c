"""The governed access path: decide → decrypt what was allowed → mask → audit → return.

Every read of personal information goes through :meth:`AccessGate.read_subject`.
The audit entry is committed before the caller gets anything, and a denial is
audited too; if the audit log cannot take the entry the caller gets
:class:`~service.audit_log.writer.AuditUnavailable` and no data (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from policies import (
    AccessRequest,
    ConsentView,
    Decision,
    FieldKind,
    InvalidIdentifier,
    MaskingPolicy,
    Role,
    Viewer,
    decide,
    load_masking_policy,
    parse_resident_id,
)
from service.audit_log.writer import AuditEvent, AuditWriter
from service.crypto.vault import FieldPlace, FieldVault, SealedField
from service.db.types import utcnow
from service.documents.signing import sha256_hex
from service.gate.grant import issue
from service.observability.metrics import GATE_DECISIONS
from service.records.models import RECORD_SEALED_COLUMNS, CreditRecord
from service.subjects.models import SUBJECT_FIELD_COLUMNS, Subject


class AccessDenied(Exception):
    """The policy said no; ``reason`` is the stable reason code, already audited."""

    def __init__(self, reason: str, audit_seq: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.audit_seq = audit_seq


@dataclass(frozen=True)
class OpenedRecord:
    """A record the decision allowed, with its sealed details opened."""

    record: CreditRecord
    details: Mapping[str, str | None]


RecordLoader = Callable[[Decision], Sequence[CreditRecord]]
UseClaim = Callable[[Connection], str | None]


@dataclass(frozen=True)
class ReadResult:
    """What the gate hands back: masked fields, opened records, and the audit entry that records it."""

    decision: Decision
    fields: Mapping[str, str | None]
    audit_seq: int
    records: Sequence[OpenedRecord] = ()


def _sealed(subject: Subject, kind: str) -> SealedField:
    column = SUBJECT_FIELD_COLUMNS[kind]
    return SealedField(FieldPlace("subjects", column, subject.id), getattr(subject, column), kind)


class AccessGate:
    """The one gate in front of personal data."""

    def __init__(self, vault: FieldVault, writer: AuditWriter, masking: MaskingPolicy | None = None) -> None:
        self._vault = vault
        self._writer = writer
        self._masking = masking or load_masking_policy()

    def birth_date(self, session: Session, subject_id: str) -> date | None:
        """The subject's birth date, for age rules (guardianship, who may grant consent).

        Only the date leaves the gate, never the ID number it is read from.
        """
        subject = session.get(Subject, subject_id)
        return None if subject is None else self._birth_date(session, subject)

    def _birth_date(self, session: Session, subject: Subject) -> date | None:
        # The guardianship rule needs the ward's age, which only the encrypted ID
        # number holds; this narrow grant opens that one field, for the decision
        # only, and its value never leaves this method.
        probe = Decision(
            allowed=True,
            reason="guardianship_age_check",
            subject_id=subject.id,
            role=Role.GUARDIAN,
            categories=frozenset(),
            fields=frozenset({FieldKind.ID_NUMBER}),
            consent_id=None,
            purpose=None,
        )
        opened = self._vault.decrypt(issue(probe), session, subject.id, {"id_number": _sealed(subject, "id_number")})
        try:
            return parse_resident_id(opened["id_number"] or "").birth_date
        except InvalidIdentifier:
            return None

    def read_subject(
        self,
        session: Session,
        *,
        viewer: Viewer,
        subject_id: str,
        request_id: str | None,
        action: str = "subject.read",
        purpose: str | None = None,
        consent: ConsentView | None = None,
        now: datetime | None = None,
        records: RecordLoader | None = None,
        claim: UseClaim | None = None,
        details: Mapping[str, Any] | None = None,
        only_fields: frozenset[str] | None = None,
    ) -> ReadResult:
        """Decide, decrypt, mask and audit one read of a subject's personal information.

        ``records`` (given the allowing decision) returns the records this viewer may
        see; their sealed details are opened only for categories the decision allows.
        ``claim`` takes a consent use inside the transaction that commits the allow
        entry (so the use and its record are one commit, grouped with other
        queries). It returns a denial reason when the use cannot be taken (revoked
        or exhausted meanwhile); the entry is then a denial and nothing is returned.
        ``only_fields`` narrows the personal fields decrypted to those the response
        needs (data minimisation); the decision still bounds them.
        """
        now = now or utcnow()
        subject = session.get(Subject, subject_id)
        birth = None
        if subject is not None and viewer.role == Role.GUARDIAN and subject_id in viewer.wards:
            birth = self._birth_date(session, subject)
        decision = decide(
            AccessRequest(
                viewer=viewer, subject_id=subject_id, now=now, purpose=purpose, consent=consent,
                subject_birth_date=birth,
            )
        )
        if decision.allowed and subject is None:
            decision = _denied(decision, "subject_unknown")
        GATE_DECISIONS.labels("allow" if decision.allowed else "deny", decision.reason).inc()
        base = {
            "actor_type": viewer.role.value, "actor_id": viewer.actor_id, "action": action,
            "subject": subject_id if subject is not None else None, "purpose": purpose,
            "consent_id": consent.id if consent else None, "request_id": request_id,
        }
        if not decision.allowed:
            entry = self._writer.append(
                AuditEvent(decision="deny", reason=decision.reason, details=dict(details or {}), **base)
            )
            raise AccessDenied(decision.reason, entry.seq)
        assert subject is not None  # narrowed by the subject_unknown rewrite above
        grant = issue(decision)
        wanted = sorted(
            k for k in SUBJECT_FIELD_COLUMNS if k in decision.fields and (only_fields is None or k in only_fields)
        )
        allowed_records = list(records(decision)) if records is not None else []
        # One vault call for everything: the subject's data key is fetched and unwrapped once.
        sealed: dict[str, SealedField] = {k: _sealed(subject, k) for k in wanted}
        for record in allowed_records:
            for column in RECORD_SEALED_COLUMNS:
                sealed[f"{record.id}:{column}"] = SealedField(
                    FieldPlace("credit_records", column, record.id), getattr(record, column),
                    f"category:{record.category}",
                )
        plain = self._vault.decrypt(grant, session, subject_id, sealed)
        masked = {k: self._masking.mask(FieldKind(k), decision.role, plain[k]) for k in wanted}
        opened = [
            OpenedRecord(record, {c.removesuffix("_ct"): plain[f"{record.id}:{c}"] for c in RECORD_SEALED_COLUMNS})
            for record in allowed_records
        ]
        payload = {"fields": masked, "records": [{"id": r.record.id, **r.details} for r in opened]}
        audit_details = {
            **(details or {}),
            "fields": [k for k in wanted if masked[k] is not None],
            "categories": sorted(decision.categories),
            "records": [r.record.id for r in opened],
            "response_sha256": sha256_hex(payload),
        }
        entry = self._writer.append(
            AuditEvent(decision="allow", reason=decision.reason, details=audit_details, precondition=claim,
                       denied_details=dict(details or {}), **base)
        )
        if entry.decision != "allow":
            GATE_DECISIONS.labels("deny", entry.reason).inc()
            raise AccessDenied(entry.reason, entry.seq)
        return ReadResult(decision, masked, entry.seq, opened)


def _denied(decision: Decision, reason: str) -> Decision:
    return Decision(
        allowed=False, reason=reason, subject_id=decision.subject_id, role=decision.role,  # type: ignore[arg-type]
        categories=frozenset(), fields=frozenset(), consent_id=decision.consent_id, purpose=decision.purpose,
    )
