"""Registering credit records: checks, encryption, idempotency, audit.

A provider registers one record per legal-effect document. The steps, in order:

1. the ID number is validated (GB 11643; refusal codes from ``policies``);
2. with an ``Idempotency-Key``, a record this provider already registered under
   that key is returned unchanged when the request is the same, and refused
   with ``409 idempotency_key_reused`` when it is not;
3. the provider must be active;
4. the text fields are cleaned (``policies.text.clean_text``); the deciding
   authority's name is shown publicly, so it may not hold an ID, mobile or card
   number (``personal_identifier_not_allowed``);
5. the catalog rules (``policies.records.check_registration``) run with the
   provider's type and today's date in China; then the document date must not
   be later than today (``document_date_in_future``) nor than the decision
   date (``document_date_after_decision``: the decision takes effect through
   its document, so the document cannot be issued afterwards); the decision
   cannot precede the person's birth (``decision_before_birth``); then
   ``policies.records.classify_record`` settles the class of dishonesty
   information (NDRC Order 36), the seal of a minor's record, refusals for
   minors and serious lists, and publication; and a record whose disclosure
   window has already ended is refused (``disclosure_period_ended``): it could
   never be shown or used, so it is not collected;
5. the subject is found by blind index, or registered with the given name;
6. the document number and the facts are encrypted under the subject's data
   key at ``credit_records.<column>.<record id>``; the access gate opens them
   only with a grant for ``category:<record category>``;
7. the row and its ``record.register`` audit entry (and ``subject.register``
   when the person was new) commit in one transaction.

Leniency. The flags the provider states are kept. ``minor`` is added whenever
the person was under 18 (未成年人) on the decision date, computed from the birth
date in the ID number. The violation date is not part of a record, so the
decision date stands in for it; a provider can always state ``minor`` itself.
The guardianship age of the consent rules (14) is a different threshold and
is not used here.

Idempotency. The request digest is an HMAC-SHA256 (key derived from the index
secret, so it cannot be used to confirm a guessed ID number) over a canonical
form of the request: ID number normalized, whitespace in the name and the
document fields collapsed, leniency as a set. Two requests that differ only in
JSON formatting or leniency order are the same request. The key itself is
stored only as an HMAC-SHA256 under another key derived from the index secret
(a client may put anything in it, a case number included).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policies import (
    CatalogItem,
    RecordRuleError,
    RecordState,
    RecordTerms,
    age_on,
    check_registration,
    classify_record,
    disclosure_window,
)
from policies.identifiers import ResidentId, parse_resident_id
from service.audit_log.writer import AuditEvent
from service.crypto.vault import FieldPlace
from service.db.types import china_today
from service.errors import CodedError
from service.fields import clean_field, public_field
from service.identity.models import ACTIVE, Provider
from service.records.models import RECORD_SEALED_COLUMNS, CreditRecord
from service.runtime import Services
from service.subjects.repository import SubjectData, register_subject

#: Leniency flags a record can carry, in the order they are stored.
LENIENCY_FLAGS: tuple[str, ...] = ("minor", "force_majeure", "not_intentional", "slight")
#: Under this age on the decision date the person was a minor (未成年人, 《民法典》第十七条).
MINOR_AGE = 18
#: ``Idempotency-Key`` header values: 1 to 128 of letters, digits and ``. _ : -``.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_FACTS_CHARS = 2000
MAX_NAME_CHARS = 64
MAX_DOCUMENT_NUMBER_CHARS = 64
MAX_AUTHORITY_CHARS = 200

_DOCUMENT_NUMBER_COLUMN, _FACTS_COLUMN = RECORD_SEALED_COLUMNS
_DIGEST_INFO = b"creditgate/records/request-digest/v1"
_KEY_INFO = b"creditgate/records/idempotency-key/v1"


class RecordConflict(CodedError):
    """The request collides with an earlier one (an idempotency key reused for another body)."""


class ProviderInactive(Exception):
    """The calling provider is unknown or suspended (a race with the guard's live check)."""


@dataclass(frozen=True, slots=True)
class RecordDocument:
    """The legal-effect document that grounds a record."""

    type: str
    number: str
    authority: str
    date: date


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A registration as the provider sent it (already schema-checked)."""

    id_number: str
    name: str
    item_code: str
    document: RecordDocument
    decision_date: date
    facts: str
    procedure: str
    first_violation_corrected: bool
    leniency: Sequence[str] = field(default_factory=tuple)
    #: Class of dishonesty information (light, ordinary, severe); the item's default when None.
    severity: str | None = None
    #: Whether the deciding department publishes it (items published by decision only).
    published: bool | None = None


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A registration that passed every rule, ready to store (texts cleaned)."""

    request: NewRecord
    resident: ResidentId
    name: str
    item: CatalogItem
    disclosure_ends: date
    leniency: tuple[str, ...]
    terms: RecordTerms
    facts: str
    document_number: str
    authority: str


def collapse(value: str) -> str:
    """Collapse runs of whitespace and trim (the canonical form compared on retries)."""
    return " ".join(value.split())


def check_idempotency_key(value: str | None) -> str | None:
    """The key, if well formed; ValueError otherwise (the caller answers 400)."""
    if value is None:
        return None
    if IDEMPOTENCY_KEY_PATTERN.fullmatch(value) is None:
        raise ValueError("Idempotency-Key must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
    return value


def prepare(
    new: NewRecord, resident: ResidentId, provider_type: str, today: date, *,
    provider_level: str | None = None, via_notice: bool = False,
) -> PreparedRecord:
    """Apply the registration rules; return what to store or raise RecordRuleError
    (or InvalidField for a refused text). ``via_notice`` when a serious listing is
    decided through the notice procedure."""
    name = clean_field(new.name, "name", max_chars=MAX_NAME_CHARS)
    facts = clean_field(new.facts, "facts", max_chars=MAX_FACTS_CHARS, multiline=True)
    number = clean_field(new.document.number, "document.number", max_chars=MAX_DOCUMENT_NUMBER_CHARS)
    authority = public_field(new.document.authority, "document.authority", max_chars=MAX_AUTHORITY_CHARS)
    item = check_registration(
        item_code=new.item_code,
        provider_type=provider_type,
        document_type=new.document.type,
        procedure=new.procedure,
        first_violation_corrected=new.first_violation_corrected,
        decision_date=new.decision_date,
        today=today,
    )
    if new.document.date > today:
        raise RecordRuleError("document_date_in_future", "the document is dated later than today")
    if new.document.date > new.decision_date:
        raise RecordRuleError(
            "document_date_after_decision", "the document cannot be dated later than the decision it records"
        )
    if new.decision_date < resident.birth_date:
        raise RecordRuleError("decision_before_birth", "the decision date precedes the person's birth date")
    flags = set(new.leniency)
    if age_on(resident.birth_date, new.decision_date) < MINOR_AGE:
        flags.add("minor")
    unknown = flags.difference(LENIENCY_FLAGS)
    if unknown:
        raise RecordRuleError("leniency_unknown", f"leniency flags are {', '.join(LENIENCY_FLAGS)}")
    terms = classify_record(
        item, severity=new.severity, published=new.published, minor="minor" in flags,
        document_type=new.document.type, provider_level=provider_level, via_notice=via_notice,
    )
    window = disclosure_window(item, new.decision_date, terms.severity)
    if window.last_day < today:
        raise RecordRuleError(
            "disclosure_period_ended",
            "the disclosure period of this record has already ended; it would never be shown or used",
        )
    return PreparedRecord(
        request=new,
        resident=resident,
        name=name,
        item=item,
        disclosure_ends=window.last_day,
        leniency=tuple(f for f in LENIENCY_FLAGS if f in flags),
        terms=terms,
        facts=facts,
        document_number=number,
        authority=authority,
    )


def _derived_key(index_secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"creditgate/records", info=info).derive(index_secret)


def idempotency_key_hash(index_secret: bytes, provider_id: str, key: str) -> str:
    """What is stored for a provider's ``Idempotency-Key``: a keyed SHA-256 (hex), so the
    key (which a client may fill with a case number or worse) never sits in the database."""
    message = f"{provider_id}\x00{key}".encode()
    return hmac.new(_derived_key(index_secret, _KEY_INFO), message, hashlib.sha256).hexdigest()


def request_digest(index_secret: bytes, new: NewRecord) -> str:
    """Keyed SHA-256 (hex) of the canonical request, compared on idempotent retries."""
    number = new.id_number.strip().upper()
    canonical = {
        "id_number": number,
        "name": collapse(new.name),
        "item_code": new.item_code,
        "document": {
            "type": new.document.type,
            "number": collapse(new.document.number),
            "authority": collapse(new.document.authority),
            "date": new.document.date.isoformat(),
        },
        "decision_date": new.decision_date.isoformat(),
        "facts": new.facts,
        "procedure": new.procedure,
        "first_violation_corrected": new.first_violation_corrected,
        "leniency": sorted(set(new.leniency)),
        "severity": new.severity,
        "published": new.published,
    }
    raw = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(_derived_key(index_secret, _DIGEST_INFO), raw, hashlib.sha256).hexdigest()


def record_view(record: CreditRecord) -> dict[str, object]:
    """What the provider gets back: the record's policy facts and the subject's pseudonym.

    Never the name, the ID number, the facts or the document number.
    ``disclosure_ends`` is the last day the record is shown.
    """
    return {
        "id": record.id,
        "subject_id": record.subject_id,
        "item_code": record.item_code,
        "category": record.category,
        "nature": record.nature,
        "severity": record.severity,
        "state": record.state,
        "decision_date": record.decision_date.isoformat(),
        "disclosure_ends": record.disclosure_ends.isoformat(),
        "leniency": list(record.leniency),
        "sealed": record.sealed,
        "published": record.published,
    }


def _by_key(session: Session, provider_id: str, key: str) -> CreditRecord | None:
    return session.execute(
        select(CreditRecord).where(
            CreditRecord.provider_id == provider_id,  # type: ignore[arg-type]
            CreditRecord.idempotency_key == key,  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()


def _replayed(found: CreditRecord, digest: str) -> CreditRecord:
    if not hmac.compare_digest(found.request_sha256, digest):
        raise RecordConflict(
            "idempotency_key_reused", "this Idempotency-Key was already used for a different request"
        )
    return found


class RecordService:
    """Record registration for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def digest(self, new: NewRecord) -> str:
        """The request digest under this deployment's key."""
        return request_digest(self._svc.keyring.index_secret, new)

    def key_hash(self, provider_id: str, key: str) -> str:
        """What is stored for ``key`` (see :func:`idempotency_key_hash`)."""
        return idempotency_key_hash(self._svc.keyring.index_secret, provider_id, key)

    def find_by_key(self, provider_id: str, key: str) -> CreditRecord | None:
        """The record this provider registered under ``key``, if any."""
        with self._svc.session() as s:
            return _by_key(s, provider_id, self.key_hash(provider_id, key))

    def stage(
        self,
        session: Session,
        *,
        provider_id: str,
        prepared: PreparedRecord,
        idempotency_key: str | None,
        digest: str,
        now: datetime,
        request_id: str | None,
        actor: tuple[str, str] | None = None,
        reason: str = "registered",
    ) -> tuple[CreditRecord, list[AuditEvent]]:
        """Add the record (and the subject if new) to ``session``'s open transaction.

        Returns the record and the audit events the caller must append in the same
        transaction (``AuditWriter.append_in``). Raises IntegrityError (at flush) when
        the idempotency key was taken concurrently.
        """
        actor_type, actor_id = actor or ("provider", provider_id)
        new = prepared.request
        subject_id, created = register_subject(
            session, self._svc.vault, self._svc.blind_index,
            SubjectData(id_number=prepared.resident.number, name=prepared.name),
        )
        record_id = uuid.uuid4().hex
        number_ct, facts_ct = self._svc.vault.encrypt(
            session, subject_id,
            [
                (FieldPlace("credit_records", _DOCUMENT_NUMBER_COLUMN, record_id), prepared.document_number),
                (FieldPlace("credit_records", _FACTS_COLUMN, record_id), prepared.facts),
            ],
        )
        assert number_ct is not None and facts_ct is not None
        item = prepared.item
        record = CreditRecord(
            id=record_id, subject_id=subject_id, provider_id=provider_id, item_code=item.code,
            category=item.category, nature=item.nature, state=RecordState.ACTIVE.value,
            decision_date=new.decision_date, disclosure_ends=prepared.disclosure_ends,
            document_type=new.document.type, document_authority=prepared.authority,
            document_date=new.document.date, document_number_ct=number_ct, facts_ct=facts_ct,
            procedure=new.procedure, first_violation_corrected=new.first_violation_corrected,
            leniency=list(prepared.leniency),
            idempotency_key=None if idempotency_key is None else self.key_hash(provider_id, idempotency_key),
            request_sha256=digest, created_at=now, state_changed_at=now, severity=prepared.terms.severity,
            sealed=prepared.terms.sealed, published=prepared.terms.published,
        )
        session.add(record)
        session.flush()
        events: list[AuditEvent] = []
        if created:
            events.append(AuditEvent(
                actor_type=actor_type, actor_id=actor_id, action="subject.register", decision="record",
                reason="record_registration", subject=subject_id, request_id=request_id,
            ))
        events.append(AuditEvent(
            actor_type=actor_type, actor_id=actor_id, action="record.register", decision="record",
            reason=reason, subject=subject_id, request_id=request_id,
            details={"record": record_id, "item_code": item.code, "category": item.category,
                     "severity": prepared.terms.severity, "sealed": prepared.terms.sealed,
                     "published": prepared.terms.published},
        ))
        return record, events

    def register(
        self,
        provider_id: str,
        new: NewRecord,
        *,
        idempotency_key: str | None,
        request_id: str | None,
        now: datetime,
    ) -> tuple[CreditRecord, bool]:
        """Register a record; returns (record, created). ``created`` is False for an
        idempotent replay, which writes nothing and appends no audit entry.

        Raises InvalidIdentifier, RecordRuleError, InvalidField, RecordConflict or ProviderInactive.
        """
        # InvalidIdentifier carries the stable code; a birth date after today is one too.
        resident = parse_resident_id(new.id_number, china_today(now))
        digest = self.digest(new)
        if idempotency_key is not None:
            found = self.find_by_key(provider_id, idempotency_key)
            if found is not None:
                return _replayed(found, digest), False
        with self._svc.session() as s:
            provider = s.get(Provider, provider_id)
        if provider is None or provider.status != ACTIVE:
            raise ProviderInactive
        prepared = prepare(new, resident, provider.provider_type, china_today(now), provider_level=provider.level)
        try:
            with self._svc.write_session() as s, s.begin():
                if idempotency_key is not None:
                    # SQLite serializes writers (BEGIN IMMEDIATE): a retry that waited
                    # for the first attempt's commit finds its row here.
                    found = _by_key(s, provider_id, self.key_hash(provider_id, idempotency_key))
                    if found is not None:
                        return _replayed(found, digest), False
                record, events = self.stage(
                    s, provider_id=provider_id, prepared=prepared, idempotency_key=idempotency_key,
                    digest=digest, now=now, request_id=request_id,
                )
                self._svc.writer.append_in(s.connection(), *events)
        except IntegrityError:
            # PostgreSQL: a concurrent retry with the same key committed first; its
            # unique index entry made our insert fail. Answer with that record.
            if idempotency_key is None:
                raise
            found = self.find_by_key(provider_id, idempotency_key)
            if found is None:
                raise
            return _replayed(found, digest), False
        return record, True


__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "LENIENCY_FLAGS",
    "MAX_FACTS_CHARS",
    "MINOR_AGE",
    "NewRecord",
    "PreparedRecord",
    "ProviderInactive",
    "RecordConflict",
    "RecordDocument",
    "RecordService",
    "check_idempotency_key",
    "collapse",
    "idempotency_key_hash",
    "prepare",
    "record_view",
    "request_digest",
]
