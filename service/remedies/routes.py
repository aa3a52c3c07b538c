"""Every remedy route, for the application's handler list."""

from __future__ import annotations

from service.remedies.routes_decisions import DECISION_HANDLERS
from service.remedies.routes_people import PEOPLE_HANDLERS

REMEDY_HANDLERS = [*PEOPLE_HANDLERS, *DECISION_HANDLERS]
