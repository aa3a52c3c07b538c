"""Plain words for the codes the API answers with.

The API speaks in stable codes (states, reasons, actions, problem codes); a person
reads sentences. Each code here maps to an English source text, marked for the
message catalogs and translated where it is shown. A test checks that every code
the policies and the service can produce has its words. An unknown code is shown
as itself, so nothing is ever hidden.
"""

from __future__ import annotations

from service.portal.i18n import N_

#: Kinds of institution (``policies.purposes.INSTITUTION_TYPES``).
INSTITUTION_TYPES = {
    "bank": N_("Bank"),
    "consumer_finance": N_("Consumer finance company"),
    "microloan": N_("Microloan company"),
    "guarantor": N_("Guarantee company"),
    "employer": N_("Employer"),
    "landlord": N_("Landlord"),
    "government": N_("Government department"),
}

#: What each record category holds, for the person deciding whether to share it.
CATEGORY_CONTENTS = {
    "identity": N_("Your name, ID number and registered residence, so the reader can confirm whom the "
                   "report is about."),
    "administrative_penalty": N_("Administrative penalties decided against you that are still within "
                                 "their disclosure period."),
    "administrative_license": N_("Licences and qualifications you have been granted."),
    "judicial_enforcement": N_("Listing as a dishonest judgment debtor, and effective court judgments or "
                               "arbitral awards against you."),
    "tax": N_("Tax arrears, major tax violations and tax credit ratings."),
    "social_insurance": N_("Social insurance contribution arrears and fraudulent claims."),
    "labor": N_("Labour-law violations, such as wages owed as an employer."),
    "education": N_("Cheating in state examinations and default on state student loans."),
    "honours": N_("Commendations and other positive information in your favour."),
}

#: Consent states (``policies.ConsentState``).
CONSENT_STATES = {
    "pending": N_("Waiting for your answer"),
    "rejected": N_("Rejected"),
    "active": N_("Active"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "exhausted": N_("All uses taken"),
}

#: Record states (``policies.records.RecordState``).
RECORD_STATES = {
    "active": N_("In force"),
    "disputed": N_("Disputed (objection open)"),
    "repaired": N_("Repaired"),
    "corrected": N_("Corrected"),
    "revoked": N_("Withdrawn"),
    "expired": N_("Expired"),
}

#: Natures of catalog items (``policies.catalog.NATURES``).
RECORD_NATURES = {
    "basic": N_("Basic information"),
    "dishonest": N_("Dishonesty information"),
    "serious": N_("Serious dishonesty (list)"),
    "trustworthy": N_("Trustworthiness (positive)"),
}

#: Legal-effect documents a record rests on (``policies.catalog.DOCUMENT_TYPES``).
DOCUMENT_TYPES = {
    "court_judgment": N_("Effective court judgment"),
    "arbitral_award": N_("Effective arbitral award"),
    "admin_penalty_decision": N_("Administrative penalty decision"),
    "admin_ruling": N_("Administrative ruling or decision"),
    "enforcement_ruling": N_("Court enforcement ruling"),
    "other_statutory": N_("Other document named by law"),
}

#: Leniency marks on a record (``service.records.service.LENIENCY_FLAGS``).
LENIENCY = {
    "minor": N_("Committed as a minor"),
    "force_majeure": N_("Force majeure"),
    "not_intentional": N_("Not intentional"),
    "slight": N_("Slight consequences"),
}

#: What an access-log entry says happened, by its action.
ACTIONS = {
    "query": N_("read your credit report"),
    "report.self": N_("viewed the credit report"),
    "access_log.read": N_("viewed the access log"),
    "subject.read": N_("read your personal details"),
    "consent.request": N_("asked for your consent"),
    "consent.grant": N_("granted consent"),
    "consent.reject": N_("rejected a consent request"),
    "consent.revoke": N_("revoked a consent"),
    "consent.expire": N_("a consent expired"),
    "consent.exhaust": N_("a consent's last use was taken"),
    "consent_request.expire": N_("a consent request lapsed unanswered"),
    "record.register": N_("registered a record about you"),
    "subject.register": N_("registered you with the service"),
    "admin.account.register": N_("opened your account"),
    "admin.guardianship.register": N_("registered a guardianship"),
    "admin.guardianship.end": N_("ended a guardianship"),
}

#: Who did it, by the entry's actor type.
ACTORS = {
    "institution": N_("Institution"),
    "provider": N_("Record provider"),
    "subject": N_("You"),
    "guardian": N_("Your guardian"),
    "operator": N_("Service operator"),
    "auditor": N_("Auditor"),
    "system": N_("The service"),
}

#: Why an access was allowed or refused (``policies.access.Reason`` and the use refusals).
REASONS = {
    "self": N_("your own request"),
    "guardian": N_("request of a guardian"),
    "consent": N_("under your consent"),
    "recorded": N_("recorded"),
    "not_self": N_("not the person concerned"),
    "not_guardian": N_("not a registered guardian"),
    "ward_age_unknown": N_("the ward's age could not be established"),
    "ward_of_age": N_("the ward is old enough to decide alone"),
    "institution_suspended": N_("the institution is suspended"),
    "consent_required": N_("no consent was given"),
    "consent_not_held": N_("the institution holds no such consent"),
    "purpose_mismatch": N_("the purpose differs from the consent's"),
    "purpose_not_permitted": N_("the institution may not use this purpose"),
    "consent_revoked": N_("the consent had been revoked"),
    "consent_expired": N_("the consent had expired"),
    "consent_exhausted": N_("the consent's uses were all taken"),
    "consent_not_active": N_("the consent was not active"),
    "role_not_permitted": N_("this kind of caller may not read personal data"),
    "record_provider": N_("the department that registered the record, handling your case"),
    "not_record_provider": N_("not the department that registered the record"),
    "complaint_review": N_("the service operator, reviewing your complaint"),
    "public_disclosure": N_("public disclosure of the serious dishonesty list"),
    "not_public": N_("not on a public list"),
    "birth_date_sealing": N_("your birth date stored apart from your ID number"),
}

#: Refusals the API can answer a person's action with, in words.
PROBLEMS = {
    "not_found": N_("This item does not exist, or it is not yours."),
    "request_not_pending": N_("This request has already been answered or has lapsed."),
    "consent_not_active": N_("This consent is no longer active."),
    "consent_widening_refused": N_("You can narrow what was asked, never widen it."),
    "categories_required": N_("Choose at least one category to share."),
    "validity_invalid": N_("Choose a validity that ends in the future."),
    "validity_ambiguous": N_("Give either a number of days or an end date, not both."),
    "queries_invalid": N_("Allow at least one query."),
    "request_lapsed": N_("The validity this request asked for has already ended."),
    "institution_suspended": N_("The institution is suspended; its request cannot be granted now."),
    "subject_is_minor": N_("A person under the guardianship age cannot grant consent; a guardian can."),
    "ward_of_age": N_("Your ward is old enough to decide alone."),
    "subject_required": N_("Choose which ward to act for."),
    "validation_error": N_("Some of what was entered is not valid."),
    "audit_unavailable": N_("The service could not record this action, so nothing was done. Please try again."),
    "forbidden_role": N_("These pages are not available to your account."),
    "csrf_failed": N_("The form could not be verified, so nothing was changed. Reload the page and try again."),
    "form_invalid": N_("Please check the values you entered."),
    "signin_failed": N_("Signing in did not complete. Please try again."),
    "internal_error": N_("Something went wrong on our side. Nothing was changed."),
}

#: One-line notices shown after an action or an event.
NOTICES = {
    "granted": N_("Consent granted. The signed receipt is ready to download."),
    "rejected": N_("The request was rejected."),
    "revoked": N_("Consent revoked. From now on every query under it is refused."),
    "ward": N_("You are now acting for another ward."),
    "expired": N_("Your sign-in had expired, so you were asked to sign in again. Nothing was changed."),
    "signed_out": N_("You have signed out."),
    "cancelled": N_("Sign-in was cancelled."),
}
