"""The Litestar application factory (``granian --factory service.http.app:create_app``)."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from policies import load_all_policy_data
from service.admin.routes import ROUTES as ADMIN_ROUTES
from service.config import Settings
from service.consent.routes import CONSENT_HANDLERS
from service.consent.sweeper import ExpirySweeper
from service.http.context import with_request_context
from service.http.fastlane import FastLane
from service.http.problems import EXCEPTION_HANDLERS
from service.http.system import health, live, metrics
from service.identity.guards import provide_principal
from service.identity.me import who_am_i
from service.identity.routes import ROUTES as OAUTH_ROUTES
from service.observability.logging import configure_logging
from service.portal.routes import PORTAL_ROUTES, TEMPLATE_CONFIG
from service.query.routes import FAST_ROUTES, QUERY_HANDLERS
from service.records.routes import RECORD_HANDLERS
from service.runtime import Services, build_services


class CreditGateApp(Litestar):
    """Litestar with the request context wrapped around *every* request, and the
    fast lane (``service.http.fastlane``) in front of its router.

    App-level middleware does not run for unmatched routes (404/405), and those
    responses must carry a request id and be counted too.
    """

    fast_lane: FastLane | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        route = self.fast_lane.route_for(scope) if self.fast_lane is not None else None
        if route is not None:
            scope["app"] = scope["litestar_app"] = self  # what Litestar's own __call__ sets
            await with_request_context(partial(self.fast_lane, route), scope, receive, send)  # type: ignore[misc]
        else:
            await with_request_context(super().__call__, scope, receive, send)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    extra_handlers: Sequence[ControllerRouterHandler] = (),
) -> CreditGateApp:
    """Build the app; ``services`` may be injected by tests, else built from ``settings``."""
    settings = settings or (services.settings if services else Settings.from_env())
    # A broken policy file stops the service here, naming the file and the key.
    load_all_policy_data()
    configure_logging(settings.log_level)
    svc = services or build_services(settings)

    def provide_services() -> Services:
        return svc

    sweeper = ExpirySweeper(svc)

    def tune_threads() -> None:
        # Blocking handlers run in anyio's thread pool (40 by default). A bounded pool
        # keeps the number of threads competing with the audit writer for the GIL, and
        # of pooled database connections in use, predictable (CREDITGATE_HANDLER_THREADS).
        # bench/bench_queries.py measured no throughput difference between 4, 8 and 32.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.handler_threads

    def freeze_startup_heap() -> None:
        # The framework, models and policy data allocate a large, long-lived heap at
        # start-up. Moved out of the collector's generations, full collections stop
        # rescanning it, which otherwise pauses every request for tens of milliseconds.
        gc.collect()
        gc.freeze()

    app = CreditGateApp(
        route_handlers=[
            health, live, metrics, *OAUTH_ROUTES, *ADMIN_ROUTES, *CONSENT_HANDLERS, *QUERY_HANDLERS, *extra_handlers,
            *RECORD_HANDLERS, who_am_i, *PORTAL_ROUTES,
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TEMPLATE_CONFIG,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="creditgate",
            version="1.0.0",
            description="Consent-gated personal public credit information queries.",
            path="/schema",
        ),
        on_startup=[tune_threads, svc.start, sweeper.start, freeze_startup_heap],
        on_shutdown=[sweeper.stop, svc.close],
        state=State({"services": svc}),
        logging_config=None,
    )
    if settings.fast_lane:
        app.fast_lane = FastLane(svc, FAST_ROUTES, settings.max_body_bytes)
    return app
