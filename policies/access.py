"""The single access decision for reads of personal information.

``decide`` is the policy half of the gate (docs/ARCHITECTURE.md, "The governed
access path"): the service calls it
for every read of a subject's personal information and may decrypt and show
only what the returned Decision allows. It is a pure function: the clock,
the consent and the viewer are all passed in, so the same inputs always give
the same decision and every branch can be tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from policies.identifiers import age_on
from policies.masking import FieldKind, MaskingPolicy, Role, load_masking_policy
from policies.purposes import (
    Category,
    ConsentSettings,
    Purpose,
    load_categories,
    load_consent_settings,
    load_purposes,
)

__all__ = [
    "CHINA_STANDARD_TIME",
    "IDENTITY_CATEGORY",
    "AccessRequest",
    "ConsentState",
    "ConsentView",
    "Decision",
    "Reason",
    "Viewer",
    "decide",
    "decide_age_check",
    "decide_birth_date_sealing",
    "decide_case_read",
    "decide_complaint_review",
    "decide_public_disclosure",
]


# Birth dates in resident ID numbers are civil dates in China, which has used a
# single UTC+8 offset without daylight saving since 1991; judging a ward's
# birthday by the UTC date would extend a guardian's access by up to 8 hours.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

#: The category whose content is the subject's personal fields (name, ID number, …).
IDENTITY_CATEGORY = "identity"


class Reason(StrEnum):
    """Stable reason codes; the service maps them to HTTP problem codes."""

    # allowed
    SELF = "self"
    GUARDIAN = "guardian"
    CONSENT = "consent"
    # allowed, for the service's own use only (an age rule), never shown
    AGE_CHECK = "age_check"
    # allowed, once, for the schema upgrade that stores birth dates apart
    BIRTH_DATE_SEALING = "birth_date_sealing"
    # denied: subject
    NOT_SELF = "not_self"
    # denied: guardian
    NOT_GUARDIAN = "not_guardian"
    WARD_AGE_UNKNOWN = "ward_age_unknown"
    WARD_OF_AGE = "ward_of_age"
    # denied: institution, in the order they are checked
    INSTITUTION_SUSPENDED = "institution_suspended"
    CONSENT_REQUIRED = "consent_required"
    CONSENT_NOT_HELD = "consent_not_held"
    PURPOSE_MISMATCH = "purpose_mismatch"
    PURPOSE_NOT_PERMITTED = "purpose_not_permitted"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_EXHAUSTED = "consent_exhausted"
    CONSENT_NOT_ACTIVE = "consent_not_active"
    # denied: any other role
    ROLE_NOT_PERMITTED = "role_not_permitted"
    # remedies: the provider that registered a record reads what is filed about it; the
    # operator reviews a complaint; anyone reads the public serious dishonesty list
    RECORD_PROVIDER = "record_provider"
    NOT_RECORD_PROVIDER = "not_record_provider"
    COMPLAINT_REVIEW = "complaint_review"
    PUBLIC_DISCLOSURE = "public_disclosure"
    NOT_PUBLIC = "not_public"


class ConsentState(StrEnum):
    """Consent lifecycle states."""

    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking, as established by authentication."""

    role: Role
    actor_id: str
    subject_id: str | None = None
    wards: frozenset[str] = field(default_factory=frozenset)
    institution_type: str | None = None
    institution_active: bool = True
    permitted_purposes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ConsentView:
    """The facts about one consent that the decision needs."""

    id: str
    institution_id: str
    subject_id: str
    purpose: str
    categories: frozenset[str]
    state: str
    valid_from: datetime
    valid_until: datetime
    max_uses: int
    uses: int


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One attempted read of a subject's personal information."""

    viewer: Viewer
    subject_id: str
    now: datetime
    purpose: str | None = None
    consent: ConsentView | None = None
    subject_birth_date: date | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of ``decide``.

    ``role`` selects the masking to apply; ``categories`` and ``fields`` are
    what may be shown and decrypted, and are empty whenever ``allowed`` is
    false. ``consent_id`` and ``purpose`` echo what the request presented, so
    a denial can be audited with them.
    """

    allowed: bool
    reason: Reason
    subject_id: str
    role: Role
    categories: frozenset[str]
    fields: frozenset[FieldKind]
    consent_id: str | None
    purpose: str | None


def _deny(request: AccessRequest, reason: Reason) -> Decision:
    consent = request.consent
    return Decision(
        allowed=False,
        reason=reason,
        subject_id=request.subject_id,
        role=Role(request.viewer.role),
        categories=frozenset(),
        fields=frozenset(),
        consent_id=consent.id if consent is not None else None,
        purpose=request.purpose,
    )


def _allow(
    request: AccessRequest,
    reason: Reason,
    categories: frozenset[str],
    masking: MaskingPolicy,
) -> Decision:
    role = Role(request.viewer.role)
    consent = request.consent if reason is Reason.CONSENT else None
    # Personal fields are the identity category's content: a consent without it
    # opens records but says nothing about who the person is beyond the pseudonym.
    shown = IDENTITY_CATEGORY in categories
    return Decision(
        allowed=True,
        reason=reason,
        subject_id=request.subject_id,
        role=role,
        categories=categories,
        fields=masking.visible_fields(role) if shown else frozenset(),
        consent_id=consent.id if consent is not None else None,
        purpose=request.purpose,
    )


def _consent_denial(request: AccessRequest, consent: ConsentView, purpose: Purpose) -> Reason | None:
    """Check a held consent for the request's purpose; None if it may be used.

    The recorded state is consulted first because the service updates it
    lazily: a consent revoked after its end should still say "revoked". Then
    the window and use count are checked against the clock, capped by the
    purpose's ceilings so that a consent stored with terms wider than policy
    allows can never be used beyond them (invariant 4).
    """
    state = consent.state
    if state == ConsentState.REVOKED:
        return Reason.CONSENT_REVOKED
    if state == ConsentState.EXPIRED:
        return Reason.CONSENT_EXPIRED
    if state == ConsentState.EXHAUSTED:
        return Reason.CONSENT_EXHAUSTED
    if state != ConsentState.ACTIVE:
        return Reason.CONSENT_NOT_ACTIVE
    end = min(consent.valid_until, consent.valid_from + timedelta(days=purpose.max_validity_days))
    if request.now < consent.valid_from or request.now >= end:
        return Reason.CONSENT_EXPIRED
    if consent.uses >= min(consent.max_uses, purpose.max_queries):
        return Reason.CONSENT_EXHAUSTED
    return None


def decide(
    request: AccessRequest,
    purposes: Mapping[str, Purpose] | None = None,
    settings: ConsentSettings | None = None,
    masking: MaskingPolicy | None = None,
    categories: Mapping[str, Category] | None = None,
) -> Decision:
    """Decide whether ``request.viewer`` may read ``request.subject_id`` now.

    Policy arguments left as None are loaded from the packaged data.
    ``request.now`` must be timezone-aware (ValueError otherwise), since
    consent windows are aware UTC instants.

    Rules, by the viewer's role; within a role the checks run in the order
    listed and the first failing one gives the reason:

    - subject: allowed (``self``, every category) when ``viewer.subject_id``
      is the requested subject, else ``not_self``.
    - guardian: ``not_guardian`` unless the subject is one of ``viewer.wards``;
      ``ward_age_unknown`` without a birth date (or with one after today);
      ``ward_of_age`` once the ward has reached the guardianship age, judged
      on today's date in China Standard Time (from 00:00 UTC+8 on the
      birthday itself the guardian loses access); else allowed
      (``guardian``, every category).
    - institution: ``institution_suspended``; ``consent_required`` (no
      consent); ``consent_not_held`` (consent of another institution or
      subject); ``purpose_mismatch`` (requested purpose differs from the
      consent's); ``purpose_not_permitted`` (purpose unknown, not permitted to
      the institution, or not open to its institution type); then the
      consent's state: ``consent_revoked``, ``consent_expired``,
      ``consent_exhausted``, ``consent_not_active`` (pending, rejected or
      unknown state); then its window, ``consent_expired`` when now is before
      ``valid_from`` or at/after ``valid_until`` (or after the purpose's
      maximum validity); then ``consent_exhausted`` when uses have reached
      ``max_uses`` (or the purpose's maximum queries). Identity and ownership
      come before purpose and state so that a consent belonging to someone
      else reveals nothing about its purpose or state. Allowed (``consent``)
      with the categories in both the consent and the purpose.
    - auditor, provider, operator, public: ``role_not_permitted``.

    ``fields`` on an allowed decision lists the personal fields whose masking
    rule for the role is not ``hidden``, when the allowed categories include
    ``identity`` (always for the subject and guardians); none otherwise.
    """
    now = request.now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("request.now must be timezone-aware")
    masking = load_masking_policy() if masking is None else masking
    viewer = request.viewer

    if viewer.role == Role.SUBJECT:
        if viewer.subject_id is None or viewer.subject_id != request.subject_id:
            return _deny(request, Reason.NOT_SELF)
        return _allow(request, Reason.SELF, _all_categories(categories), masking)

    if viewer.role == Role.GUARDIAN:
        settings = load_consent_settings() if settings is None else settings
        if request.subject_id not in viewer.wards:
            return _deny(request, Reason.NOT_GUARDIAN)
        birth = request.subject_birth_date
        today = now.astimezone(CHINA_STANDARD_TIME).date()
        if birth is None or birth > today:
            return _deny(request, Reason.WARD_AGE_UNKNOWN)
        if age_on(birth, today) >= settings.guardianship_age:
            return _deny(request, Reason.WARD_OF_AGE)
        return _allow(request, Reason.GUARDIAN, _all_categories(categories), masking)

    if viewer.role == Role.INSTITUTION:
        purposes = load_purposes() if purposes is None else purposes
        if not viewer.institution_active:
            return _deny(request, Reason.INSTITUTION_SUSPENDED)
        consent = request.consent
        if consent is None:
            return _deny(request, Reason.CONSENT_REQUIRED)
        if consent.institution_id != viewer.actor_id or consent.subject_id != request.subject_id:
            return _deny(request, Reason.CONSENT_NOT_HELD)
        if request.purpose != consent.purpose:
            return _deny(request, Reason.PURPOSE_MISMATCH)
        purpose = purposes.get(consent.purpose)
        if (
            purpose is None
            or consent.purpose not in viewer.permitted_purposes
            or viewer.institution_type not in purpose.institution_types
        ):
            return _deny(request, Reason.PURPOSE_NOT_PERMITTED)
        denial = _consent_denial(request, consent, purpose)
        if denial is not None:
            return _deny(request, denial)
        return _allow(request, Reason.CONSENT, consent.categories & purpose.categories, masking)

    return _deny(request, Reason.ROLE_NOT_PERMITTED)


def decide_age_check(viewer: Viewer, subject_id: str) -> Decision:
    """Whether the service may open ``subject_id``'s birth date to apply an age rule
    for ``viewer``: the subject themself (may they grant?) or one of their guardians
    (is the ward still under the guardianship age?). Nobody else: the age of a
    stranger is none of the caller's business. An allowed decision opens only the
    birth date, which is stored apart from the ID number, for the service's own use;
    the date never reaches the viewer.
    """
    role = Role(viewer.role)
    mine = role == Role.SUBJECT and viewer.subject_id == subject_id
    ward = role == Role.GUARDIAN and subject_id in viewer.wards
    return Decision(
        allowed=mine or ward,
        reason=Reason.AGE_CHECK if mine or ward else (Reason.NOT_SELF if role == Role.SUBJECT else Reason.NOT_GUARDIAN),
        subject_id=subject_id,
        role=role,
        categories=frozenset(),
        fields=frozenset({FieldKind.BIRTH_DATE}) if mine or ward else frozenset(),
        consent_id=None,
        purpose=None,
    )


def decide_birth_date_sealing(subject_id: str) -> Decision:
    """The one-off opening of a subject's ID number by the operator's schema upgrade,
    to store their birth date apart (subjects registered before it was kept apart).
    It opens the ID number only, and the caller audits it for the subject."""
    return Decision(
        allowed=True,
        reason=Reason.BIRTH_DATE_SEALING,
        subject_id=subject_id,
        role=Role.OPERATOR,
        categories=frozenset(),
        fields=frozenset({FieldKind.ID_NUMBER}),
        consent_id=None,
        purpose=None,
    )


def _case_decision(viewer: Viewer, subject_id: str, allowed: bool, reason: Reason, denied: Reason,
                   category: str, masking: MaskingPolicy | None) -> Decision:
    role = Role(viewer.role)
    policy = load_masking_policy() if masking is None else masking
    return Decision(
        allowed=allowed,
        reason=reason if allowed else denied,
        subject_id=subject_id,
        role=role,
        categories=frozenset({category}) if allowed else frozenset(),
        fields=policy.visible_fields(role) if allowed else frozenset(),
        consent_id=None,
        purpose=None,
    )


def decide_case_read(viewer: Viewer, subject_id: str, *, record_provider_id: str, category: str,
                     masking: MaskingPolicy | None = None) -> Decision:
    """Whether a provider may read what a subject filed about one of its records (an
    objection, a complaint's basis, a repair application, a statement) to decide on it.

    Only the provider that registered the record (or gave the listing notice), only that
    record's category, and the subject's fields masked for the provider role: enough to
    recognise the person, no more. Anyone else: ``not_record_provider``.
    """
    mine = Role(viewer.role) == Role.PROVIDER and viewer.actor_id == record_provider_id
    return _case_decision(viewer, subject_id, mine, Reason.RECORD_PROVIDER, Reason.NOT_RECORD_PROVIDER,
                          category, masking)


def decide_complaint_review(viewer: Viewer, subject_id: str, *, category: str,
                            masking: MaskingPolicy | None = None) -> Decision:
    """Whether the operator (the leading group) may read a complaint and the objection
    behind it: the record's category only; the subject's fields stay hidden from the
    operator role by the masking policy."""
    operator = Role(viewer.role) == Role.OPERATOR
    return _case_decision(viewer, subject_id, operator, Reason.COMPLAINT_REVIEW, Reason.ROLE_NOT_PERMITTED,
                          category, masking)


def decide_public_disclosure(subject_id: str, *, listed: bool, masking: MaskingPolicy | None = None) -> Decision:
    """Whether a subject's name and ID number may be shown, masked for the public, on the
    public serious dishonesty list: exactly when one of their records is on it today
    (``policies.records.publicly_listed``). No record category is opened."""
    policy = load_masking_policy() if masking is None else masking
    return Decision(
        allowed=listed,
        reason=Reason.PUBLIC_DISCLOSURE if listed else Reason.NOT_PUBLIC,
        subject_id=subject_id,
        role=Role.PUBLIC,
        categories=frozenset(),
        fields=policy.visible_fields(Role.PUBLIC) if listed else frozenset(),
        consent_id=None,
        purpose=None,
    )


def _all_categories(categories: Mapping[str, Category] | None) -> frozenset[str]:
    return frozenset(load_categories() if categories is None else categories)
