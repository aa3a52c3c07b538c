"""The API documentation page at ``/schema``, served entirely by the service.

Litestar's render plugins load Swagger UI, Redoc and their fonts from public
CDNs (unpinned), so the documentation was a blank page in a closed network.
This plugin renders Swagger UI from files shipped in the package (pinned,
``assets/README``), with no inline script, so the page also works under a
Content-Security-Policy that allows only the service's own scripts.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File

SWAGGER_UI_VERSION = "5.35.0"
ASSETS = Path(__file__).parent / "assets"
# Litestar adds "; charset=utf-8" to text types.
_ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "init.js": "text/javascript"}
# The page is the same for everyone and the assets change only with a release.
_ASSET_CACHE = "public, max-age=86400"


@get("/assets/{name:str}", include_in_schema=False, sync_to_thread=False, cache_control=None)
def apidocs_asset(name: FromPath[str]) -> File:
    """One of the documentation page's own files; 404 for anything else."""
    if name not in _ASSET_TYPES:
        from service.http.problems import ProblemError

        raise ProblemError(404, "not_found", "no such documentation asset")
    return File(ASSETS / name, media_type=_ASSET_TYPES[name], content_disposition_type="inline",
                headers={"Cache-Control": _ASSET_CACHE})


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from the package's own copy, for ``/schema`` and ``/schema/swagger``."""

    def __init__(self, path: str | list[str] = ("/", "/swagger"), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(path=list(path), favicon="", **kwargs)

    def receive_router(self, router: Router) -> None:
        """Serve the assets beside the page, under ``<schema path>/assets/``."""
        router.register(apidocs_asset)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page: the stylesheet, the bundle and ``init.js``, which loads the JSON document."""
        base = request.app.openapi_config.path if request.app.openapi_config else "/schema"
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title} API</title>"
            f"<link rel='stylesheet' href='{base}/assets/swagger-ui.css'>"
            "</head><body>"
            f"<div id='swagger-ui' data-spec-url='{spec_url}'></div>"
            f"<script src='{base}/assets/swagger-ui-bundle.js'></script>"
            f"<script src='{base}/assets/init.js'></script>"
            "</body></html>"
        ).encode()
