"""Chinese working days and the deadlines counted in them.

A working day is a day people work in mainland China: Monday to Friday, except
public holidays, plus the adjusted working days (调休上班) that make up for
bridged holidays, which usually fall on a Saturday or Sunday.

The official schedule comes from the ``chinese_calendar`` package for every
year it covers. For a year it does not cover (it raises NotImplementedError,
which never escapes from here), the rule is weekends off, plus whatever
``data/holidays.toml`` lists for that year; where both know a year, the
package wins. A year listed there from the State Council's notice
(``source = "official"``) is as good as the package. A year listed only with
the statutory days of 《全国年节及纪念日放假办法》第二条 (``source =
"statutory"``: the days are fixed, the bridging and the adjusted working days
are not known yet), or not listed at all, is a guess: every deadline that
counts a day of such a year is :attr:`Deadline.provisional`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]

from policies._data import read_data_file, reject_unknown_keys, require_str, require_table, require_version
from policies.catalog import AnswerPeriod
from policies.errors import PolicyDataError

__all__ = [
    "HOLIDAY_SOURCES",
    "Deadline",
    "HolidayYear",
    "add_workdays",
    "deadline_after",
    "is_workday",
    "load_holidays",
    "package_covers",
    "parse_holidays",
    "workday_deadline",
]

HOLIDAYS_FILE = "holidays.toml"
#: official: copied from the State Council's notice; statutory: only the fixed days of the holiday law.
HOLIDAY_SOURCES = frozenset({"official", "statutory"})

_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class HolidayYear:
    """The schedule of one year that ``chinese_calendar`` does not cover.

    ``provisional`` when it holds only the statutory days (``source = "statutory"``).
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]  # adjusted working days (调休上班), always on a weekend
    provisional: bool = False


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due date, and whether it rests on a guessed calendar.

    ``provisional`` is True when a day counted lies in a year whose schedule is not
    known officially; ``guessed_years`` names those years (for a log line, once).
    """

    due: date
    provisional: bool = False
    guessed_years: frozenset[int] = frozenset()


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

    Each entry ``[years.YYYY]`` has ``source`` (``official`` or ``statutory``),
    ``holidays`` and ``workdays`` (adjusted working days), both arrays of dates
    in that year. A date may not be both, an adjusted working day must fall on
    a Saturday or Sunday, and a statutory year has none (they are not known).
    """
    require_version(data, source)
    reject_unknown_keys(data, {"version", "years"}, source, "")
    table = require_table(data, "years", source, "years")
    years: dict[int, HolidayYear] = {}
    for key in table:
        path = f"years.{key}"
        if not (len(key) == 4 and key.isascii() and key.isdigit()):
            raise PolicyDataError(source, path, "year must be four digits, like 2027")
        year = int(key)
        entry = require_table(table, key, source, path)
        reject_unknown_keys(entry, {"source", "holidays", "workdays"}, source, path)
        origin = require_str(entry, "source", source, f"{path}.source")
        if origin not in HOLIDAY_SOURCES:
            raise PolicyDataError(source, f"{path}.source", f"must be one of {sorted(HOLIDAY_SOURCES)}")
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
        if origin == "statutory" and workdays:
            raise PolicyDataError(source, f"{path}.workdays", "a statutory year cannot know its adjusted working days")
        years[year] = HolidayYear(year, holidays, workdays, provisional=origin == "statutory")
    return MappingProxyType(years)


@functools.cache
def load_holidays() -> Mapping[int, HolidayYear]:
    """Load and validate the packaged fallback holiday table (once per process)."""
    return parse_holidays(read_data_file(HOLIDAYS_FILE), f"data/{HOLIDAYS_FILE}")


@functools.cache
def package_covers(year: int) -> bool:
    """Whether ``chinese_calendar`` knows the official schedule of ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _status(day: date, fallback: Mapping[int, HolidayYear] | None) -> tuple[bool, bool]:
    """(is a working day, the answer is a guess)."""
    plain = date(day.year, day.month, day.day)  # a datetime would miss the date sets
    if package_covers(plain.year):
        try:
            return bool(chinese_calendar.is_workday(plain)), False
        except NotImplementedError:  # a day at the edge of a partly covered year
            pass
    schedule = (fallback if fallback is not None else load_holidays()).get(plain.year)
    if schedule is not None:
        if plain in schedule.workdays:
            return True, schedule.provisional
        if plain in schedule.holidays:
            return False, schedule.provisional
        return plain.weekday() < _SATURDAY, schedule.provisional
    return plain.weekday() < _SATURDAY, True


def is_workday(day: date, *, fallback: Mapping[int, HolidayYear] | None = None) -> bool:
    """Whether ``day`` is a working day in mainland China. Never raises for a valid date.

    ``fallback`` replaces the packaged holiday table for years ``chinese_calendar``
    does not cover (tests use it); it is never consulted for a year the package covers.
    """
    return _status(day, fallback)[0]


def workday_deadline(start: date, n: int, *, fallback: Mapping[int, HolidayYear] | None = None) -> Deadline:
    """The deadline ``n`` working days after ``start``, not counting ``start`` itself.

    The deadline is the n-th working day after ``start``: an objection filed on
    a Friday with a 3-working-day answer period is due on the following
    Wednesday if no holiday intervenes. ``n == 0`` returns ``start``. The
    deadline is provisional if any day counted lies in a year whose schedule is
    a guess.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    day = date(start.year, start.month, start.day)
    remaining = n
    guessed: set[int] = set()
    while remaining:
        day += timedelta(days=1)
        working, guess = _status(day, fallback)
        if guess:
            guessed.add(day.year)
        if working:
            remaining -= 1
    return Deadline(day, bool(guessed), frozenset(guessed))


def add_workdays(start: date, n: int, *, fallback: Mapping[int, HolidayYear] | None = None) -> date:
    """The due date of :func:`workday_deadline` alone."""
    return workday_deadline(start, n, fallback=fallback).due


def deadline_after(start: date, period: AnswerPeriod, *,
                   fallback: Mapping[int, HolidayYear] | None = None) -> Deadline:
    """The end of an answer period counted from the day after ``start``: working days
    by the calendar above, or calendar days (never provisional)."""
    if period.unit == "days":
        return Deadline(start + timedelta(days=period.days))
    return workday_deadline(start, period.days, fallback=fallback)
