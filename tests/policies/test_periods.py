"""Calendar periods in months and years (《民法典》第二百零一条、第二百零二条)."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.periods import add_months, add_years


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2025, 5, 31), 3, date(2025, 8, 31)),  # the example: not 2025-08-29
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 12, 31), 2, date(2026, 2, 28)),
    (date(2025, 3, 31), 1, date(2025, 4, 30)),
    (date(2026, 1, 5), 12, date(2027, 1, 5)),
    (date(2025, 8, 31), -6, date(2025, 2, 28)),
    (date(2025, 6, 15), 0, date(2025, 6, 15)),
])
def test_add_months(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end


def test_leap_days() -> None:
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert add_years(date(2028, 2, 29), 3) == date(2031, 2, 28)
    assert add_months(date(2027, 11, 29), 3) == date(2028, 2, 29)


def test_out_of_range() -> None:
    with pytest.raises(ValueError):
        add_months(date(9999, 12, 1), 1)


@given(start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)), months=st.integers(0, 120))
def test_the_day_is_kept_or_clamped_to_the_month_end(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year - start.year) * 12 + end.month - start.month == months
    last = calendar.monthrange(end.year, end.month)[1]
    assert end.day == min(start.day, last)
