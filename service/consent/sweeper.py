"""Background recording of consent expiry.

Queries never depend on this (states are evaluated at query time), but expiry
and exhaustion are consent events that belong in the audit log and in the
person's consent list, so each process sweeps once a minute.
"""

from __future__ import annotations

import threading

from service.consent.service import ConsentService
from service.db.types import utcnow
from service.observability.logging import get_logger
from service.runtime import Services

log = get_logger("creditgate.consent")


class ExpirySweeper:
    """A daemon thread running :meth:`ConsentService.expire_due` every ``interval`` seconds."""

    def __init__(self, services: Services, interval: float = 60.0) -> None:
        self._service = ConsentService(services)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="consent-expiry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop sweeping and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                requests, consents = self._service.expire_due(utcnow())
                if requests or consents:
                    log.info("consent_expiry", requests=requests, consents=consents)
            except Exception as exc:  # a failed sweep is retried next interval
                log.error("consent_expiry_failed", error=type(exc).__name__)
