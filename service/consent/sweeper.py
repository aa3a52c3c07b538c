"""Background recording of consent expiry.

Queries never depend on this (states are evaluated at query time), but expiry
and exhaustion are consent events that belong in the audit log and in the
person's consent list, so each process sweeps once a minute.
"""

from __future__ import annotations

from service.background import Periodic
from service.consent.service import ConsentService
from service.db.types import utcnow
from service.observability.logging import get_logger
from service.runtime import Services

log = get_logger("creditgate.consent")


class ExpirySweeper:
    """Runs :meth:`ConsentService.expire_due` every ``interval`` seconds in the background."""

    def __init__(self, services: Services, interval: float = 60.0) -> None:
        self._service = ConsentService(services)
        self._periodic = Periodic("consent-expiry", interval, self.sweep)

    def start(self) -> None:
        """Start sweeping (idempotent)."""
        self._periodic.start()

    def stop(self) -> None:
        """Stop sweeping and wait for the thread."""
        self._periodic.stop()

    def sweep(self) -> None:
        """Record what has lapsed since the last sweep."""
        requests, consents = self._service.expire_due(utcnow())
        if requests or consents:
            log.info("consent_expiry", requests=requests, consents=consents)
