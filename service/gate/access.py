"""The governed access path: decide → decrypt what was allowed → mask → audit → return.

Every read of personal information goes through the gate. It works in two
halves so that async callers need not hold a thread while the audit log
commits: :meth:`AccessGate.prepare` decides, decrypts and masks, and returns a
:class:`PendingRead` whose only way out is :meth:`AccessGate.complete` with
the committed audit entry of that very event. :meth:`AccessGate.read_subject`
is both halves with a blocking append. A denial is audited too; if the audit
log cannot take the entry the caller gets
:class:`~service.audit_log.writer.AuditUnavailable` and no data (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from audit import AuditEntry
from policies import (
    AccessRequest,
    ConsentView,
    Decision,
    FieldKind,
    MaskingPolicy,
    Role,
    Viewer,
    age_on,
    decide,
    decide_age_check,
    decide_public_disclosure,
    known_purpose,
    load_consent_settings,
    load_masking_policy,
)
from policies.access import IDENTITY_CATEGORY
from service.audit_log.writer import AuditEvent, AuditWriter, Precondition
from service.crypto.vault import FieldPlace, FieldVault, SealedField
from service.db.raw import RawConnection
from service.db.types import utcnow
from service.documents.signing import sha256_hex
from service.gate.grant import issue
from service.observability.metrics import GATE_DECISIONS, child
from service.records.models import RECORD_SEALED_COLUMNS
from service.subjects.models import SUBJECT_FIELD_COLUMNS
from service.subjects.repository import SubjectRow, load_subject


class AccessDenied(Exception):
    """The policy said no; ``reason`` is the stable reason code, already audited."""

    def __init__(self, reason: str, audit_seq: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.audit_seq = audit_seq


class SealedRecord(Protocol):
    """A record as the gate needs it: an id, a category and its sealed detail columns."""

    @property
    def id(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def document_number_ct(self) -> bytes | None: ...

    @property
    def facts_ct(self) -> bytes | None: ...


@dataclass(frozen=True)
class OpenedRecord:
    """A record the decision allowed, with its sealed details opened.

    ``details`` holds the document number and the facts, and whatever else the record
    carries sealed beside them in ``sealed_extras`` (a statement, objections kept with it):
    ``(name, place, ciphertext)`` triples, opened under the same category grant.
    """

    record: Any
    details: Mapping[str, str | None]


RecordLoader = Callable[[Decision], Sequence[SealedRecord]]


@dataclass(frozen=True)
class ReadResult:
    """What the gate hands back: masked fields, opened records, and the audit entry that records it."""

    decision: Decision
    fields: Mapping[str, str | None]
    audit_seq: int
    records: Sequence[OpenedRecord] = ()
    texts: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingRead:
    """A decided read waiting for its audit entry. ``event`` goes to the audit log;
    the data stays inside until :meth:`AccessGate.complete` sees that entry committed."""

    event: AuditEvent
    decision: Decision
    _fields: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    _records: Sequence[OpenedRecord] = field(default=(), repr=False)
    _texts: Mapping[str, str | None] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PublicPage:
    """Masked names and ID numbers of the subjects on one page of the public list, by
    subject id, and the audit entry that records the page."""

    fields: Mapping[str, Mapping[str, str | None]]
    audit_seq: int


def _record_parts(record: SealedRecord) -> list[tuple[str, FieldPlace, bytes | None]]:
    parts = [(c.removesuffix("_ct"), FieldPlace("credit_records", c, record.id), getattr(record, c))
             for c in RECORD_SEALED_COLUMNS]
    return parts + list(getattr(record, "sealed_extras", ()))


def _sealed(subject: SubjectRow, kind: str) -> SealedField:
    column = SUBJECT_FIELD_COLUMNS[kind]
    return SealedField(FieldPlace("subjects", column, subject.id), getattr(subject, column), kind)


class AccessGate:
    """The one gate in front of personal data."""

    def __init__(self, vault: FieldVault, writer: AuditWriter, masking: MaskingPolicy | None = None) -> None:
        self._vault = vault
        self._writer = writer
        self._masking = masking or load_masking_policy()

    def birth_date(self, db: RawConnection, viewer: Viewer, subject_id: str) -> date | None:
        """The subject's birth date, for an age rule about ``viewer`` (may the subject
        grant consent; is a ward still under the guardianship age). None when the policy
        says it is none of the viewer's business, or the subject or the date is unknown.

        Only the birth date is opened, never the ID number: it is stored apart.
        """
        subject = load_subject(db, subject_id)
        return None if subject is None else self._birth_date(db, viewer, subject.id, subject.birth_date_ct)

    def _birth_date(self, db: RawConnection, viewer: Viewer, subject_id: str, sealed: bytes | None) -> date | None:
        # The policy allows the birth date alone to be opened for the subject or a
        # guardian, for the service's own age rule; the date never leaves the service.
        decision = decide_age_check(viewer, subject_id)
        if not decision.allowed or sealed is None:
            return None
        place = FieldPlace("subjects", SUBJECT_FIELD_COLUMNS["birth_date"], subject_id)
        opened = self._vault.decrypt(issue(decision), db, subject_id,
                                     {"birth_date": SealedField(place, sealed, "birth_date")})
        try:
            return date.fromisoformat(opened["birth_date"] or "")
        except ValueError:
            return None

    def minors_among(self, db: RawConnection, guardian: Viewer, wards: Mapping[str, bytes | None],
                     today: date) -> frozenset[str]:
        """The wards (subject id to sealed birth date) still under the guardianship age
        on ``today`` in China. A ward whose birth date cannot be read is left out: a
        guardian who cannot be shown to act for a minor does not act at all."""
        limit = load_consent_settings().guardianship_age
        minors = set()
        for ward, sealed in wards.items():
            birth = self._birth_date(db, guardian, ward, sealed)
            if birth is not None and birth <= today and age_on(birth, today) < limit:
                minors.add(ward)
        return frozenset(minors)

    def open_texts(self, db: RawConnection, viewer: Viewer, subject_id: str, texts: Mapping[str, SealedField],
                   now: datetime) -> dict[str, str | None] | None:
        """Free text about a subject (a consent request's reason), opened for ``viewer``
        when the access decision lets them see who the subject is (the ``identity``
        category: the subject themself, a guardian of a minor, a consent that covers it);
        None otherwise. The caller commits an audit entry for the action the text serves
        before the text (or anything derived from it) leaves the service."""
        birth = None
        if viewer.role == Role.GUARDIAN:
            subject = load_subject(db, subject_id)
            birth = None if subject is None else self._birth_date(db, viewer, subject_id, subject.birth_date_ct)
        decision = decide(AccessRequest(viewer=viewer, subject_id=subject_id, now=now, subject_birth_date=birth))
        if not decision.allowed or IDENTITY_CATEGORY not in decision.categories:
            return None
        return self._vault.decrypt(issue(decision), db, subject_id,
                                   {k: replace(v, requires=f"category:{IDENTITY_CATEGORY}") for k, v in texts.items()})

    def read_subject(self, db: RawConnection, **request: Any) -> ReadResult:
        """Decide, decrypt, mask and audit one read, waiting for the audit commit.
        Takes the arguments of :meth:`prepare`."""
        pending = self.prepare(db, **request)
        return self.complete(pending, self._writer.append(pending.event))

    def prepare(
        self,
        db: RawConnection,
        *,
        viewer: Viewer,
        subject_id: str,
        request_id: str | None,
        action: str = "subject.read",
        purpose: str | None = None,
        consent: ConsentView | None = None,
        now: datetime | None = None,
        records: RecordLoader | None = None,
        claim: Precondition | None = None,
        details: Mapping[str, Any] | None = None,
        only_fields: frozenset[str] | None = None,
        decision: Decision | None = None,
        texts: Mapping[str, SealedField] | None = None,
    ) -> PendingRead:
        """Decide one read of a subject's personal information, and if allowed decrypt
        and mask it; the result waits in a :class:`PendingRead` for its audit entry.

        ``records`` (given the allowing decision) returns the records this viewer may
        see; their sealed details are opened only for categories the decision allows.
        ``claim`` takes a consent use inside the transaction that commits the allow
        entry (so the use and its record are one commit, grouped with other
        queries). It returns a denial reason when the use cannot be taken (revoked
        or exhausted meanwhile); the entry is then a denial and nothing is returned.
        ``only_fields`` narrows the personal fields decrypted to those the response
        needs (data minimisation); the decision still bounds them.

        ``decision`` replaces :func:`policies.decide` for reads it does not cover: a
        provider reading what was filed about its record (``decide_case_read``), the
        operator reviewing a complaint (``decide_complaint_review``). ``texts`` are further
        sealed fields to open under the decision (each names the grant requirement it
        needs, ``category:<code>``); they come back in :attr:`ReadResult.texts`.
        """
        now = now or utcnow()
        subject = load_subject(db, subject_id)
        if decision is None:
            birth = None
            if subject is not None and viewer.role == Role.GUARDIAN:
                birth = self._birth_date(db, viewer, subject.id, subject.birth_date_ct)
            decision = decide(
                AccessRequest(
                    viewer=viewer, subject_id=subject_id, now=now, purpose=purpose, consent=consent,
                    subject_birth_date=birth,
                )
            )
        elif decision.subject_id != subject_id or decision.role != viewer.role:
            raise ValueError("the decision is about another subject or viewer")
        if decision.allowed and subject is None:
            decision = _denied(decision, "subject_unknown")
        base: dict[str, Any] = {
            "actor_type": viewer.role.value, "actor_id": viewer.actor_id, "action": action,
            # Only a purpose the policy knows reaches the append-only log, never the caller's string.
            "subject": subject_id if subject is not None else None, "purpose": known_purpose(purpose),
            "consent_id": consent.id if consent else None, "request_id": request_id,
        }
        if not decision.allowed:
            event = AuditEvent(decision="deny", reason=decision.reason, details=dict(details or {}), **base)
            return PendingRead(event, decision)
        assert subject is not None  # narrowed by the subject_unknown rewrite above
        grant = issue(decision)
        wanted = sorted(
            k for k in SUBJECT_FIELD_COLUMNS if k in decision.fields and (only_fields is None or k in only_fields)
        )
        allowed_records = list(records(decision)) if records is not None else []
        # One vault call for everything: the subject's data key is fetched and unwrapped once.
        sealed: dict[str, SealedField] = {k: _sealed(subject, k) for k in wanted}
        for record in allowed_records:
            for name, place, blob in _record_parts(record):
                sealed[f"{record.id}:{name}"] = SealedField(place, blob, f"category:{record.category}")
        extra = dict(texts or {})
        sealed.update({f"text:{name}": item for name, item in extra.items()})
        plain = self._vault.decrypt(grant, db, subject_id, sealed)
        masked = {k: self._masking.mask(FieldKind(k), decision.role, plain[k]) for k in wanted}
        opened = [
            OpenedRecord(record, {name: plain[f"{record.id}:{name}"] for name, _, _ in _record_parts(record)})
            for record in allowed_records
        ]
        opened_texts = {name: plain[f"text:{name}"] for name in extra}
        payload: dict[str, Any] = {"fields": masked, "records": [{"id": r.record.id, **r.details} for r in opened]}
        if opened_texts:
            payload["texts"] = opened_texts
        audit_details = {
            **(details or {}),
            "fields": [k for k in wanted if masked[k] is not None],
            "categories": sorted(decision.categories),
            "records": [r.record.id for r in opened],
            "response_sha256": sha256_hex(payload),
        }
        event = AuditEvent(decision="allow", reason=decision.reason, details=audit_details, precondition=claim,
                           denied_details=dict(details or {}), **base)
        return PendingRead(event, decision, masked, opened, opened_texts)

    def complete(self, pending: PendingRead, entry: AuditEntry) -> ReadResult:
        """The read's result, now that ``entry`` (the committed entry of ``pending.event``)
        is durable. Raises :class:`AccessDenied` when the decision or the use claimed at
        commit time said no."""
        event = pending.event
        if (entry.actor_id, entry.action, entry.request_id) != (event.actor_id, event.action, event.request_id):
            raise ValueError("the audit entry does not record this read")
        allowed = entry.decision == "allow" and pending.decision.allowed
        child(GATE_DECISIONS, "allow" if allowed else "deny", entry.reason).inc()
        if not allowed:
            raise AccessDenied(entry.reason, entry.seq)
        return ReadResult(pending.decision, pending._fields, entry.seq, pending._records, pending._texts)

    def read_public_list(
        self, db: RawConnection, listed: Sequence[str], *, request_id: str | None,
        describe: Callable[[Mapping[str, Mapping[str, str | None]]], Mapping[str, Any]],
    ) -> PublicPage:
        """Names and ID numbers, masked for the public, of subjects on the public serious
        list (the caller has established, with ``policies.records.publicly_listed``, that
        each has a record on it today). ``describe`` gets the masked values and returns
        the page's audit details (the records served); one audit entry records the page,
        and nothing is returned before it is committed."""
        shown: dict[str, dict[str, str | None]] = {}
        for subject_id in dict.fromkeys(listed):
            decision = decide_public_disclosure(subject_id, listed=True)
            subject = load_subject(db, subject_id)
            if subject is None:
                continue
            kinds = sorted(k for k in SUBJECT_FIELD_COLUMNS if k in decision.fields)
            plain = self._vault.decrypt(issue(decision), db, subject_id, {k: _sealed(subject, k) for k in kinds})
            shown[subject_id] = {k: self._masking.mask(FieldKind(k), Role.PUBLIC, plain[k]) for k in kinds}
        event = AuditEvent(
            actor_type=Role.PUBLIC.value, actor_id="anonymous", action="public_list.read", decision="allow",
            reason="public_disclosure", request_id=request_id,
            details={**describe(shown), "subjects_opened": sorted(shown)},
        )
        entry = self._writer.append(event)
        child(GATE_DECISIONS, "allow", "public_disclosure").inc()
        return PublicPage(shown, entry.seq)


def _denied(decision: Decision, reason: str) -> Decision:
    return Decision(
        allowed=False, reason=reason, subject_id=decision.subject_id, role=decision.role,  # type: ignore[arg-type]
        categories=frozenset(), fields=frozenset(), consent_id=decision.consent_id, purpose=decision.purpose,
    )
