"""The portal's router: its pages, sign-in, static files and error pages under ``/app``."""

from __future__ import annotations

from typing import Any

from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from service.portal.auth import AUTH_HANDLERS
from service.portal.pages import PAGE_HANDLERS
from service.portal.rendering import STATIC, TEMPLATE_CONFIG, security_headers
from service.portal.web import EXCEPTION_HANDLERS, provide_visitor

__all__ = ["PORTAL_ROUTES", "TEMPLATE_CONFIG"]



async def _static_headers(response: Response[Any]) -> Response[Any]:
    for name, value in security_headers(https=False).items():
        response.headers.setdefault(name, value)
    return response

#: Static files: the style sheet and the vendored htmx. Cached for a day; file names
#: carry their version where they change.
static_files = create_static_files_router(
    path="/app/static", directories=[STATIC], name="portal-static",
    cache_control=CacheControlHeader(public=True, max_age=86400), include_in_schema=False,
    after_request=_static_headers,
)

PORTAL_ROUTES = [
    Router(
        path="/",
        route_handlers=[*AUTH_HANDLERS, *PAGE_HANDLERS],
        dependencies={"visitor": Provide(provide_visitor)},
        exception_handlers=dict(EXCEPTION_HANDLERS),
        include_in_schema=False,
    ),
    static_files,
]
