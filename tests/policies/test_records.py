"""Record rules: registration refusals, disclosure windows, visibility, repair, suspension, green channel."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.catalog import CatalogItem, load_catalog
from policies.periods import add_months
from policies.records import (
    DisclosureWindow,
    RecordRuleError,
    RecordState,
    RecordTerms,
    check_registration,
    classify_record,
    disclosure_window,
    effective_record_state,
    green_channel,
    in_window,
    period_of,
    publicly_listed,
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


# --- class, seal and publication ------------------------------------------------


def _classify(code: str = "admin_penalty_general", **changes: object) -> RecordTerms:
    args: dict[str, object] = {"severity": None, "published": None, "minor": False,
                               "document_type": "admin_penalty_decision", "provider_level": "county"}
    args.update(changes)
    return classify_record(_catalog_item(code), **args)  # type: ignore[arg-type]


def _classify_refusal(code: str = "admin_penalty_general", **changes: object) -> tuple[str, int]:
    with pytest.raises(RecordRuleError) as info:
        _classify(code, **changes)
    return info.value.code, info.value.status


def test_class_defaults_and_choices() -> None:
    assert _classify() == RecordTerms(severity="ordinary", sealed=False, published=False)
    assert _classify(severity="light").severity == "light"
    assert _classify(severity="severe", published=True) == RecordTerms("severe", False, True)
    assert _classify_refusal(severity="dire") == ("severity_not_allowed", 400)
    assert _classify_refusal("student_loan_default", severity="severe", document_type="court_judgment") == (
        "severity_not_allowed", 400)
    assert _classify("admin_license", document_type="other_statutory").severity is None
    assert _classify_refusal("admin_license", severity="light", document_type="other_statutory") == (
        "severity_not_applicable", 400)


def test_publication_follows_the_item() -> None:
    # 《行政处罚法》第四十八条: the deciding department publishes a penalty or not.
    assert _classify(published=True).published
    assert not _classify(published=False).published
    # A public item is always published; an authorized one never.
    court = _classify("court_dishonest_judgment_debtor", document_type="enforcement_ruling")
    assert court == RecordTerms("severe", False, True)
    assert _classify_refusal("student_loan_default", published=True, document_type="court_judgment") == (
        "publication_not_allowed", 400)
    assert not _classify("student_loan_default", published=False, document_type="court_judgment").published


@pytest.mark.parametrize("code", ["admin_penalty_general", "admin_penalty_food", "labor_inspection_penalty",
                                  "social_insurance_fraud"])
def test_a_minors_penalty_is_sealed(code: str) -> None:
    asked = True if _catalog_item(code).disclosure == "by_decision" else None
    terms = _classify(code, minor=True, published=asked)
    assert terms.sealed and not terms.published


def test_sealing_follows_the_document_whatever_the_item() -> None:
    # social_insurance_arrears records minors, but a penalty decision of a minor is sealed anyway.
    assert not _classify("social_insurance_arrears", minor=True, document_type="admin_ruling").sealed
    assert _classify("social_insurance_arrears", minor=True, document_type="admin_penalty_decision").sealed
    assert _classify("exam_cheating", minor=True, document_type="court_judgment").sealed
    assert not _classify("admin_license", minor=True, document_type="other_statutory").sealed


@pytest.mark.parametrize(("code", "document"), [("court_dishonest_judgment_debtor", "enforcement_ruling"),
                                                ("tax_major_violation", "admin_ruling")])
def test_no_minor_on_a_serious_list(code: str, document: str) -> None:
    assert _classify_refusal(code, minor=True, document_type=document, via_notice=True) == (
        "minor_not_listable", 409)


def test_serious_lists_need_their_procedure_and_level() -> None:
    assert _classify_refusal("tax_major_violation", document_type="admin_ruling") == ("listing_requires_notice", 409)
    assert _classify("tax_major_violation", document_type="admin_ruling", via_notice=True).published
    for level in ("township", None, "galactic"):
        assert _classify_refusal("court_dishonest_judgment_debtor", document_type="enforcement_ruling",
                                 provider_level=level) == ("provider_level_not_permitted", 403)
    assert _classify("court_dishonest_judgment_debtor", document_type="enforcement_ruling",
                     provider_level="national").severity == "severe"


# --- disclosure window ------------------------------------------------------------

GENERAL = _catalog_item("admin_penalty_general")


def test_windows_are_calendar_months() -> None:
    # Decided 2025-05-31: 3 months end on 2025-08-31 (not 2025-08-29, as 90 days would).
    light = disclosure_window(GENERAL, date(2025, 5, 31), "light")
    assert light == DisclosureWindow(starts=date(2025, 5, 31), repair_from=date(2025, 5, 31),
                                     last_day=date(2025, 8, 31))
    ordinary = disclosure_window(GENERAL, date(2025, 5, 31), "ordinary")
    assert ordinary == DisclosureWindow(starts=date(2025, 5, 31), repair_from=date(2025, 9, 1),
                                        last_day=date(2026, 5, 31))
    severe = disclosure_window(GENERAL, date(2025, 5, 31), "severe")
    assert severe.repair_from == date(2026, 6, 1) and severe.last_day == date(2028, 5, 31)


@pytest.mark.parametrize(("decided", "severity", "last_day"), [
    (date(2025, 11, 30), "light", date(2026, 2, 28)),   # no 30 February: the month's last day
    (date(2027, 11, 30), "light", date(2028, 2, 29)),   # a leap year keeps the 29th
    (date(2025, 12, 31), "light", date(2026, 3, 31)),
    (date(2024, 2, 29), "ordinary", date(2025, 2, 28)),  # a year from a leap day
    (date(2024, 2, 29), "severe", date(2027, 2, 28)),
    (date(2028, 2, 29), "severe", date(2031, 2, 28)),
    (date(2025, 8, 31), "ordinary", date(2026, 8, 31)),
    (date(2025, 1, 31), "light", date(2025, 4, 30)),
])
def test_month_ends_and_leap_days(decided: date, severity: str, last_day: date) -> None:
    assert disclosure_window(GENERAL, decided, severity).last_day == last_day


def test_the_default_class_applies_without_one() -> None:
    assert disclosure_window(GENERAL, date(2026, 1, 5)) == disclosure_window(GENERAL, date(2026, 1, 5), "ordinary")
    assert disclosure_window(GENERAL, date(2026, 1, 5), "dire") == disclosure_window(GENERAL, date(2026, 1, 5))


def test_window_edges() -> None:
    window = disclosure_window(GENERAL, date(2026, 1, 5))
    assert window.last_day == date(2027, 1, 5)
    assert not in_window(window, date(2026, 1, 4))
    assert in_window(window, date(2026, 1, 5))
    assert in_window(window, window.last_day)
    assert not in_window(window, window.last_day + timedelta(days=1))


def test_suspended_days_move_the_end() -> None:
    window = disclosure_window(GENERAL, date(2026, 1, 5), "ordinary", suspended_days=10)
    assert window.last_day == date(2027, 1, 15)
    assert window.repair_from == date(2026, 4, 6)


@given(decided=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
       code=st.sampled_from(sorted(load_catalog())))
def test_window_length_is_the_max_period(decided: date, code: str) -> None:
    item = _catalog_item(code)
    window = disclosure_window(item, decided)
    period = period_of(item, item.default_severity)
    assert window.last_day == add_months(decided, period.max_months)
    if period.min_months:
        assert window.repair_from == add_months(decided, period.min_months) + timedelta(days=1)
    else:
        assert window.repair_from == decided
    shown = [d for d in (window.last_day, window.last_day + timedelta(days=1)) if in_window(window, d)]
    assert shown == [window.last_day]


def test_sector_period_of_wage_arrears() -> None:
    window = disclosure_window(_catalog_item("wage_arrears_dishonesty_list"), date(2026, 3, 1))
    assert window.repair_from == date(2026, 9, 2)
    assert window.last_day == date(2029, 3, 1)


# --- visibility and effective state ----------------------------------------------

ITEM = GENERAL
WINDOW = disclosure_window(ITEM, date(2026, 1, 5))
INSIDE = date(2026, 6, 1)
LAST_DAY = WINDOW.last_day
AFTER = LAST_DAY + timedelta(days=1)


@pytest.mark.parametrize("state", ALL_STATES)
def test_institutions_see_only_active_and_disputed(state: str) -> None:
    expected = state in {"active", "disputed"}
    assert visible_to_institution(state, WINDOW, INSIDE, ITEM) is expected
    assert visible_to_institution(state, WINDOW, LAST_DAY, ITEM) is expected
    # A disputed record's measures are suspended: it does not run out while the dispute is open.
    assert visible_to_institution(state, WINDOW, AFTER, ITEM) is (state == "disputed")
    assert visible_to_institution(state, WINDOW, date(2026, 1, 4), ITEM) is False


def test_institutions_never_see_unshared_or_sealed_items() -> None:
    unshared = dataclasses.replace(ITEM, sharing="none")
    assert not visible_to_institution("active", WINDOW, INSIDE, unshared)
    conditional = dataclasses.replace(ITEM, sharing="conditional")
    assert visible_to_institution("active", WINDOW, INSIDE, conditional)
    assert not visible_to_institution("active", WINDOW, INSIDE, ITEM, sealed=True)
    assert not visible_to_institution("disputed", WINDOW, INSIDE, ITEM, sealed=True)


@pytest.mark.parametrize("state", ALL_STATES)
def test_subject_sees_all_but_expired(state: str) -> None:
    expected = state != "expired"
    assert visible_to_subject(state, WINDOW, INSIDE) is expected
    assert visible_to_subject(state, WINDOW, LAST_DAY) is expected
    assert visible_to_subject(state, WINDOW, AFTER) is (state == "disputed")


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError):
        visible_to_subject("hidden", WINDOW, INSIDE)
    with pytest.raises(ValueError):
        visible_to_institution("hidden", WINDOW, INSIDE, ITEM)
    with pytest.raises(ValueError):
        effective_record_state("hidden", WINDOW, INSIDE)


def test_active_records_expire_the_day_after_the_last_day() -> None:
    assert effective_record_state("active", WINDOW, LAST_DAY) == "active"
    assert effective_record_state("active", WINDOW, AFTER) is RecordState.EXPIRED
    assert effective_record_state("active", WINDOW, AFTER + timedelta(days=400)) is RecordState.EXPIRED


def test_disputed_records_do_not_expire_while_suspended() -> None:
    assert effective_record_state("disputed", WINDOW, LAST_DAY) == "disputed"
    assert effective_record_state("disputed", WINDOW, AFTER + timedelta(days=5)) == "disputed"


@pytest.mark.parametrize("state", ["repaired", "corrected", "revoked", "expired"])
def test_settled_states_keep_their_state(state: str) -> None:
    assert effective_record_state(state, WINDOW, INSIDE) == state
    assert effective_record_state(state, WINDOW, AFTER) == state


# --- the public serious list ----------------------------------------------------

COURT = _catalog_item("court_dishonest_judgment_debtor")
COURT_WINDOW = disclosure_window(COURT, date(2026, 1, 5))


def test_public_listing_rules() -> None:
    def listed(item: CatalogItem = COURT, state: str = "active", today: date = INSIDE, **kw: object) -> bool:
        args: dict[str, object] = {"sealed": False, "published": True, "leniency": ()}
        args.update(kw)
        return publicly_listed(item, state, disclosure_window(item, date(2026, 1, 5)), today, **args)  # type: ignore[arg-type]

    assert listed()
    assert listed(state="disputed")
    for state in ("repaired", "corrected", "revoked", "expired"):
        assert not listed(state=state), state
    assert not listed(today=COURT_WINDOW.last_day + timedelta(days=1))
    assert not listed(sealed=True)
    assert not listed(published=False)
    assert not listed(leniency=("minor",))
    assert not listed(item=GENERAL)  # not a serious item
    assert not listed(item=dataclasses.replace(COURT, disclosure="authorized"))


# --- repair ---------------------------------------------------------------------


def test_repair_edges() -> None:
    window = disclosure_window(ITEM, date(2026, 1, 5))  # ordinary: minimum 3 months, to 2026-04-05
    refusal = repair_allowed(ITEM, window, date(2026, 4, 5))
    assert isinstance(refusal, RecordRuleError)
    assert (refusal.code, refusal.status) == ("minimum_period_not_reached", 409)
    assert "2026" not in str(refusal)
    assert repair_allowed(ITEM, window, date(2026, 4, 6)) is None
    assert repair_allowed(ITEM, window, date(2026, 4, 7)) is None


def test_light_information_is_repairable_at_once() -> None:
    window = disclosure_window(ITEM, date(2026, 1, 5), "light")
    assert repair_allowed(ITEM, window, date(2026, 1, 5)) is None


def test_repair_of_severe_information_waits_a_year() -> None:
    item = _catalog_item("admin_penalty_fire_safety")
    window = disclosure_window(item, date(2026, 1, 5), "severe")
    refusal = repair_allowed(item, window, date(2027, 1, 5))
    assert refusal is not None and refusal.code == "minimum_period_not_reached"
    assert repair_allowed(item, window, date(2027, 1, 6)) is None


@pytest.mark.parametrize("code", ["court_dishonest_judgment_debtor", "admin_license", "tax_credit_a_level"])
def test_not_repairable(code: str) -> None:
    item = _catalog_item(code)
    window = disclosure_window(item, date(2020, 1, 1))
    refusal = repair_allowed(item, window, date(2026, 1, 1))
    assert refusal is not None
    assert (refusal.code, refusal.status) == ("not_repairable", 400)


def test_exam_cheating_became_repairable() -> None:
    # Order 36 art. 2: only a law, regulation or central policy can bar repair.
    item = _catalog_item("exam_cheating")
    assert repair_allowed(item, disclosure_window(item, date(2026, 1, 5)), date(2026, 4, 6)) is None


# --- suspension -----------------------------------------------------------------


def test_suspension_design_example() -> None:
    # Measures run 2026-01-05 to 2027-01-05; an objection of 2026-03-02 is rejected on 2026-03-12.
    assert suspended_end(date(2027, 1, 5), date(2026, 3, 2), date(2026, 3, 12)) == date(2027, 1, 15)


def test_suspension_edges() -> None:
    assert suspended_end(date(2027, 1, 5), date(2026, 3, 2), date(2026, 3, 2)) == date(2027, 1, 5)
    # Filed after the last day: nothing was running, nothing moves.
    assert suspended_end(date(2027, 1, 5), date(2027, 1, 6), date(2027, 2, 5)) == date(2027, 1, 5)
    # Filed on the last day: the measures were still running, the whole suspension is added.
    assert suspended_end(date(2027, 1, 5), date(2027, 1, 5), date(2027, 2, 5)) == date(2027, 2, 5)
    with pytest.raises(ValueError):
        suspended_end(date(2027, 1, 5), date(2026, 3, 12), date(2026, 3, 2))


@given(end=st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 1, 1)),
       before=st.integers(min_value=0, max_value=3000), length=st.integers(min_value=0, max_value=3000))
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
