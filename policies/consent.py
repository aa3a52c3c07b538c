"""Consent rules: what a request may ask for, how a grant may narrow it,
and the state a stored consent is really in at a given moment.

Separate consent (单独同意) means one purpose per consent. There is no lifetime
authorization (一次授权终身): every consent has a finite end, no later than its
purpose's maximum, and a finite number of uses. When granting, the subject may
narrow the terms but never widen them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from policies.access import ConsentState
from policies.purposes import ConsentSettings, Purpose, load_consent_settings, load_purposes

__all__ = [
    "ConsentRuleError",
    "GrantedTerms",
    "RequestedTerms",
    "check_request",
    "effective_state",
    "grant_terms",
    "request_expires_at",
]

MAX_REASON_CHARS = 500


class ConsentRuleError(ValueError):
    """A consent rule refused the input. ``code`` is stable; ``status`` is the HTTP status it maps to."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class RequestedTerms:
    """What an institution asked for. Exactly one of ``valid_days`` and ``valid_until`` is set."""

    purpose: str
    categories: frozenset[str]
    valid_days: int | None
    valid_until: datetime | None
    max_queries: int


@dataclass(frozen=True, slots=True)
class GrantedTerms:
    """What the subject granted: a bounded window and a bounded number of uses."""

    purpose: str
    categories: frozenset[str]
    valid_from: datetime
    valid_until: datetime
    max_uses: int


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


def check_request(
    *,
    purpose: str,
    categories: Collection[str],
    valid_days: int | None,
    valid_until: datetime | None,
    max_queries: int,
    institution_type: str,
    permitted_purposes: Collection[str],
    now: datetime,
    purposes: Mapping[str, Purpose] | None = None,
) -> RequestedTerms:
    """Validate a consent request against the purpose's rules, or raise ConsentRuleError.

    Checks run in this order: purpose known, institution allowed to use it,
    categories, validity, query count.
    """
    _aware(now, "now")
    table = purposes if purposes is not None else load_purposes()
    spec = table.get(purpose)
    if spec is None:
        raise ConsentRuleError("purpose_unknown", "no such purpose")
    if purpose not in permitted_purposes or institution_type not in spec.institution_types:
        raise ConsentRuleError(
            "purpose_not_permitted", "this institution may not request consent for this purpose", 403
        )
    wanted = frozenset(categories)
    if not wanted:
        raise ConsentRuleError("categories_required", "name at least one record category")
    outside = wanted - spec.categories
    if outside:
        # Name only the purpose's own categories: the caller's strings could be anything.
        raise ConsentRuleError(
            "category_not_permitted",
            f"this purpose reads only the categories {', '.join(sorted(spec.categories))}",
        )
    if valid_days is None and valid_until is None:
        raise ConsentRuleError("validity_required", "a consent must end: give valid_days or valid_until")
    if valid_days is not None and valid_until is not None:
        raise ConsentRuleError("validity_ambiguous", "give valid_days or valid_until, not both")
    if valid_days is not None:
        if valid_days < 1:
            raise ConsentRuleError("validity_invalid", "valid_days must be at least 1")
        if valid_days > spec.max_validity_days:
            raise ConsentRuleError(
                "validity_exceeds_maximum", f"{purpose} allows at most {spec.max_validity_days} days"
            )
    if valid_until is not None:
        _aware(valid_until, "valid_until")
        if valid_until <= now:
            raise ConsentRuleError("validity_invalid", "valid_until must be in the future")
        if valid_until > now + timedelta(days=spec.max_validity_days):
            raise ConsentRuleError(
                "validity_exceeds_maximum", f"{purpose} allows at most {spec.max_validity_days} days"
            )
    if max_queries < 1:
        raise ConsentRuleError("queries_invalid", "max_queries must be at least 1")
    if max_queries > spec.max_queries:
        raise ConsentRuleError("queries_exceed_maximum", f"{purpose} allows at most {spec.max_queries} queries")
    return RequestedTerms(purpose, wanted, valid_days, valid_until, max_queries)


def request_expires_at(created_at: datetime, settings: ConsentSettings | None = None) -> datetime:
    """When an unanswered request lapses (7 days by default, policy data)."""
    days = (settings or load_consent_settings()).pending_request_days
    return _aware(created_at, "created_at") + timedelta(days=days)


def grant_terms(
    requested: RequestedTerms,
    *,
    now: datetime,
    categories: Collection[str] | None = None,
    valid_days: int | None = None,
    valid_until: datetime | None = None,
    max_queries: int | None = None,
    purposes: Mapping[str, Purpose] | None = None,
) -> GrantedTerms:
    """The terms of a grant made at ``now``, narrowed as the subject chose.

    Anything omitted keeps the requested value. Anything wider than the request
    (more categories, a later end, more queries) raises ``consent_widening_refused``.
    The window starts at the grant and never runs past the purpose's maximum.
    """
    _aware(now, "now")
    spec = (purposes if purposes is not None else load_purposes())[requested.purpose]
    if requested.valid_days is not None:
        requested_end = now + timedelta(days=requested.valid_days)
    else:
        assert requested.valid_until is not None  # check_request guarantees one of the two
        requested_end = requested.valid_until
    ceiling = min(requested_end, now + timedelta(days=spec.max_validity_days))
    if ceiling <= now:
        raise ConsentRuleError("request_lapsed", "the requested validity has already ended", 409)

    chosen = requested.categories if categories is None else frozenset(categories)
    if not chosen:
        raise ConsentRuleError("categories_required", "grant at least one record category")
    if not chosen <= requested.categories:
        raise ConsentRuleError("consent_widening_refused", "cannot grant categories that were not requested")

    if valid_days is not None and valid_until is not None:
        raise ConsentRuleError("validity_ambiguous", "give valid_days or valid_until, not both")
    end = ceiling
    if valid_days is not None:
        if valid_days < 1:
            raise ConsentRuleError("validity_invalid", "valid_days must be at least 1")
        end = now + timedelta(days=valid_days)
    elif valid_until is not None:
        end = _aware(valid_until, "valid_until")
        if end <= now:
            raise ConsentRuleError("validity_invalid", "valid_until must be in the future")
    if end > ceiling:
        raise ConsentRuleError("consent_widening_refused", "cannot grant a longer validity than was requested")

    uses = requested.max_queries if max_queries is None else max_queries
    if uses < 1:
        raise ConsentRuleError("queries_invalid", "max_queries must be at least 1")
    if uses > requested.max_queries:
        raise ConsentRuleError("consent_widening_refused", "cannot grant more queries than were requested")
    return GrantedTerms(requested.purpose, chosen, now, end, uses)


def effective_state(state: str, valid_until: datetime, uses: int, max_uses: int, now: datetime) -> ConsentState:
    """The state a stored consent is in at ``now``.

    Stored states are brought up to date lazily, so an ``active`` row past its end
    is ``expired`` and one with no uses left is ``exhausted``, whatever the row says.
    """
    current = ConsentState(state)
    if current is not ConsentState.ACTIVE:
        return current
    if _aware(now, "now") >= valid_until:
        return ConsentState.EXPIRED
    if uses >= max_uses:
        return ConsentState.EXHAUSTED
    return ConsentState.ACTIVE
