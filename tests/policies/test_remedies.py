"""Remedy rules: answer periods, objections, complaints, repair and the listing procedure."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
from importlib import resources
from typing import Any

import pytest

from policies.catalog import AnswerPeriod, load_catalog
from policies.errors import PolicyDataError
from policies.records import RecordRuleError, RecordState, disclosure_window
from policies.remedies import (
    check_complaint,
    check_listing_notice,
    check_notice_decision,
    check_notice_objection,
    check_objection,
    check_repair,
    load_remedy_rules,
    objection_period,
    parse_remedy_rules,
)

SOURCE = "data/remedies.toml"
CATALOG = load_catalog()


def _refusal(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(RecordRuleError) as info:
        fn(*args, **kwargs)
    return info.value.code, info.value.status


# --- the data -------------------------------------------------------------------


def test_packaged_rules() -> None:
    rules = load_remedy_rules()
    assert (rules.objection_answer.days, rules.objection_answer.unit) == (3, "workdays")
    assert (rules.repair_decision.days, rules.repair_decision.unit) == (5, "workdays")
    assert rules.complaint_decision.unit == "workdays"
    assert rules.notice_objection.unit == "workdays"
    # Numbers no text confirmed say so in their citation.
    for period in (rules.repair_decision, rules.complaint_decision, rules.notice_objection):
        assert "unverified" in period.basis
    assert "unverified" in rules.reapply_bar_basis
    assert rules.evidence.media_types == {"application/pdf", "image/jpeg", "image/png"}
    assert rules.evidence.max_files >= 1 and rules.evidence.max_bytes > 0
    assert load_remedy_rules() is rules


def test_listing_texts() -> None:
    rules = load_remedy_rules()
    assert "2026-03-09" in rules.rights_until(date(2026, 3, 9)) and "{" not in rules.rights_until(date(2026, 3, 9))
    assert "信用修复" in rules.listing_removal and "公示期届满" in rules.listing_removal
    data = _data()
    data["listing"]["rights"] = "您可以提出异议。"
    assert _error(data).key == "listing.rights"


def test_objection_periods_per_item() -> None:
    rules = load_remedy_rules()
    assert objection_period(CATALOG["admin_penalty_general"]) == rules.objection_answer
    court = objection_period(CATALOG["court_dishonest_judgment_debtor"])
    assert (court.days, court.unit) == (15, "days")


def _data() -> dict[str, Any]:
    raw = resources.files("policies").joinpath("data", "remedies.toml").read_text(encoding="utf-8")
    return copy.deepcopy(tomllib.loads(raw))


def _error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_remedy_rules(data, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: {info.value.key}: ")
    return info.value


def test_packaged_file_parses() -> None:
    assert parse_remedy_rules(_data(), SOURCE) == load_remedy_rules()


@pytest.mark.parametrize(("path", "bad", "key"), [
    (("deadlines", "objection_answer", "days"), 0, "deadlines.objection_answer.days"),
    (("deadlines", "repair_decision", "days"), "5", "deadlines.repair_decision.days"),
    (("deadlines", "repair_decision", "unit"), "hours", "deadlines.repair_decision.unit"),
    (("deadlines", "notice_objection", "basis"), "", "deadlines.notice_objection.basis"),
    (("evidence", "max_bytes"), 0, "evidence.max_bytes"),
    (("evidence", "media_types"), ["application/PDF"], "evidence.media_types[0]"),
    (("text", "reason_chars"), True, "text.reason_chars"),
    (("repair", "reapply_bar_months"), -1, "repair.reapply_bar_months"),
])
def test_validation(path: tuple[str, ...], bad: object, key: str) -> None:
    data = _data()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = bad
    assert _error(data).key == key


def test_unknown_and_missing_tables() -> None:
    data = _data()
    data["deadlines"]["appeal"] = {"days": 1, "unit": "days", "basis": "x"}
    assert _error(data).key == "deadlines.appeal"
    data = _data()
    data["repair"]["fee"] = 100  # credit repair is free: there is no place for a fee
    assert _error(data).key == "repair.fee"
    data = _data()
    del data["deadlines"]["complaint_decision"]
    assert _error(data).key == "deadlines.complaint_decision"


# --- objections and complaints ------------------------------------------------------


@pytest.mark.parametrize("state", ["repaired", "corrected", "revoked", "expired"])
def test_settled_records_cannot_be_objected_to(state: str) -> None:
    assert _refusal(check_objection, RecordState(state), dispute_open=False) == ("record_not_objectionable", 409)


def test_one_dispute_at_a_time() -> None:
    check_objection(RecordState.ACTIVE, dispute_open=False)
    assert _refusal(check_objection, RecordState.DISPUTED, dispute_open=True) == ("objection_open", 409)


def test_complaints_follow_a_rejection_once() -> None:
    check_complaint("rejected", complaint_exists=False)
    for outcome in (None, "upheld", "unconfirmed"):
        assert _refusal(check_complaint, outcome, complaint_exists=False) == ("objection_not_rejected", 409)
    assert _refusal(check_complaint, "rejected", complaint_exists=True) == ("complaint_exists", 409)


# --- repair ---------------------------------------------------------------------------

GENERAL = CATALOG["admin_penalty_general"]
WINDOW = disclosure_window(GENERAL, date(2026, 1, 5))  # ordinary: repair from 2026-04-06


def test_repair_refusals_in_order() -> None:
    ok = {"repair_open": False, "barred_until": None}
    check_repair(GENERAL, WINDOW, RecordState.ACTIVE, date(2026, 4, 6), **ok)
    check_repair(GENERAL, WINDOW, RecordState.DISPUTED, date(2026, 4, 6), **ok)
    court = CATALOG["court_dishonest_judgment_debtor"]
    assert _refusal(check_repair, court, WINDOW, RecordState.REPAIRED, date(2026, 4, 6), repair_open=True,
                    barred_until=None) == ("not_repairable", 400)
    assert _refusal(check_repair, GENERAL, WINDOW, RecordState.REPAIRED, date(2026, 4, 6), repair_open=True,
                    barred_until=None) == ("record_not_active", 409)
    assert _refusal(check_repair, GENERAL, WINDOW, RecordState.ACTIVE, date(2026, 1, 6), repair_open=True,
                    barred_until=date(2030, 1, 1)) == ("repair_open", 409)
    assert _refusal(check_repair, GENERAL, WINDOW, RecordState.ACTIVE, date(2026, 1, 6), repair_open=False,
                    barred_until=date(2030, 1, 1)) == ("repair_barred", 409)
    assert _refusal(check_repair, GENERAL, WINDOW, RecordState.ACTIVE, date(2026, 4, 5), **ok) == (
        "minimum_period_not_reached", 409)
    check_repair(GENERAL, WINDOW, RecordState.ACTIVE, date(2030, 1, 1), repair_open=False,
                 barred_until=date(2030, 1, 1))


# --- the listing procedure ------------------------------------------------------------------


def test_listing_notice_refusals_in_order() -> None:
    tax = CATALOG["tax_major_violation"]
    assert check_listing_notice(tax, "tax", "county", minor=False) is tax
    assert _refusal(check_listing_notice, None, "tax", "county", minor=True) == ("item_unknown", 400)
    assert _refusal(check_listing_notice, GENERAL, "tax", "county", minor=True) == ("not_a_serious_list_item", 400)
    assert _refusal(check_listing_notice, CATALOG["court_dishonest_judgment_debtor"], "court", "county",
                    minor=True) == ("listing_by_court_rules", 400)
    assert _refusal(check_listing_notice, tax, "market_regulation", None, minor=True) == (
        "provider_not_allowed", 403)
    assert _refusal(check_listing_notice, tax, "tax", "township", minor=True) == ("provider_level_not_permitted", 403)
    assert _refusal(check_listing_notice, tax, "tax", None, minor=True) == ("provider_level_not_permitted", 403)
    assert _refusal(check_listing_notice, tax, "tax", "national", minor=True) == ("minor_not_listable", 409)


def test_notice_objection_window() -> None:
    closes = date(2026, 3, 9)
    check_notice_objection("notified", closes, closes)
    assert _refusal(check_notice_objection, "notified", closes, date(2026, 3, 10)) == ("notice_window_closed", 409)
    assert _refusal(check_notice_objection, "listed", closes, closes) == ("notice_not_pending", 409)


def test_notice_decision_waits_for_the_window_and_the_objection() -> None:
    closes = date(2026, 3, 9)
    assert _refusal(check_notice_decision, "notified", closes, closes, objection_open=False) == (
        "notice_window_open", 409)
    assert _refusal(check_notice_decision, "notified", closes, date(2026, 3, 10), objection_open=True) == (
        "objection_open", 409)
    check_notice_decision("notified", closes, date(2026, 3, 10), objection_open=False)
    assert _refusal(check_notice_decision, "withdrawn", closes, date(2026, 3, 10), objection_open=False) == (
        "notice_not_pending", 409)


def test_answer_periods_are_typed() -> None:
    assert isinstance(load_remedy_rules().objection_answer, AnswerPeriod)
