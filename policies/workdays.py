"""Chinese working days and the deadlines counted in them (DESIGN §7).

A working day is a day people work in mainland China: Monday to Friday, except
public holidays, plus the adjusted working days (调休上班) that make up for
bridged holidays, which usually fall on a Saturday or Sunday.

The official schedule comes from the ``chinese_calendar`` package for every
year it covers. For a year it does not cover (it raises NotImplementedError,
which never escapes from here), the rule is weekends off, plus whatever
``data/holidays.toml`` lists for that year; a year the file does not list is
counted as weekends only. Where both know a year, the package wins.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]

from policies._data import read_data_file, reject_unknown_keys, require_int, require_table, require_version
from policies.errors import PolicyDataError

__all__ = [
    "Deadlines",
    "HolidayYear",
    "add_workdays",
    "is_workday",
    "load_deadlines",
    "load_holidays",
    "parse_deadlines",
    "parse_holidays",
]

HOLIDAYS_FILE = "holidays.toml"

_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Deadlines, in working days, that providers must meet."""

    objection_answer_workdays: int
    repair_decision_workdays: int


@dataclass(frozen=True, slots=True)
class HolidayYear:
    """The official schedule of one year that ``chinese_calendar`` does not cover."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]  # adjusted working days (调休上班), always on a weekend


def _require_dates(data: Mapping[str, Any], key: str, source: str, path: str, *, year: int) -> frozenset[date]:
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if not isinstance(value, list):
        raise PolicyDataError(source, path, f"must be an array of dates, got {type(value).__name__}")
    days: set[date] = set()
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        # TOML local dates parse to date; a datetime (also a date subclass) is a typo here.
        if type(item) is not date:
            raise PolicyDataError(source, where, f"must be a date like 2027-01-01, got {type(item).__name__}")
        if item.year != year:
            raise PolicyDataError(source, where, f"{item.isoformat()} is not in {year}")
        if item in days:
            raise PolicyDataError(source, where, f"duplicate date {item.isoformat()}")
        days.add(item)
    return frozenset(days)


def parse_holidays(data: Mapping[str, Any], source: str) -> Mapping[int, HolidayYear]:
    """Validate the ``[years]`` table of holidays TOML; raise PolicyDataError naming the key.

    Each entry ``[years.YYYY]`` has ``holidays`` and ``workdays`` (adjusted
    working days), both arrays of dates in that year. A date may not be both,
    and an adjusted working day must fall on a Saturday or Sunday.
    """
    require_version(data, source)
    reject_unknown_keys(data, {"version", "deadlines", "years"}, source, "")
    table = require_table(data, "years", source, "years")
    years: dict[int, HolidayYear] = {}
    for key in table:
        path = f"years.{key}"
        if not (len(key) == 4 and key.isascii() and key.isdigit()):
            raise PolicyDataError(source, path, "year must be four digits, like 2027")
        year = int(key)
        entry = require_table(table, key, source, path)
        reject_unknown_keys(entry, {"holidays", "workdays"}, source, path)
        holidays = _require_dates(entry, "holidays", source, f"{path}.holidays", year=year)
        workdays = _require_dates(entry, "workdays", source, f"{path}.workdays", year=year)
        both = holidays & workdays
        if both:
            first = min(both).isoformat()
            raise PolicyDataError(source, f"{path}.workdays", f"{first} is listed as a holiday too")
        for day in sorted(workdays):
            if day.weekday() < _SATURDAY:
                raise PolicyDataError(
                    source, f"{path}.workdays", f"{day.isoformat()} is a weekday; adjusted working days are weekends"
                )
        years[year] = HolidayYear(year, holidays, workdays)
    return MappingProxyType(years)


def parse_deadlines(data: Mapping[str, Any], source: str) -> Deadlines:
    """Validate the ``[deadlines]`` table of holidays TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    table = require_table(data, "deadlines", source, "deadlines")
    reject_unknown_keys(table, {"objection_answer_workdays", "repair_decision_workdays"}, source, "deadlines")
    return Deadlines(
        objection_answer_workdays=require_int(
            table, "objection_answer_workdays", source, "deadlines.objection_answer_workdays", minimum=1
        ),
        repair_decision_workdays=require_int(
            table, "repair_decision_workdays", source, "deadlines.repair_decision_workdays", minimum=1
        ),
    )


@functools.cache
def load_holidays() -> Mapping[int, HolidayYear]:
    """Load and validate the packaged fallback holiday table (once per process)."""
    return parse_holidays(read_data_file(HOLIDAYS_FILE), f"data/{HOLIDAYS_FILE}")


@functools.cache
def load_deadlines() -> Deadlines:
    """Load and validate the packaged working-day deadlines (once per process)."""
    return parse_deadlines(read_data_file(HOLIDAYS_FILE), f"data/{HOLIDAYS_FILE}")


def is_workday(day: date, *, fallback: Mapping[int, HolidayYear] | None = None) -> bool:
    """Whether ``day`` is a working day in mainland China.

    ``fallback`` replaces the packaged holiday table for years ``chinese_calendar``
    does not cover (tests use it); it is never consulted for a year the package covers.
    """
    plain = date(day.year, day.month, day.day)  # a datetime would miss the date sets
    try:
        return bool(chinese_calendar.is_workday(plain))
    except NotImplementedError:
        pass  # year not covered by the package
    schedule = (fallback if fallback is not None else load_holidays()).get(plain.year)
    if schedule is not None:
        if plain in schedule.workdays:
            return True
        if plain in schedule.holidays:
            return False
    return plain.weekday() < _SATURDAY


def add_workdays(start: date, n: int, *, fallback: Mapping[int, HolidayYear] | None = None) -> date:
    """The deadline ``n`` working days after ``start``, not counting ``start`` itself.

    The deadline is the n-th working day after ``start``: an objection filed on
    a Friday with a 3-working-day answer period is due on the following
    Wednesday if no holiday intervenes. ``n == 0`` returns ``start``.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    day = date(start.year, start.month, start.day)
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if is_workday(day, fallback=fallback):
            remaining -= 1
    return day
