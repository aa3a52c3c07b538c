"""Liveness and metrics."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.http.problems import ProblemError
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


@get("/metrics", sync_to_thread=False, tags=["system"], summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response[bytes]:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
