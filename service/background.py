"""Periodic background work in a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from service.observability.logging import get_logger

log = get_logger("creditgate.background")


class Periodic:
    """Runs ``work`` every ``interval`` seconds in a daemon thread named ``name``.

    A failing run is logged (its exception type only) and retried at the next
    interval. With ``final_run`` the work runs once more when stopped.
    """

    def __init__(self, name: str, interval: float, work: Callable[[], object], *, final_run: bool = False) -> None:
        self._name = name
        self._interval = interval
        self._work = work
        self._final_run = final_run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self._interval)
            if stopping and not self._final_run:
                return
            try:
                self._work()
            except Exception as exc:
                log.error("background_work_failed", work=self._name, error=type(exc).__name__)
            if stopping:
                return
