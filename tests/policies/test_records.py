"""Record rules: registration refusals, disclosure windows, visibility, repair, suspension, green channel."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.catalog import CatalogItem, load_catalog
from policies.records import (
    DisclosureWindow,
    RecordRuleError,
    RecordState,
    check_registration,
    disclosure_window,
    effective_record_state,
    green_channel,
    in_window,
    repair_allowed,
    suspended_end,
    visible_to_institution,
    visible_to_subject,
)

TODAY = date(2026, 11, 21)
ALL_STATES = [s.value for s in RecordState]


def _catalog_item(code: str) -> CatalogItem:
    return load_catalog()[code]


def _register(**overrides: object) -> CatalogItem:
    args: dict[str, object] = {
        "item_code": "admin_penalty_general",
        "provider_type": "market_regulation",
        "document_type": "admin_penalty_decision",
        "procedure": "general",
        "first_violation_corrected": False,
        "decision_date": date(2026, 11, 1),
        "today": TODAY,
    }
    args.update(overrides)
    return check_registration(**args)  # type: ignore[arg-type]


def _refusal(**overrides: object) -> tuple[str, int]:
    with pytest.raises(RecordRuleError) as info:
        _register(**overrides)
    return info.value.code, info.value.status


# --- registration -------------------------------------------------------------


def test_valid_registration_returns_the_item() -> None:
    assert _register() is _catalog_item("admin_penalty_general")
    assert _register(decision_date=TODAY).code == "admin_penalty_general"  # decided today is fine


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"item_code": "gossip"}, ("item_unknown", 400)),
        ({"item_code": ""}, ("item_unknown", 400)),
        ({"provider_type": "court"}, ("provider_not_allowed", 403)),
        ({"provider_type": "police"}, ("provider_not_allowed", 403)),
        ({"procedure": "summary"}, ("procedure_unknown", 400)),
        ({"document_type": "court_judgment"}, ("document_type_not_accepted", 400)),
        ({"document_type": "newspaper"}, ("document_type_not_accepted", 400)),
        ({"decision_date": TODAY + timedelta(days=1)}, ("decision_date_in_future", 400)),
        ({"procedure": "simplified"}, ("simplified_procedure_excluded", 400)),
        ({"first_violation_corrected": True}, ("minor_first_violation_exempt", 400)),
    ],
)
def test_refusals(overrides: dict[str, object], expected: tuple[str, int]) -> None:
    assert _refusal(**overrides) == expected


def test_refusal_order() -> None:
    everything_wrong = {
        "provider_type": "police",
        "procedure": "summary",
        "document_type": "newspaper",
        "decision_date": TODAY + timedelta(days=9),
        "first_violation_corrected": True,
    }
    assert _refusal(item_code="gossip", **everything_wrong)[0] == "item_unknown"
    assert _refusal(**everything_wrong)[0] == "provider_not_allowed"
    everything_wrong.pop("provider_type")
    assert _refusal(**everything_wrong)[0] == "procedure_unknown"
    everything_wrong["procedure"] = "simplified"
    assert _refusal(**everything_wrong)[0] == "document_type_not_accepted"
    everything_wrong.pop("document_type")
    assert _refusal(**everything_wrong)[0] == "decision_date_in_future"
    everything_wrong.pop("decision_date")
    assert _refusal(**everything_wrong)[0] == "simplified_procedure_excluded"
    everything_wrong["procedure"] = "general"
    assert _refusal(**everything_wrong)[0] == "minor_first_violation_exempt"


@pytest.mark.parametrize("code", [
    "admin_penalty_food", "admin_penalty_drug", "admin_penalty_special_equipment",
    "admin_penalty_work_safety", "admin_penalty_fire_safety", "labor_inspection_penalty", "social_insurance_fraud",
])
def test_every_penalty_item_excludes_simplified_and_minor_first(code: str) -> None:
    provider = sorted(_catalog_item(code).provider_types)[0]
    assert _register(item_code=code, provider_type=provider).code == code
    assert _refusal(item_code=code, provider_type=provider, procedure="simplified")[0] == (
        "simplified_procedure_excluded"
    )
    assert _refusal(item_code=code, provider_type=provider, first_violation_corrected=True)[0] == (
        "minor_first_violation_exempt"
    )


def test_simplified_procedure_only_excludes_penalty_decisions() -> None:
    # A criminal conviction for exam fraud is not an administrative penalty; a
    # court's own simplified procedure does not bar the record.
    item = _register(item_code="exam_cheating", provider_type="court", document_type="court_judgment",
                     procedure="simplified")
    assert item.code == "exam_cheating"


def test_simplified_penalty_on_a_serious_item_is_refused_too() -> None:
    assert _refusal(item_code="tax_major_violation", provider_type="tax", procedure="simplified")[0] == (
        "simplified_procedure_excluded"
    )
    assert _register(item_code="tax_major_violation", provider_type="tax", document_type="admin_ruling",
                     procedure="simplified").code == "tax_major_violation"


def test_minor_first_violation_only_where_the_item_applies_it() -> None:
    # Not an administrative-penalty item: the flag does not exempt it.
    item = _register(item_code="court_dishonest_judgment_debtor", provider_type="court",
                     document_type="enforcement_ruling", first_violation_corrected=True)
    assert not item.minor_violation_exempt
    assert _register(item_code="student_loan_default", provider_type="education", document_type="other_statutory",
                     first_violation_corrected=True).code == "student_loan_default"


def test_injected_catalog_is_used() -> None:
    only = {"x": dataclasses.replace(_catalog_item("admin_license"), code="x")}
    assert _register(item_code="x", provider_type="housing", document_type="other_statutory", catalog=only).code == "x"
    assert _refusal(catalog=only)[0] == "item_unknown"


def test_messages_never_echo_input() -> None:
    cases = [
        {"item_code": "张三110101199003071234"},
        {"provider_type": "张三"},
        {"procedure": "张三"},
        {"document_type": "张三"},
        {"decision_date": date(2031, 7, 9)},
    ]
    for overrides in cases:
        with pytest.raises(RecordRuleError) as info:
            _register(**overrides)
        message = str(info.value)
        assert "张三" not in message and "110101" not in message and "2031" not in message


# --- disclosure window ------------------------------------------------------------


def test_window_of_a_general_penalty() -> None:
    window = disclosure_window(_catalog_item("admin_penalty_general"), date(2026, 1, 5))
    assert window == DisclosureWindow(starts=date(2026, 1, 5), min_ends=date(2026, 4, 5), ends=date(2029, 1, 4))


def test_window_edges() -> None:
    window = disclosure_window(_catalog_item("admin_penalty_general"), date(2026, 1, 5))
    assert not in_window(window, date(2026, 1, 4))
    assert in_window(window, date(2026, 1, 5))
    assert in_window(window, window.ends - timedelta(days=1))
    assert not in_window(window, window.ends)
    assert not in_window(window, window.ends + timedelta(days=1))


@given(decided=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
       code=st.sampled_from(sorted(load_catalog())))
def test_window_length_is_the_max_period(decided: date, code: str) -> None:
    item = _catalog_item(code)
    window = disclosure_window(item, decided)
    assert (window.ends - window.starts).days == item.max_disclosure_days
    assert (window.min_ends - window.starts).days == item.min_disclosure_days
    shown = [d for d in (window.ends - timedelta(days=1), window.ends) if in_window(window, d)]
    assert shown == [window.ends - timedelta(days=1)]


def test_special_domain_window_min_is_a_year() -> None:
    window = disclosure_window(_catalog_item("admin_penalty_food"), date(2026, 3, 1))
    assert window.min_ends == date(2027, 3, 1)


# --- visibility and effective state ----------------------------------------------

ITEM = load_catalog()["admin_penalty_general"]
WINDOW = disclosure_window(ITEM, date(2026, 1, 5))
INSIDE = date(2027, 6, 1)
LAST_DAY = WINDOW.ends - timedelta(days=1)


@pytest.mark.parametrize("state", ALL_STATES)
def test_institutions_see_only_active_and_disputed(state: str) -> None:
    expected = state in {"active", "disputed"}
    assert visible_to_institution(state, WINDOW, INSIDE, ITEM) is expected
    assert visible_to_institution(state, WINDOW, LAST_DAY, ITEM) is expected
    assert visible_to_institution(state, WINDOW, WINDOW.ends, ITEM) is False
    assert visible_to_institution(state, WINDOW, WINDOW.ends + timedelta(days=1), ITEM) is False


def test_institutions_never_see_unshared_items() -> None:
    unshared = dataclasses.replace(ITEM, sharing="none")
    assert not visible_to_institution("active", WINDOW, INSIDE, unshared)
    conditional = dataclasses.replace(ITEM, sharing="conditional")
    assert visible_to_institution("active", WINDOW, INSIDE, conditional)


@pytest.mark.parametrize("state", ALL_STATES)
def test_subject_sees_all_but_expired(state: str) -> None:
    expected = state != "expired"
    assert visible_to_subject(state, WINDOW, INSIDE) is expected
    assert visible_to_subject(state, WINDOW, LAST_DAY) is expected
    assert visible_to_subject(state, WINDOW, WINDOW.ends) is False


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError):
        visible_to_subject("hidden", WINDOW, INSIDE)
    with pytest.raises(ValueError):
        visible_to_institution("hidden", WINDOW, INSIDE, ITEM)
    with pytest.raises(ValueError):
        effective_record_state("hidden", WINDOW, INSIDE)


@pytest.mark.parametrize("state", ["active", "disputed"])
def test_open_records_expire_on_the_end_day(state: str) -> None:
    assert effective_record_state(state, WINDOW, LAST_DAY) == state
    assert effective_record_state(state, WINDOW, WINDOW.ends) is RecordState.EXPIRED
    assert effective_record_state(state, WINDOW, WINDOW.ends + timedelta(days=400)) is RecordState.EXPIRED


@pytest.mark.parametrize("state", ["repaired", "corrected", "revoked", "expired"])
def test_settled_states_keep_their_state(state: str) -> None:
    assert effective_record_state(state, WINDOW, INSIDE) == state
    assert effective_record_state(state, WINDOW, WINDOW.ends + timedelta(days=1)) == state


# --- repair ---------------------------------------------------------------------


def test_repair_edges() -> None:
    window = disclosure_window(ITEM, date(2026, 1, 5))
    refusal = repair_allowed(ITEM, window, date(2026, 4, 4))
    assert isinstance(refusal, RecordRuleError)
    assert (refusal.code, refusal.status) == ("minimum_period_not_reached", 409)
    assert "2026" not in str(refusal)
    assert repair_allowed(ITEM, window, date(2026, 4, 5)) is None
    assert repair_allowed(ITEM, window, date(2026, 4, 6)) is None


def test_repair_special_domain_waits_a_year() -> None:
    item = _catalog_item("admin_penalty_fire_safety")
    window = disclosure_window(item, date(2026, 1, 5))
    refusal = repair_allowed(item, window, date(2027, 1, 4))
    assert refusal is not None and refusal.code == "minimum_period_not_reached"
    assert repair_allowed(item, window, date(2027, 1, 5)) is None


@pytest.mark.parametrize("code", ["court_dishonest_judgment_debtor", "exam_cheating", "admin_license",
                                  "tax_credit_a_level"])
def test_not_repairable(code: str) -> None:
    item = _catalog_item(code)
    window = disclosure_window(item, date(2020, 1, 1))
    refusal = repair_allowed(item, window, date(2026, 1, 1))
    assert refusal is not None
    assert (refusal.code, refusal.status) == ("not_repairable", 400)


# --- suspension -----------------------------------------------------------------


def test_suspension_design_example() -> None:
    assert suspended_end(date(2027, 1, 5), date(2026, 3, 2), date(2026, 3, 12)) == date(2027, 1, 15)


def test_suspension_edges() -> None:
    assert suspended_end(date(2027, 1, 5), date(2026, 3, 2), date(2026, 3, 2)) == date(2027, 1, 5)
    # Filed on or after the end: nothing was running, nothing moves.
    assert suspended_end(date(2027, 1, 5), date(2027, 1, 5), date(2027, 2, 5)) == date(2027, 1, 5)
    # Filed the day before the end: the whole suspension is added.
    assert suspended_end(date(2027, 1, 5), date(2027, 1, 4), date(2027, 2, 4)) == date(2027, 2, 5)
    with pytest.raises(ValueError):
        suspended_end(date(2027, 1, 5), date(2026, 3, 12), date(2026, 3, 2))


@given(end=st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 1, 1)),
       before=st.integers(min_value=1, max_value=3000), length=st.integers(min_value=0, max_value=3000))
def test_suspension_moves_the_end_by_exactly_the_suspended_time(end: date, before: int, length: int) -> None:
    start = end - timedelta(days=before)
    resumed = start + timedelta(days=length)
    assert suspended_end(end, start, resumed) - end == timedelta(days=length)


# --- green channel --------------------------------------------------------------


def test_green_channel_edges() -> None:
    today = date(2026, 3, 12)
    assert green_channel([], today)
    assert green_channel([date(2023, 3, 12)], today)  # exactly three years old
    assert not green_channel([date(2023, 3, 13)], today)
    assert green_channel([date(2010, 1, 1), date(2023, 3, 11)], today)
    assert not green_channel([date(2010, 1, 1), date(2026, 3, 12)], today)
    assert not green_channel([date(2026, 3, 13)], today)  # future-dated: fails closed
    assert green_channel(iter([date(2020, 5, 1)]), today)  # any iterable


def test_green_channel_leap_day() -> None:
    # 29 February three years back does not exist: the cutoff is 28 February.
    today = date(2028, 2, 29)
    assert green_channel([date(2025, 2, 28)], today)
    assert not green_channel([date(2025, 3, 1)], today)
    # A leap-day record: on 28 February 2027 the cutoff is 28 February 2024, so it
    # still counts; from 1 March 2027 (cutoff 1 March 2024) it no longer does.
    assert not green_channel([date(2024, 2, 29)], date(2027, 2, 28))
    assert green_channel([date(2024, 2, 29)], date(2027, 3, 1))
