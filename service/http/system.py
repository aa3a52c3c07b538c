"""Liveness and metrics.

``/metrics`` counts refusals per route and reason, which is worth something to
an attacker probing the service: on the API port it answers operator tokens
only. A scraper without a token reads it on a separate listener instead
(``CREDITGATE_METRICS_LISTEN``, bound to an address only the scraper reaches).
"""

from __future__ import annotations

import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_wsgi_server
from sqlalchemy import text

from policies import Role
from service.http.problems import ProblemError
from service.identity.guards import require_roles
from service.observability.metrics import REGISTRY
from service.runtime import Services


@get("/health", sync_to_thread=True, tags=["system"], summary="Liveness, including the database")
def health(services: NamedDependency[Services]) -> dict[str, Any]:
    """200 when the database answers and the audit writer runs; 503 otherwise."""
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise ProblemError(503, "database_unavailable", "the database does not answer") from None
    return {"status": "ok", "database": "ok"}


@get("/health/live", sync_to_thread=False, tags=["system"], summary="Liveness: the process answers (no I/O)")
def live() -> dict[str, str]:
    """Always 200 while the process serves requests; /health is the readiness check."""
    return {"status": "ok"}


@get("/metrics", guards=[require_roles(Role.OPERATOR, scope="admin")], sync_to_thread=False, tags=["system"],
     summary="Prometheus metrics (operator token)", include_in_schema=False)
def metrics() -> Response[bytes]:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsListener:
    """``/metrics`` without a token on a separate address (``CREDITGATE_METRICS_LISTEN``)."""

    def __init__(self, listen: tuple[str, int] | None) -> None:
        self._listen = listen
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """Where it listens (the port the system chose, for port 0), once started."""
        return None if self._server is None else self._server[0].server_address[:2]  # type: ignore[return-value]

    def start(self) -> None:
        """Bind and serve in a daemon thread, if an address is configured."""
        if self._listen is not None and self._server is None:
            host, port = self._listen
            self._server = start_wsgi_server(port, addr=host, registry=REGISTRY)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
