"""Templates, security headers and the cookies of the portal's pages.

Pages are Jinja2 templates rendered by Litestar's template support. Every text
goes through gettext in the language of the request (:mod:`service.portal.i18n`);
autoescaping is on and undefined names are errors. Every portal response carries
a strict Content-Security-Policy: scripts, styles and images only from this
origin, no inline script or style at all, no framing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Response
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from service.portal import present, words
from service.portal.i18n import LANGUAGES, Language, translations

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PREFIX = "/app"
STATIC_PATH = PREFIX + "/static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Same-origin referrers only: the portal's own URLs carry no personal data, and
    # no other site learns which page a person came from.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
#: Pages show personal data: never kept by the browser or anything in between.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def security_headers(https: bool) -> dict[str, str]:
    """The headers every portal response carries."""
    headers = dict(_HEADERS)
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def secured(response: Response[Any], https: bool) -> Response[Any]:
    """``response`` with the portal's security headers."""
    for name, value in security_headers(https).items():
        response.headers.setdefault(name, value)
    return response


@pass_context
def _gettext(context: Context, message: str) -> str:
    lang: Language = context["lang"]
    return translations(lang).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    lang: Language = context["lang"]
    return translations(lang).ngettext(singular, plural, n)


def make_environment() -> Environment:
    """The portal's Jinja2 environment (i18n, autoescape, strict undefined, filters)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        when=present.china_time, day=present.china_date, short=present.short_id, purpose=present.purpose_name,
    )
    env.globals.update(words=words, category_info=present.category_info, uses_left=present.uses_left,
                       static=STATIC_PATH, languages=LANGUAGES)
    return env


TEMPLATE_CONFIG: TemplateConfig[JinjaTemplateEngine] = TemplateConfig(
    instance=JinjaTemplateEngine.from_environment(make_environment())
)


def page(
    name: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
) -> Template:
    """A rendered page; ``context`` must hold ``lang`` (the page's language)."""
    return Template(template_name=name, context=dict(context), status_code=status, headers=dict(NO_STORE),
                    cookies=cookies or [], media_type="text/html; charset=utf-8")
