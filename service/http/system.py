"""Liveness and metrics.

``/metrics`` counts refusals per route and reason, which is worth something to
an attacker probing the service: on the API port it answers operator tokens
only. A scraper without a token reads it on a separate listener instead
(``CREDITGATE_METRICS_LISTEN``, bound to an address only the scraper reaches).
"""

from __future__ import annotations

import functools
import html
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from litestar import MediaType, Request, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_wsgi_server
from sqlalchemy import text

from policies import Role
from service.db.migrate import head_revision
from service.http.problems import ProblemError
from service.identity.guards import require_roles
from service.observability.metrics import REGISTRY
from service.runtime import Services


@functools.cache
def _head_revision(url: str) -> str | None:
    return head_revision(url)


@get("/health", sync_to_thread=True, tags=["system"], summary="Readiness: the database answers at the right schema")
def health(services: NamedDependency[Services]) -> dict[str, Any]:
    """200 when the database answers and its schema is at this code's migration head; 503 otherwise.

    A schema that another deployment migrated past this code, or that was never
    migrated this far, would fail requests one by one; it fails readiness instead.
    """
    try:
        with services.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        raise ProblemError(503, "database_unavailable", "the database does not answer") from None
    expected = _head_revision(services.settings.database_url)
    if revision != expected:
        raise ProblemError(503, "schema_outdated",
                           f"the database schema is at revision {revision}, this code needs {expected}; "
                           "run: creditgate db upgrade")
    return {"status": "ok", "database": "ok", "schema": revision}


@get("/health/live", sync_to_thread=False, tags=["system"], summary="Liveness: the process answers (no I/O)")
def live() -> dict[str, str]:
    """Always 200 while the process serves requests; /health is the readiness check."""
    return {"status": "ok"}


@get("/metrics", guards=[require_roles(Role.OPERATOR, scope="admin")], sync_to_thread=False, tags=["system"],
     summary="Prometheus metrics (operator token)", include_in_schema=False)
def metrics() -> Response[bytes]:
    """Prometheus text exposition of this process's metrics."""
    # Litestar appends "; charset=utf-8" to text types itself; the constant carries one already.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST.replace("; charset=utf-8", ""))


_ENTRY_POINTS = (
    ("portal", "/app/", "The web portal for people and auditors"),
    ("api_docs", "/schema", "API documentation (OpenAPI at /schema/openapi.json)"),
    ("health", "/health", "Readiness"),
    ("oauth_metadata", "/.well-known/oauth-authorization-server", "OAuth 2.0 authorization server metadata"),
)


@get("/", sync_to_thread=False, tags=["system"], summary="Where to go: the portal, the API docs, health",
     media_type=MediaType.HTML)
def root(request: Request[Any, Any, Any]) -> Response[Any]:
    """A small index page, or the same links as JSON for ``Accept: application/json``."""
    links = {name: href for name, href, _ in _ENTRY_POINTS}
    if request.accept.best_match([MediaType.HTML, MediaType.JSON], default=MediaType.HTML) == MediaType.JSON:
        return Response({"service": "creditgate", "links": links}, media_type=MediaType.JSON)
    items = "".join(f"<li><a href='{href}'>{html.escape(text)}</a></li>" for _, href, text in _ENTRY_POINTS)
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>creditgate</title></head>"
            f"<body><h1>creditgate</h1><p>Consent-gated personal public credit information.</p><ul>{items}</ul>"
            "</body></html>")
    return Response(page, media_type=MediaType.HTML)


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
