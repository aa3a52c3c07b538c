"""Chinese working days, the uncovered-year fallback and provisional deadlines."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.catalog import AnswerPeriod
from policies.errors import PolicyDataError
from policies.workdays import (
    Deadline,
    HolidayYear,
    add_workdays,
    deadline_after,
    is_workday,
    load_holidays,
    package_covers,
    parse_holidays,
    workday_deadline,
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


def test_deadlines_count_from_the_day_after_filing() -> None:
    # Filed on a Monday: the first working day counted is Tuesday.
    monday = date(2026, 3, 9)
    assert workday_deadline(monday, 3) == Deadline(date(2026, 3, 12), provisional=False)
    assert workday_deadline(monday, 1).due == date(2026, 3, 10)


def test_calendar_day_periods() -> None:
    fifteen_days = AnswerPeriod(days=15, unit="days", basis="x")
    assert deadline_after(date(2026, 12, 30), fifteen_days) == Deadline(date(2027, 1, 14), provisional=False)
    three_workdays = AnswerPeriod(days=3, unit="workdays", basis="x")
    assert deadline_after(date(2026, 3, 13), three_workdays) == Deadline(date(2026, 3, 18))


# --- uncovered years --------------------------------------------------------------


def test_2027_is_not_covered_by_the_package_yet() -> None:
    assert package_covers(2026)
    assert not package_covers(2027)


def test_an_objection_across_new_year_is_provisional() -> None:
    # Filed Wednesday 2026-12-30: Thursday 12-31 counts; 2027-01-01 is a statutory holiday;
    # Monday 01-04 and Tuesday 01-05 complete three working days. 2027's schedule is a guess.
    due = workday_deadline(date(2026, 12, 30), 3)
    assert due == Deadline(date(2027, 1, 5), provisional=True, guessed_years=frozenset({2027}))
    # Entirely inside 2026: not provisional.
    assert workday_deadline(date(2026, 12, 28), 3) == Deadline(date(2026, 12, 31))


def test_statutory_days_of_2027_are_holidays() -> None:
    for day in (date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8), date(2027, 4, 5), date(2027, 5, 1),
                date(2027, 6, 9), date(2027, 9, 15), date(2027, 10, 1), date(2027, 10, 3)):
        assert not is_workday(day), day
    assert is_workday(date(2027, 2, 9))  # the Tuesday after Spring Festival: no bridging known
    assert not is_workday(date(2027, 1, 2))  # an ordinary Saturday


def test_year_2099_does_not_crash() -> None:
    assert is_workday(date(2099, 1, 1))  # a Thursday; weekends-only fallback
    assert not is_workday(date(2099, 1, 3))  # Saturday
    assert add_workdays(date(2099, 12, 31), 1) == date(2100, 1, 1)
    assert add_workdays(date(2099, 1, 2), 3) == date(2099, 1, 7)


def test_years_before_the_package_do_not_crash() -> None:
    assert is_workday(date(1990, 1, 2))
    assert not is_workday(date(1990, 1, 6))


def test_deadline_across_the_coverage_boundary() -> None:
    # 2026-12-31 is covered, 2027 is not: the walk crosses the boundary without error.
    due = workday_deadline(date(2026, 12, 31), 5)
    assert due == Deadline(date(2027, 1, 8), provisional=True, guessed_years=frozenset({2027}))
    assert workday_deadline(date(2099, 3, 2), 2).provisional  # a year listed nowhere: weekends only, a guess


def test_packaged_fallback_table_holds_the_statutory_days_of_2027() -> None:
    table = load_holidays()
    assert set(table) == {2027}
    assert table[2027].provisional
    assert table[2027].workdays == frozenset()
    assert len(table[2027].holidays) == 13  # 1 + 4 + 1 + 2 + 1 + 1 + 3 days (国务院令第795号)


FALLBACK = {
    2099: HolidayYear(
        year=2099,
        holidays=frozenset({date(2099, 1, 1), date(2099, 1, 2)}),
        workdays=frozenset({date(2099, 1, 4)}),  # a Sunday
    )
}


def test_an_official_fallback_year_is_not_provisional() -> None:
    # Counting Wednesday 2098-12-31 (a year listed nowhere) makes the deadline a guess.
    assert workday_deadline(date(2098, 12, 30), 2, fallback=FALLBACK) == Deadline(
        date(2099, 1, 4), provisional=True, guessed_years=frozenset({2098}))
    assert workday_deadline(date(2099, 1, 1), 2, fallback=FALLBACK) == Deadline(date(2099, 1, 5))


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


def test_packaged_file_parses(data: dict[str, Any]) -> None:
    assert parse_holidays(data, SOURCE) == load_holidays()
    text = resources.files("policies").joinpath("data", "holidays.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "version = 2"


def test_a_valid_year_parses(data: dict[str, Any]) -> None:
    data["years"] = {"2099": {"source": "official", "holidays": [date(2099, 1, 1), date(2099, 1, 2)],
                              "workdays": [date(2099, 1, 4)]}}
    assert parse_holidays(data, SOURCE) == FALLBACK
    data["years"]["2099"]["source"] = "statutory"
    data["years"]["2099"]["workdays"] = []
    assert parse_holidays(data, SOURCE)[2099].provisional


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"source": "official", "holidays": [date(2098, 12, 31)], "workdays": []}, "years.2099.holidays[0]"),
        ({"source": "official", "holidays": [date(2099, 1, 1), date(2099, 1, 1)], "workdays": []},
         "years.2099.holidays[1]"),
        ({"source": "official", "holidays": ["2099-01-01"], "workdays": []}, "years.2099.holidays[0]"),
        ({"source": "official", "holidays": [datetime(2099, 1, 1, 0, 0)], "workdays": []}, "years.2099.holidays[0]"),
        ({"source": "official", "holidays": "2099-01-01", "workdays": []}, "years.2099.holidays"),
        ({"source": "official", "workdays": []}, "years.2099.holidays"),
        ({"source": "official", "holidays": []}, "years.2099.workdays"),
        ({"source": "official", "holidays": [date(2099, 1, 3)], "workdays": [date(2099, 1, 3)]}, "years.2099.workdays"),
        ({"source": "official", "holidays": [], "workdays": [date(2099, 1, 5)]}, "years.2099.workdays"),  # a Monday
        ({"source": "official", "holidays": [], "workdays": [], "extra": []}, "years.2099.extra"),
        ({"holidays": [], "workdays": []}, "years.2099.source"),
        ({"source": "rumour", "holidays": [], "workdays": []}, "years.2099.source"),
        ({"source": "statutory", "holidays": [], "workdays": [date(2099, 1, 4)]}, "years.2099.workdays"),
    ],
)
def test_year_validation(data: dict[str, Any], entry: dict[str, Any], key: str) -> None:
    data["years"]["2099"] = entry
    assert _holidays_error(data).key == key


@pytest.mark.parametrize("year", ["99", "20x9", "２０９９"])
def test_year_keys_are_four_digits(data: dict[str, Any], year: str) -> None:
    data["years"][year] = {"source": "official", "holidays": [], "workdays": []}
    assert _holidays_error(data).key == f"years.{year}"


def test_holidays_file_shape(data: dict[str, Any]) -> None:
    data["calendar"] = {}
    assert _holidays_error(data).key == "calendar"
    del data["calendar"]
    del data["years"]
    assert _holidays_error(data).key == "years"
    del data["version"]
    assert _holidays_error(data).key == "version"
