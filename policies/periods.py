"""Periods counted in months and years, as the Civil Code counts them.

A disclosure period of "3 months" or "1 year" is a calendar period, not a
number of days (the Civil Code's rules on periods, 《民法典》 arts. 200-203;
article numbers unverified): it ends on the day of
the final month that corresponds to the day it is counted from, and on the
last day of that month when the month has no such day. Counted from a
decision of 2025-05-31, three months end on 2025-08-31; one month from
2025-01-31 ends on 2025-02-28, and one year from 2024-02-29 on 2025-02-28.
"""

from __future__ import annotations

import calendar
from datetime import date

__all__ = ["add_months", "add_years"]


def add_months(day: date, months: int) -> date:
    """The day ``months`` calendar months after ``day`` (before it, for a negative count).

    The day of the month is kept; where the target month is shorter, its last
    day is used. ``add_months(date(2025, 5, 31), 3) == date(2025, 8, 31)`` and
    ``add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)``.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise ValueError("the period runs outside the supported calendar")
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def add_years(day: date, years: int) -> date:
    """The day ``years`` calendar years after ``day``; 29 February becomes 28 February."""
    return add_months(day, 12 * years)
