"""Answer periods as due dates, with a log line (once per year) when the calendar is a guess.

Deadlines count Chinese working days (``policies.workdays``). For a year the
``chinese_calendar`` package does not cover and the policy data knows only by
its statutory holidays, the due date is marked ``provisional`` in every answer
that states it, and the service says so once in its log. Nothing here raises
for an uncovered year.
"""

from __future__ import annotations

import threading
from datetime import date

from policies.catalog import AnswerPeriod
from policies.workdays import Deadline, deadline_after
from service.observability.logging import get_logger

log = get_logger("creditgate.remedies")
_warned: set[int] = set()
_lock = threading.Lock()


def due_after(start: date, period: AnswerPeriod) -> Deadline:
    """The end of ``period`` counted from the day after ``start``."""
    deadline = deadline_after(start, period)
    if deadline.guessed_years:
        with _lock:
            fresh = sorted(deadline.guessed_years - _warned)
            _warned.update(fresh)
        for year in fresh:
            log.warning("workday_calendar_provisional", year=year,
                        detail="no official holiday schedule for this year; deadlines in it are provisional")
    return deadline


def period_view(period: AnswerPeriod) -> dict[str, object]:
    """How an answer period is stated in API answers."""
    return {"days": period.days, "unit": period.unit, "basis": period.basis}
