from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from policies.access import (
    AccessRequest,
    ConsentState,
    ConsentView,
    Decision,
    Reason,
    Viewer,
    decide,
    decide_age_check,
    decide_birth_date_sealing,
    decide_case_read,
    decide_complaint_review,
    decide_public_disclosure,
)
from policies.masking import FieldKind, Role, load_masking_policy, parse_masking_policy
from policies.purposes import ConsentSettings, Purpose, load_categories, load_purposes

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
SUBJECT = "subj-1"
INSTITUTION = "inst-1"
# Every field a viewer can be shown (the birth date never is).
ALL_FIELDS = frozenset(FieldKind) - {FieldKind.BIRTH_DATE}
# Contact fields are not catalog information: an institution sees name and ID number only.
IDENTITY_FIELDS = frozenset({FieldKind.ID_NUMBER, FieldKind.NAME})
ALL_CATEGORIES = frozenset(load_categories())
LOAN = load_purposes()["loan_approval"]


def institution(**changes: Any) -> Viewer:
    viewer = Viewer(
        role=Role.INSTITUTION,
        actor_id=INSTITUTION,
        institution_type="bank",
        permitted_purposes=frozenset({"loan_approval", "credit_card_approval"}),
    )
    return replace(viewer, **changes)


def consent(**changes: Any) -> ConsentView:
    view = ConsentView(
        id="cons-1",
        institution_id=INSTITUTION,
        subject_id=SUBJECT,
        purpose="loan_approval",
        # labor is not a loan category; tax is deliberately not consented.
        categories=frozenset({"identity", "judicial_enforcement", "labor"}),
        state="active",
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=20),
        max_uses=3,
        uses=1,
    )
    return replace(view, **changes)


def inst_request(**changes: Any) -> AccessRequest:
    request = AccessRequest(
        viewer=institution(),
        subject_id=SUBJECT,
        now=NOW,
        purpose="loan_approval",
        consent=consent(),
    )
    return replace(request, **changes)


def assert_denied(decision: Decision, reason: Reason) -> None:
    assert decision.reason == reason
    assert decision.allowed is False
    assert decision.categories == frozenset()
    assert decision.fields == frozenset()


def test_reason_codes_are_stable() -> None:
    assert {r.value for r in Reason} == {
        "self",
        "guardian",
        "consent",
        "age_check",
        "birth_date_sealing",
        "not_self",
        "not_guardian",
        "ward_age_unknown",
        "ward_of_age",
        "institution_suspended",
        "consent_required",
        "consent_not_held",
        "purpose_mismatch",
        "purpose_not_permitted",
        "consent_revoked",
        "consent_expired",
        "consent_exhausted",
        "consent_not_active",
        "role_not_permitted",
        "record_provider",
        "not_record_provider",
        "complaint_review",
        "public_disclosure",
        "not_public",
    }


# --- institution: allow -----------------------------------------------------


def test_institution_allowed_with_intersection_of_categories() -> None:
    decision = decide(inst_request())
    assert decision == Decision(
        allowed=True,
        reason=Reason.CONSENT,
        subject_id=SUBJECT,
        role=Role.INSTITUTION,
        categories=frozenset({"identity", "judicial_enforcement"}),
        fields=IDENTITY_FIELDS,
        consent_id="cons-1",
        purpose="loan_approval",
    )
    assert decision.reason == "consent"


def test_no_personal_field_without_the_identity_category() -> None:
    decision = decide(inst_request(consent=consent(categories=frozenset({"judicial_enforcement"}))))
    assert decision.allowed and decision.categories == {"judicial_enforcement"}
    assert decision.fields == frozenset()
    # The purpose's categories bound it too: identity in the consent but not the purpose.
    narrow = {"loan_approval": replace(LOAN, categories=frozenset({"judicial_enforcement"}))}
    assert decide(inst_request(), purposes=narrow).fields == frozenset()


def test_intersection_uses_injected_purposes() -> None:
    narrow = {"loan_approval": replace(LOAN, categories=frozenset({"labor"}))}
    decision = decide(inst_request(), purposes=narrow)
    assert decision.allowed
    assert decision.categories == {"labor"}


def test_fields_follow_masking_visibility(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["name"]["institution"] = {"kind": "hidden"}
    policy = parse_masking_policy(masking_data, "test")
    decision = decide(inst_request(), masking=policy)
    assert decision.allowed
    assert decision.fields == {FieldKind.ID_NUMBER}


def test_institutions_never_get_contact_fields() -> None:
    # Whatever categories the consent names, mobile, bank card and address stay closed.
    wide = consent(categories=ALL_CATEGORIES)
    decision = decide(inst_request(consent=wide))
    assert decision.allowed
    assert decision.fields == IDENTITY_FIELDS


# --- institution: deny reasons ----------------------------------------------


def test_institution_suspended() -> None:
    decision = decide(inst_request(viewer=institution(institution_active=False)))
    assert_denied(decision, Reason.INSTITUTION_SUSPENDED)
    assert decision.consent_id == "cons-1"
    assert decision.role is Role.INSTITUTION
    assert decision.subject_id == SUBJECT


def test_consent_required() -> None:
    decision = decide(inst_request(consent=None))
    assert_denied(decision, Reason.CONSENT_REQUIRED)
    assert decision.consent_id is None


@pytest.mark.parametrize("changes", [{"institution_id": "inst-2"}, {"subject_id": "subj-2"}])
def test_consent_not_held(changes: dict[str, str]) -> None:
    assert_denied(decide(inst_request(consent=consent(**changes))), Reason.CONSENT_NOT_HELD)


def test_consent_for_another_subject_than_requested() -> None:
    assert_denied(decide(inst_request(subject_id="subj-2")), Reason.CONSENT_NOT_HELD)


@pytest.mark.parametrize("purpose", [None, "credit_card_approval", ""])
def test_purpose_mismatch(purpose: str | None) -> None:
    assert_denied(decide(inst_request(purpose=purpose)), Reason.PURPOSE_MISMATCH)


def test_purpose_not_in_permitted_purposes() -> None:
    viewer = institution(permitted_purposes=frozenset({"credit_card_approval"}))
    assert_denied(decide(inst_request(viewer=viewer)), Reason.PURPOSE_NOT_PERMITTED)


def test_institution_type_not_allowed_for_purpose() -> None:
    viewer = institution(institution_type="employer")
    assert_denied(decide(inst_request(viewer=viewer)), Reason.PURPOSE_NOT_PERMITTED)
    viewer = institution(institution_type=None)
    assert_denied(decide(inst_request(viewer=viewer)), Reason.PURPOSE_NOT_PERMITTED)


def test_unknown_purpose_is_not_permitted() -> None:
    viewer = institution(permitted_purposes=frozenset({"marketing"}))
    request = inst_request(viewer=viewer, purpose="marketing", consent=consent(purpose="marketing"))
    assert_denied(decide(request), Reason.PURPOSE_NOT_PERMITTED)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("revoked", Reason.CONSENT_REVOKED),
        ("expired", Reason.CONSENT_EXPIRED),
        ("exhausted", Reason.CONSENT_EXHAUSTED),
        ("pending", Reason.CONSENT_NOT_ACTIVE),
        ("rejected", Reason.CONSENT_NOT_ACTIVE),
        ("ACTIVE", Reason.CONSENT_NOT_ACTIVE),
        ("", Reason.CONSENT_NOT_ACTIVE),
    ],
)
def test_consent_states(state: str, reason: Reason) -> None:
    assert_denied(decide(inst_request(consent=consent(state=state))), reason)


def test_consent_state_enum_is_accepted() -> None:
    assert decide(inst_request(consent=consent(state=ConsentState.ACTIVE))).allowed
    assert {s.value for s in ConsentState} == {
        "pending",
        "active",
        "rejected",
        "expired",
        "revoked",
        "exhausted",
    }


def test_window_end_is_exclusive() -> None:
    end = NOW + timedelta(days=5)
    request = inst_request(consent=consent(valid_until=end))
    assert_denied(decide(replace(request, now=end)), Reason.CONSENT_EXPIRED)
    assert decide(replace(request, now=end - US)).allowed
    assert_denied(decide(replace(request, now=end + US)), Reason.CONSENT_EXPIRED)


def test_window_start_is_inclusive() -> None:
    start = NOW - timedelta(hours=1)
    request = inst_request(consent=consent(valid_from=start))
    assert decide(replace(request, now=start)).allowed
    assert_denied(decide(replace(request, now=start - US)), Reason.CONSENT_EXPIRED)


def test_window_compares_instants_across_offsets() -> None:
    end = NOW + timedelta(days=5)
    beijing = end.astimezone(timezone(timedelta(hours=8)))
    request = inst_request(consent=consent(valid_until=end), now=beijing)
    assert_denied(decide(request), Reason.CONSENT_EXPIRED)
    assert decide(replace(request, now=beijing - US)).allowed


def test_uses_limit() -> None:
    assert_denied(decide(inst_request(consent=consent(uses=3))), Reason.CONSENT_EXHAUSTED)
    assert_denied(decide(inst_request(consent=consent(uses=4))), Reason.CONSENT_EXHAUSTED)
    assert decide(inst_request(consent=consent(uses=2))).allowed
    assert decide(inst_request(consent=consent(uses=0))).allowed


def test_purpose_ceilings_cap_a_wider_stored_consent() -> None:
    wide = consent(max_uses=100, uses=LOAN.max_queries, valid_until=NOW + timedelta(days=999))
    assert_denied(decide(inst_request(consent=wide)), Reason.CONSENT_EXHAUSTED)
    wide = replace(wide, uses=0)
    cap = wide.valid_from + timedelta(days=LOAN.max_validity_days)
    assert decide(inst_request(consent=wide, now=cap - US)).allowed
    assert_denied(decide(inst_request(consent=wide, now=cap)), Reason.CONSENT_EXPIRED)


# --- institution: order of checks -------------------------------------------


def test_order_suspended_before_missing_consent() -> None:
    request = inst_request(viewer=institution(institution_active=False), consent=None)
    assert_denied(decide(request), Reason.INSTITUTION_SUSPENDED)


def test_order_not_held_before_purpose_and_state() -> None:
    foreign = consent(institution_id="inst-2", purpose="rental_screening", state="revoked")
    assert_denied(decide(inst_request(consent=foreign)), Reason.CONSENT_NOT_HELD)


def test_order_mismatch_before_not_permitted() -> None:
    viewer = institution(permitted_purposes=frozenset())
    assert_denied(decide(inst_request(viewer=viewer, purpose="x")), Reason.PURPOSE_MISMATCH)


def test_order_not_permitted_before_state() -> None:
    viewer = institution(permitted_purposes=frozenset())
    request = inst_request(viewer=viewer, consent=consent(state="revoked"))
    assert_denied(decide(request), Reason.PURPOSE_NOT_PERMITTED)


def test_order_state_before_window_and_uses() -> None:
    stale = consent(state="revoked", valid_until=NOW - timedelta(days=1), uses=3)
    assert_denied(decide(inst_request(consent=stale)), Reason.CONSENT_REVOKED)


def test_order_window_before_uses() -> None:
    stale = consent(valid_until=NOW, uses=3)
    assert_denied(decide(inst_request(consent=stale)), Reason.CONSENT_EXPIRED)


# --- subject ----------------------------------------------------------------


def subject_viewer(subject_id: str | None = SUBJECT) -> Viewer:
    return Viewer(role=Role.SUBJECT, actor_id="acct-1", subject_id=subject_id)


def test_subject_reads_self() -> None:
    decision = decide(AccessRequest(viewer=subject_viewer(), subject_id=SUBJECT, now=NOW))
    assert decision == Decision(
        allowed=True,
        reason=Reason.SELF,
        subject_id=SUBJECT,
        role=Role.SUBJECT,
        categories=ALL_CATEGORIES,
        fields=ALL_FIELDS,
        consent_id=None,
        purpose=None,
    )
    assert len(ALL_CATEGORIES) == 9


def test_subject_self_uses_injected_categories() -> None:
    cats = {"identity": load_categories()["identity"]}
    request = AccessRequest(viewer=subject_viewer(), subject_id=SUBJECT, now=NOW)
    assert decide(request, categories=cats).categories == {"identity"}


@pytest.mark.parametrize("own", ["subj-2", None])
def test_subject_cannot_read_others(own: str | None) -> None:
    request = AccessRequest(viewer=subject_viewer(own), subject_id=SUBJECT, now=NOW)
    assert_denied(decide(request), Reason.NOT_SELF)


def test_subject_consent_is_irrelevant() -> None:
    request = AccessRequest(viewer=subject_viewer("subj-2"), subject_id=SUBJECT, now=NOW, consent=consent())
    assert_denied(decide(request), Reason.NOT_SELF)


# --- guardian ---------------------------------------------------------------


def guardian_request(birth: date | None, now: datetime = NOW, **viewer: Any) -> AccessRequest:
    base = Viewer(role=Role.GUARDIAN, actor_id="acct-g", wards=frozenset({SUBJECT, "subj-9"}))
    return AccessRequest(viewer=replace(base, **viewer), subject_id=SUBJECT, now=now, subject_birth_date=birth)


def test_guardian_of_minor_ward_allowed() -> None:
    decision = decide(guardian_request(date(2015, 6, 1)))
    assert decision.allowed
    assert decision.reason == Reason.GUARDIAN
    assert decision.role is Role.GUARDIAN
    assert decision.categories == ALL_CATEGORIES
    assert decision.fields == ALL_FIELDS
    assert decision.consent_id is None


def test_not_a_ward() -> None:
    assert_denied(decide(guardian_request(date(2015, 6, 1), wards=frozenset())), Reason.NOT_GUARDIAN)
    # Wardship is checked first, so the age of a stranger's child is never consulted.
    assert_denied(decide(guardian_request(None, wards=frozenset({"x"}))), Reason.NOT_GUARDIAN)


def test_ward_age_unknown() -> None:
    assert_denied(decide(guardian_request(None)), Reason.WARD_AGE_UNKNOWN)
    assert_denied(decide(guardian_request(date(2026, 3, 11))), Reason.WARD_AGE_UNKNOWN)


def test_ward_turning_14_on_birthday_is_denied() -> None:
    birth = date(2012, 3, 10)
    assert_denied(decide(guardian_request(birth)), Reason.WARD_OF_AGE)
    day_before = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert decide(guardian_request(birth, now=day_before)).allowed
    assert_denied(decide(guardian_request(date(1990, 1, 1))), Reason.WARD_OF_AGE)


def test_ward_birthday_is_judged_on_china_date() -> None:
    birth = date(2012, 3, 10)
    midnight_beijing = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert_denied(decide(guardian_request(birth, now=midnight_beijing)), Reason.WARD_OF_AGE)
    assert decide(guardian_request(birth, now=midnight_beijing - US)).allowed


def test_ward_born_feb_29() -> None:
    birth = date(2012, 2, 29)
    feb_28 = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    mar_1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert decide(guardian_request(birth, now=feb_28)).allowed
    assert_denied(decide(guardian_request(birth, now=mar_1)), Reason.WARD_OF_AGE)


def test_guardianship_age_comes_from_settings() -> None:
    settings = ConsentSettings(guardianship_age=18, pending_request_days=7)
    request = guardian_request(date(2010, 1, 1))
    assert_denied(decide(request), Reason.WARD_OF_AGE)
    assert decide(request, settings=settings).allowed


# --- other roles ------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPERATOR, Role.PROVIDER, Role.PUBLIC])
def test_other_roles_are_never_permitted(role: Role) -> None:
    viewer = Viewer(
        role=role,
        actor_id=INSTITUTION,
        subject_id=SUBJECT,
        wards=frozenset({SUBJECT}),
        institution_type="bank",
        permitted_purposes=frozenset({"loan_approval"}),
    )
    decision = decide(inst_request(viewer=viewer), purposes=load_purposes())
    assert_denied(decision, Reason.ROLE_NOT_PERMITTED)
    assert decision.role is role


# --- misc -------------------------------------------------------------------


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        decide(inst_request(now=NOW.replace(tzinfo=None)))


def test_purpose_object_is_the_declared_shape() -> None:
    assert isinstance(LOAN, Purpose)
    assert LOAN.max_queries == 3


# --- age checks -------------------------------------------------------------


def test_age_check_is_for_the_subject_and_their_guardians_only() -> None:
    me = decide_age_check(Viewer(role=Role.SUBJECT, actor_id="a", subject_id=SUBJECT), SUBJECT)
    # Only the birth date, kept apart from the ID number, is opened for an age rule.
    assert me.allowed and me.reason == "age_check" and me.fields == {FieldKind.BIRTH_DATE}
    assert me.categories == frozenset()
    parent = decide_age_check(Viewer(role=Role.GUARDIAN, actor_id="g", wards=frozenset({SUBJECT})), SUBJECT)
    assert parent.allowed and parent.fields == {FieldKind.BIRTH_DATE}
    for viewer, reason in (
        (Viewer(role=Role.SUBJECT, actor_id="a", subject_id="someone-else"), "not_self"),
        (Viewer(role=Role.GUARDIAN, actor_id="g", wards=frozenset({"another-ward"})), "not_guardian"),
        (institution(), "not_guardian"),
        (Viewer(role=Role.AUDITOR, actor_id="x"), "not_guardian"),
    ):
        refused = decide_age_check(viewer, SUBJECT)
        assert (refused.allowed, refused.reason, refused.fields) == (False, reason, frozenset())


def test_birth_date_sealing_opens_the_id_number_only() -> None:
    decision = decide_birth_date_sealing(SUBJECT)
    assert decision.allowed and decision.reason == "birth_date_sealing"
    assert decision.fields == {FieldKind.ID_NUMBER} and decision.categories == frozenset()
    assert decision.subject_id == SUBJECT and decision.role is Role.OPERATOR


def test_no_viewer_is_ever_shown_the_birth_date() -> None:
    policy = load_masking_policy()
    assert all(FieldKind.BIRTH_DATE not in policy.visible_fields(role) for role in Role)


# --- remedies: the provider of a record, the operator, the public --------------


def provider(actor_id: str = "prov-1") -> Viewer:
    return Viewer(role=Role.PROVIDER, actor_id=actor_id)


def test_the_record_provider_reads_its_case_in_the_record_category_only() -> None:
    decision = decide_case_read(provider(), SUBJECT, record_provider_id="prov-1", category="tax")
    assert decision.allowed and decision.reason is Reason.RECORD_PROVIDER
    assert decision.categories == {"tax"}
    assert decision.fields == IDENTITY_FIELDS  # masked for the provider role, no contact fields
    assert decision.role is Role.PROVIDER


@pytest.mark.parametrize("viewer", [
    Viewer(role=Role.PROVIDER, actor_id="prov-2"),
    Viewer(role=Role.INSTITUTION, actor_id="prov-1"),
    Viewer(role=Role.OPERATOR, actor_id="prov-1"),
    Viewer(role=Role.SUBJECT, actor_id="acct", subject_id=SUBJECT),
])
def test_nobody_else_reads_a_providers_case(viewer: Viewer) -> None:
    assert_denied(decide_case_read(viewer, SUBJECT, record_provider_id="prov-1", category="tax"),
                  Reason.NOT_RECORD_PROVIDER)


def test_the_operator_reviews_complaints_without_personal_fields() -> None:
    decision = decide_complaint_review(Viewer(role=Role.OPERATOR, actor_id="op"), SUBJECT, category="labor")
    assert decision.allowed and decision.reason is Reason.COMPLAINT_REVIEW
    assert decision.categories == {"labor"}
    assert decision.fields == frozenset()  # the operator masking hides every field
    assert_denied(decide_complaint_review(provider(), SUBJECT, category="labor"), Reason.ROLE_NOT_PERMITTED)


def test_public_disclosure_only_for_a_listed_subject() -> None:
    listed = decide_public_disclosure(SUBJECT, listed=True)
    assert listed.allowed and listed.role is Role.PUBLIC and listed.reason is Reason.PUBLIC_DISCLOSURE
    assert listed.fields == IDENTITY_FIELDS and listed.categories == frozenset()
    assert_denied(decide_public_disclosure(SUBJECT, listed=False), Reason.NOT_PUBLIC)
