"""Consent request rules, narrowing on grant, and effective state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.access import ConsentState
from policies.consent import (
    ConsentRuleError,
    RequestedTerms,
    check_request,
    effective_state,
    grant_terms,
    request_expires_at,
)

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
BANK = {"institution_type": "bank", "permitted_purposes": {"loan_approval", "post_loan_management"}}


def _req(**overrides: object) -> RequestedTerms:
    args: dict[str, object] = {"purpose": "loan_approval", "categories": ["identity"], "valid_days": 30,
                               "valid_until": None, "max_queries": 3, "now": NOW, **BANK}
    args.update(overrides)
    return check_request(**args)  # type: ignore[arg-type]


def _code(**overrides: object) -> tuple[str, int]:
    with pytest.raises(ConsentRuleError) as info:
        _req(**overrides)
    return info.value.code, info.value.status


def test_a_valid_request() -> None:
    terms = _req()
    assert terms == RequestedTerms("loan_approval", frozenset({"identity"}), 30, None, 3)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"purpose": "astrology"}, ("purpose_unknown", 400)),
        ({"purpose": "employment_screening"}, ("purpose_not_permitted", 403)),
        ({"institution_type": "landlord"}, ("purpose_not_permitted", 403)),
        ({"permitted_purposes": set()}, ("purpose_not_permitted", 403)),
        ({"categories": []}, ("categories_required", 400)),
        ({"categories": ["identity", "nonsense"]}, ("category_not_permitted", 400)),
        ({"valid_days": None}, ("validity_required", 400)),
        ({"valid_until": NOW + timedelta(days=3)}, ("validity_ambiguous", 400)),
        ({"valid_days": 0}, ("validity_invalid", 400)),
        ({"valid_days": 31}, ("validity_exceeds_maximum", 400)),
        ({"valid_days": None, "valid_until": NOW}, ("validity_invalid", 400)),
        ({"valid_days": None, "valid_until": NOW + timedelta(days=30, seconds=1)}, ("validity_exceeds_maximum", 400)),
        ({"max_queries": 0}, ("queries_invalid", 400)),
        ({"max_queries": 4}, ("queries_exceed_maximum", 400)),
    ],
)
def test_refusals(overrides: dict[str, object], expected: tuple[str, int]) -> None:
    assert _code(**overrides) == expected


def test_maximums_are_accepted_exactly() -> None:
    assert _req(valid_days=None, valid_until=NOW + timedelta(days=30)).valid_until == NOW + timedelta(days=30)
    assert _req(purpose="post_loan_management", valid_days=1095, max_queries=36).max_queries == 36


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        _req(now=datetime(2026, 1, 1))


def test_grant_defaults_to_the_request_and_starts_now() -> None:
    later = NOW + timedelta(days=2)
    granted = grant_terms(_req(categories=["identity", "judicial_enforcement"]), now=later)
    assert granted.valid_from == later and granted.valid_until == later + timedelta(days=30)
    assert granted.max_uses == 3 and granted.categories == {"identity", "judicial_enforcement"}


def test_grant_may_narrow() -> None:
    granted = grant_terms(_req(categories=["identity", "judicial_enforcement"]), now=NOW,
                          categories=["identity"], valid_days=5, max_queries=1)
    assert (granted.categories, granted.valid_until, granted.max_uses) == (
        frozenset({"identity"}), NOW + timedelta(days=5), 1)
    by_time = grant_terms(_req(), now=NOW, valid_until=NOW + timedelta(hours=6))
    assert by_time.valid_until == NOW + timedelta(hours=6)


@pytest.mark.parametrize(
    "narrowing",
    [
        {"categories": ["identity", "judicial_enforcement"]},
        {"valid_days": 31},
        {"valid_until": NOW + timedelta(days=30, seconds=1)},
        {"max_queries": 4},
    ],
)
def test_grant_never_widens(narrowing: dict[str, object]) -> None:
    with pytest.raises(ConsentRuleError) as info:
        grant_terms(_req(), now=NOW, **narrowing)  # type: ignore[arg-type]
    assert info.value.code == "consent_widening_refused"


def test_grant_with_end_time_request_keeps_that_end() -> None:
    requested = _req(valid_days=None, valid_until=NOW + timedelta(days=10))
    assert grant_terms(requested, now=NOW + timedelta(days=1)).valid_until == NOW + timedelta(days=10)
    with pytest.raises(ConsentRuleError) as info:
        grant_terms(requested, now=NOW + timedelta(days=10))
    assert info.value.code == "request_lapsed"


def test_grant_bad_narrowing_values() -> None:
    for kwargs, code in (({"categories": []}, "categories_required"), ({"valid_days": 0}, "validity_invalid"),
                         ({"max_queries": 0}, "queries_invalid"), ({"valid_until": NOW}, "validity_invalid"),
                         ({"valid_days": 2, "valid_until": NOW + timedelta(days=1)}, "validity_ambiguous")):
        with pytest.raises(ConsentRuleError) as info:
            grant_terms(_req(), now=NOW, **kwargs)  # type: ignore[arg-type]
        assert info.value.code == code


def test_effective_state() -> None:
    end = NOW + timedelta(days=1)
    assert effective_state("active", end, 0, 3, NOW) is ConsentState.ACTIVE
    assert effective_state("active", end, 0, 3, end - timedelta(microseconds=1)) is ConsentState.ACTIVE
    assert effective_state("active", end, 0, 3, end) is ConsentState.EXPIRED
    assert effective_state("active", end, 3, 3, NOW) is ConsentState.EXHAUSTED
    assert effective_state("revoked", end, 0, 3, NOW) is ConsentState.REVOKED


def test_pending_requests_lapse_after_seven_days() -> None:
    assert request_expires_at(NOW) == NOW + timedelta(days=7)
