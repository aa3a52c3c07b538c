"""Chinese working days, the uncovered-year fallback, and the deadline settings."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.errors import PolicyDataError
from policies.workdays import (
    Deadlines,
    HolidayYear,
    add_workdays,
    is_workday,
    load_deadlines,
    load_holidays,
    parse_deadlines,
    parse_holidays,
)

SOURCE = "data/holidays.toml"


def _raw() -> dict[str, Any]:
    text = resources.files("policies").joinpath("data", "holidays.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@pytest.fixture
def data() -> dict[str, Any]:
    return copy.deepcopy(_raw())


# --- the official 2026 schedule (from chinese_calendar) ----------------------------


def test_spring_festival_2026() -> None:
    for day in range(15, 24):  # 15-23 February
        assert not is_workday(date(2026, 2, day)), day
    assert is_workday(date(2026, 2, 13))  # Friday before
    assert is_workday(date(2026, 2, 24))  # Tuesday after


def test_national_day_2026() -> None:
    for day in range(1, 8):  # 1-7 October
        assert not is_workday(date(2026, 10, day)), day
    assert is_workday(date(2026, 10, 8))
    for day in (25, 26, 27):  # Mid-Autumn Festival 2026 sits just before
        assert not is_workday(date(2026, 9, day)), day


def test_adjusted_weekend_working_days_2026() -> None:
    for day in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 10, 10)):
        assert day.weekday() == 5  # Saturday
        assert is_workday(day), day
    assert date(2026, 9, 20).weekday() == 6 and is_workday(date(2026, 9, 20))  # a working Sunday
    assert not is_workday(date(2026, 2, 7))  # an ordinary Saturday


def test_datetime_is_treated_as_its_date() -> None:
    assert not is_workday(datetime(2026, 10, 1, 9, 30))
    assert add_workdays(datetime(2026, 9, 30, 18, 0), 1) == date(2026, 10, 8)


# --- deadlines ------------------------------------------------------------------


def test_weekend_skip() -> None:
    friday = date(2026, 3, 13)
    assert friday.weekday() == 4
    assert add_workdays(friday, 1) == date(2026, 3, 16)
    assert add_workdays(friday, 3) == date(2026, 3, 18)
    assert add_workdays(date(2026, 3, 14), 1) == date(2026, 3, 16)  # from a Saturday


def test_deadline_across_national_day() -> None:
    # 1-7 October off, 8 and 9 October working, Saturday 10 October an adjusted working day.
    assert add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert add_workdays(date(2026, 9, 30), 5) == date(2026, 10, 13)


def test_deadline_across_spring_festival() -> None:
    assert add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)  # the working Saturday
    assert add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_zero_and_negative() -> None:
    assert add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)
    with pytest.raises(ValueError):
        add_workdays(date(2026, 10, 3), -1)


def test_deadline_settings() -> None:
    assert load_deadlines() == Deadlines(objection_answer_workdays=3, repair_decision_workdays=5)
    assert load_deadlines() is load_deadlines()


# --- uncovered years --------------------------------------------------------------


def test_year_2099_does_not_crash() -> None:
    assert is_workday(date(2099, 1, 1))  # a Thursday; weekends-only fallback
    assert not is_workday(date(2099, 1, 3))  # Saturday
    assert add_workdays(date(2099, 12, 31), 1) == date(2100, 1, 1)
    assert add_workdays(date(2099, 1, 2), 3) == date(2099, 1, 7)


def test_years_before_the_package_do_not_crash() -> None:
    assert is_workday(date(1990, 1, 2))
    assert not is_workday(date(1990, 1, 6))


def test_deadline_across_the_coverage_boundary() -> None:
    # 2026-12-31 is covered, 2027 may not be: the walk crosses the boundary without error.
    due = add_workdays(date(2026, 12, 31), 5)
    assert date(2027, 1, 7) <= due <= date(2027, 1, 31)


def test_packaged_fallback_table_is_empty_until_a_year_is_known() -> None:
    assert dict(load_holidays()) == {}


FALLBACK = {
    2099: HolidayYear(
        year=2099,
        holidays=frozenset({date(2099, 1, 1), date(2099, 1, 2)}),
        workdays=frozenset({date(2099, 1, 4)}),  # a Sunday
    )
}


def test_fallback_table_applies_to_uncovered_years() -> None:
    assert not is_workday(date(2099, 1, 1), fallback=FALLBACK)
    assert not is_workday(date(2099, 1, 2), fallback=FALLBACK)
    assert is_workday(date(2099, 1, 4), fallback=FALLBACK)
    assert not is_workday(date(2099, 1, 3), fallback=FALLBACK)
    # From Wednesday 31 December 2098: 1-3 January off, Sunday 4 January worked.
    assert add_workdays(date(2098, 12, 31), 1, fallback=FALLBACK) == date(2099, 1, 4)
    assert add_workdays(date(2098, 12, 31), 2, fallback=FALLBACK) == date(2099, 1, 5)


def test_fallback_never_overrides_the_package() -> None:
    wrong = {2026: HolidayYear(2026, frozenset({date(2026, 3, 13)}), frozenset({date(2026, 10, 3)}))}
    assert is_workday(date(2026, 3, 13), fallback=wrong)
    assert not is_workday(date(2026, 10, 3), fallback=wrong)


@given(start=st.dates(min_value=date(1995, 1, 1), max_value=date(2110, 1, 1)), n=st.integers(0, 30))
def test_add_workdays_lands_on_the_nth_working_day(start: date, n: int) -> None:
    due = add_workdays(start, n)
    assert due >= start
    between = [start + timedelta(days=k) for k in range(1, (due - start).days + 1)]
    assert sum(is_workday(d) for d in between) == n
    if n:
        assert is_workday(due)


@given(day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_is_workday_never_raises(day: date) -> None:
    assert isinstance(is_workday(day), bool)


# --- validation ------------------------------------------------------------------


def _holidays_error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_holidays(data, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: {info.value.key}: ")
    return info.value


def _deadlines_error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_deadlines(data, SOURCE)
    return info.value


def test_packaged_file_parses(data: dict[str, Any]) -> None:
    assert parse_holidays(data, SOURCE) == load_holidays()
    assert parse_deadlines(data, SOURCE) == load_deadlines()
    text = resources.files("policies").joinpath("data", "holidays.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "version = 1"


def test_a_valid_year_parses(data: dict[str, Any]) -> None:
    data["years"]["2099"] = {"holidays": [date(2099, 1, 1), date(2099, 1, 2)], "workdays": [date(2099, 1, 4)]}
    assert parse_holidays(data, SOURCE) == FALLBACK


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"holidays": [date(2098, 12, 31)], "workdays": []}, "years.2099.holidays[0]"),
        ({"holidays": [date(2099, 1, 1), date(2099, 1, 1)], "workdays": []}, "years.2099.holidays[1]"),
        ({"holidays": ["2099-01-01"], "workdays": []}, "years.2099.holidays[0]"),
        ({"holidays": [datetime(2099, 1, 1, 0, 0)], "workdays": []}, "years.2099.holidays[0]"),
        ({"holidays": "2099-01-01", "workdays": []}, "years.2099.holidays"),
        ({"workdays": []}, "years.2099.holidays"),
        ({"holidays": []}, "years.2099.workdays"),
        ({"holidays": [date(2099, 1, 3)], "workdays": [date(2099, 1, 3)]}, "years.2099.workdays"),
        ({"holidays": [], "workdays": [date(2099, 1, 5)]}, "years.2099.workdays"),  # a Monday
        ({"holidays": [], "workdays": [], "extra": []}, "years.2099.extra"),
    ],
)
def test_year_validation(data: dict[str, Any], entry: dict[str, Any], key: str) -> None:
    data["years"]["2099"] = entry
    assert _holidays_error(data).key == key


@pytest.mark.parametrize("year", ["99", "20x9", "２０９９"])
def test_year_keys_are_four_digits(data: dict[str, Any], year: str) -> None:
    data["years"][year] = {"holidays": [], "workdays": []}
    assert _holidays_error(data).key == f"years.{year}"


def test_holidays_file_shape(data: dict[str, Any]) -> None:
    data["calendar"] = {}
    assert _holidays_error(data).key == "calendar"
    del data["calendar"]
    del data["years"]
    assert _holidays_error(data).key == "years"
    del data["version"]
    assert _holidays_error(data).key == "version"


@pytest.mark.parametrize("key", ["objection_answer_workdays", "repair_decision_workdays"])
@pytest.mark.parametrize("bad", [0, -1, True, "3", None])
def test_deadline_validation(data: dict[str, Any], key: str, bad: object) -> None:
    if bad is None:
        del data["deadlines"][key]
    else:
        data["deadlines"][key] = bad
    err = _deadlines_error(data)
    assert err.key == f"deadlines.{key}"
    assert str(err).startswith(f"{SOURCE}: deadlines.{key}: ")


def test_deadlines_table(data: dict[str, Any]) -> None:
    data["deadlines"]["complaint_workdays"] = 10
    assert _deadlines_error(data).key == "deadlines.complaint_workdays"
    del data["deadlines"]
    assert _deadlines_error(data).key == "deadlines"
