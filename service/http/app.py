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
from service.auditor.routes import AUDITOR_HANDLERS
from service.config import Settings
from service.consent.routes import CONSENT_HANDLERS
from service.consent.sweeper import ExpirySweeper
from service.http.apidocs import OfflineSwaggerPlugin
from service.http.body import StrictJSONRequest
from service.http.context import ResponseStartHook, with_request_context
from service.http.fastlane import FastLane
from service.http.problems import EXCEPTION_HANDLERS
from service.http.refusals import RefusalRecorder
from service.http.system import MetricsListener, health, live, metrics, root
from service.identity.guards import provide_principal
from service.identity.me import who_am_i
from service.identity.routes import ROUTES as OAUTH_ROUTES
from service.observability.logging import configure_logging
from service.portal.routes import PORTAL_ROUTES, TEMPLATE_CONFIG
from service.public.routes import PUBLIC_HANDLERS
from service.query.routes import FAST_ROUTES, QUERY_HANDLERS
from service.records.routes import RECORD_HANDLERS
from service.remedies.routes import REMEDY_HANDLERS
from service.runtime import Services, build_services


class CreditGateApp(Litestar):
    """Litestar with the request context wrapped around *every* request, and the
    fast lane (``service.http.fastlane``) in front of its router.

    App-level middleware does not run for unmatched routes (404/405), and those
    responses must carry a request id and be counted too. Refusals are audited or
    logged there as well (``service.http.refusals``).
    """

    fast_lane: FastLane | None = None
    on_response_start: ResponseStartHook | None = None
    metrics_listener: MetricsListener | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            scope, send = as_get_without_body(scope, send)
        lane = self.fast_lane
        route = lane.route_for(scope) if lane is not None else None
        if lane is not None and route is not None:
            scope["app"] = scope["litestar_app"] = self  # what Litestar's own __call__ sets
            await with_request_context(partial(lane, route), scope, receive, send,
                                       self.on_response_start)
        else:
            await with_request_context(super().__call__, scope, receive, send, self.on_response_start)


def as_get_without_body(scope: Any, send: Any) -> tuple[Any, Any]:
    """HEAD answered as GET with the body left out (RFC 9110 §9.3.2): every resource
    that answers GET answers HEAD, with the same status and headers."""

    async def send_headers_only(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return {**scope, "method": "GET"}, send_headers_only


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    extra_handlers: Sequence[ControllerRouterHandler] = (),
) -> CreditGateApp:
    """Build the app; ``services`` may be injected by tests, else built from ``settings``."""
    settings = settings or (services.settings if services else Settings.from_env())
    # A broken policy file stops the service here, naming the file and the key.
    load_all_policy_data()
    configure_logging(settings.log_level, file=settings.log_file)
    svc = services or build_services(settings)

    def provide_services() -> Services:
        return svc

    sweeper = ExpirySweeper(svc)
    metrics_listener = MetricsListener(settings.metrics_listen)

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
            root, health, live, metrics,
            *OAUTH_ROUTES,
            *ADMIN_ROUTES,
            *CONSENT_HANDLERS,
            *QUERY_HANDLERS,
            *RECORD_HANDLERS,
            *REMEDY_HANDLERS,
            *PUBLIC_HANDLERS,
            *AUDITOR_HANDLERS,
            who_am_i,
            *PORTAL_ROUTES,
            *extra_handlers,
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
            render_plugins=[OfflineSwaggerPlugin()],
        ),
        on_startup=[tune_threads, svc.start, sweeper.start, metrics_listener.start, freeze_startup_heap],
        on_shutdown=[metrics_listener.stop, sweeper.stop, svc.close],
        request_class=StrictJSONRequest,
        state=State({"services": svc}),
        logging_config=None,
    )
    if settings.fast_lane:
        app.fast_lane = FastLane(svc, FAST_ROUTES, settings.max_body_bytes)
    app.on_response_start = RefusalRecorder(svc)
    app.metrics_listener = metrics_listener
    return app
