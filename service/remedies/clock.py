"""The time the remedies go by.

Deadlines, suspensions and windows count civil dates in China. Handlers read the
time through :func:`now_of`, which is the wall clock unless the application
state holds a ``clock`` (a callable returning an aware UTC datetime): the
end-to-end tests use that to walk a record through dates such as an objection
filed on 2026-03-02 and rejected on 2026-03-12.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.db.types import utcnow

CLOCK_STATE_KEY = "clock"


def now_of(request: Any) -> datetime:
    """The current time for this request's application."""
    clock = request.app.state.get(CLOCK_STATE_KEY)
    return clock() if clock is not None else utcnow()
