"""What every portal request goes through: the session guard, the visitor, the
anti-forgery check, the cookies and the error pages.

- :data:`require_session` guards each page that needs a signed-in person. Without
  a live session a GET goes to sign-in and comes back to the same page afterwards;
  a POST changes nothing and goes to sign-in too.
- :func:`provide_visitor` checks the anti-forgery token of every POST before
  anything else, then asks ``GET /v1/me`` with the session's token. A token the
  API no longer accepts (expired, account disabled or locked) ends the session.
- Errors become pages in the visitor's language, never problem+json, with the same
  security headers as every other portal response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect

from service.db.types import utcnow
from service.observability.logging import get_logger
from service.portal.api import Api, ApiError
from service.portal.i18n import LANG_COOKIE, Language, language_of
from service.portal.rendering import PREFIX, page, secured
from service.portal.sessions import Session, SessionStore, csrf_matches
from service.runtime import Services

log = get_logger("creditgate.portal")

SESSION_COOKIE = "cg_session"
LOGIN_COOKIE = "cg_login"
FLASH_COOKIE = "cg_flash"
SCOPE_KEY = "portal_session"
_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FIELDS = 64
#: Where a person may be sent back to after signing in: a portal page, nothing else.
_PAGE = re.compile(r"/app(/[a-z0-9_-]+){0,3}")
_FLASH = re.compile(r"([a-z_]{1,16})(?:\.([0-9a-f]{32}))?")


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The process's services."""
    return connection.app.state["services"]  # type: ignore[no-any-return]


def https(services: Services) -> bool:
    """Whether the portal is served over https (cookies are then Secure)."""
    return services.settings.issuer.startswith("https://")


def safe_page(value: str | None) -> str | None:
    """``value`` if it is a portal page path, else None (no open redirects)."""
    return value if value and _PAGE.fullmatch(value) else None


def cookie(name: str, value: str, services: Services, *, path: str = PREFIX, max_age: int | None = None) -> Cookie:
    """A portal cookie: HttpOnly, SameSite=Lax, Secure where the portal is on https."""
    return Cookie(key=name, value=value, path=path, max_age=max_age, httponly=True, samesite="lax",
                  secure=https(services))


def expired_cookie(name: str, services: Services, *, path: str = PREFIX) -> Cookie:
    """Clears a portal cookie."""
    return Cookie(key=name, value="", path=path, max_age=0, expires=0, httponly=True, samesite="lax",
                  secure=https(services))


def flash_cookie(services: Services, target: str, notice: str, item: str | None = None) -> Cookie:
    """A one-time notice for the page at ``target`` (a code and perhaps an id, never text);
    the cookie's path keeps it for that page."""
    return cookie(FLASH_COOKIE, notice + (f".{item}" if item else ""), services, path=target, max_age=120)


def read_flash(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, str | None] | None:
    """The pending notice, if any, as (code, id)."""
    match = _FLASH.fullmatch(connection.cookies.get(FLASH_COOKIE) or "")
    return (match.group(1), match.group(2)) if match else None


# --- failures -------------------------------------------------------------------------------------


class SignInRequired(Exception):
    """No live session: go and sign in, then come back to ``next_page``."""

    def __init__(self, next_page: str | None, notice: str | None = None) -> None:
        super().__init__("sign-in required")
        self.next_page = next_page
        self.notice = notice


class FormRefused(Exception):
    """A POST whose anti-forgery check failed: nothing is done."""

    code = "csrf_failed"


def back_page(path: str) -> str:
    """The page a form on ``path`` belongs to: where to return after signing in again."""
    for suffix in ("/grant", "/reject"):
        if path.endswith(suffix):
            return safe_page(path[: -len(suffix)]) or PREFIX
    if path.endswith("/revoke"):
        return PREFIX + "/consents"
    return PREFIX


def _next_page(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    path = connection.scope["path"]
    if connection.scope.get("method") == "POST":
        return back_page(path)
    return safe_page(path)


# --- the guard and the visitor --------------------------------------------------------------------


class SessionGuard:
    """Admits a request only with a live portal session (read from the cookie, checked in
    the database: any process can serve any request)."""

    def __repr__(self) -> str:
        return "require_session"

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        services = services_of(connection)
        secret = connection.cookies.get(SESSION_COOKIE)
        session = await services.run_reads(SessionStore(services).load, secret, utcnow())
        if session is None:
            raise SignInRequired(_next_page(connection), "expired" if secret else None)
        connection.scope[SCOPE_KEY] = session  # type: ignore[literal-required]


require_session = SessionGuard()


def session_guarded(handler: BaseRouteHandler) -> bool:
    """Whether a handler demands a portal session (for the route table)."""
    # Litestar may wrap or copy a guard; the original is its ``func``.
    return any(isinstance(getattr(guard, "func", guard), SessionGuard) for guard in handler.resolve_guards())


@dataclass
class Visitor:
    """The signed-in person on this request, and the API on their behalf."""

    session: Session
    api: Api
    me: dict[str, Any]
    lang: Language
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def role(self) -> str:
        """``subject`` or ``guardian`` (the API refuses any other role)."""
        return str(self.me["role"])

    @property
    def wards(self) -> list[str]:
        """The wards a guardian acts for, as the API says now."""
        return list(self.me.get("wards") or [])

    @property
    def ward(self) -> str | None:
        """The ward a guardian is acting for: the one chosen, else the first."""
        if self.role != "guardian" or not self.wards:
            return None
        return self.session.ward if self.session.ward in self.wards else self.wards[0]

    @property
    def subject(self) -> str | None:
        """Whose pages these are: the subject themself, or the ward acted for."""
        return self.ward if self.role == "guardian" else self.me.get("subject")

    def field(self, name: str) -> str:
        """The first value of a form field ('' when absent)."""
        values = self.form.get(name) or [""]
        return values[0]

    def context(self, **extra: Any) -> dict[str, Any]:
        """What every signed-in page's template needs, plus ``extra``."""
        return {
            "lang": self.lang, "signed_in": True, "csrf": self.session.csrf, "role": self.role,
            "wards": self.wards, "ward": self.ward, "session_ends": self.session.expires_at, **extra,
        }


async def checked_form(request: Request[Any, Any, Any], session: Session) -> dict[str, list[str]]:
    """The POSTed form, after the anti-forgery checks; FormRefused otherwise."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise FormRefused
    origin = request.headers.get("origin")
    issuer = services_of(request).settings.issuer
    if origin is not None and origin != "null" and origin.rstrip("/") != issuer:
        raise FormRefused
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != _FORM_TYPE:
        raise FormRefused
    try:
        form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused from None
    if not csrf_matches(session.secret, (form.get("csrf") or [""])[0]):
        raise FormRefused
    return form


async def provide_visitor(request: Request[Any, Any, Any]) -> Visitor:
    """The ``visitor`` dependency of every guarded portal page."""
    session: Session = request.scope[SCOPE_KEY]  # type: ignore[literal-required]
    form = await checked_form(request, session) if request.method == "POST" else {}
    api = Api(request.app, request.scope, session.token)
    me = await api.get("/v1/me")
    if me.status == 401:
        # The API no longer takes this token (expired, account disabled or locked).
        services = services_of(request)
        await services.run_reads(SessionStore(services).drop, session)
        raise SignInRequired(_next_page(request), "expired")
    if not me.ok:
        raise ApiError(me)
    return Visitor(session, api, me.body, language_of(request.cookies.get(LANG_COOKIE)), form)


# --- error pages ----------------------------------------------------------------------------------


def _lang(request: Request[Any, Any, Any]) -> Language:
    return language_of(request.cookies.get(LANG_COOKIE))


def message_page(request: Request[Any, Any, Any], status: int, code: str, *, kind: str = "problem") -> Response[Any]:
    """A page that says one thing (a refusal, a notice) with a way back."""
    services = services_of(request)
    context = {"lang": _lang(request), "signed_in": False, "notice": None, "here": PREFIX, "kind": kind,
               "code": code}
    response = page("portal/message.html", context, status=status)
    return secured(response, https(services))


def sign_in_redirect(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """303 to the sign-in page, remembering where to come back to and why."""
    services = services_of(request)
    query = {k: v for k, v in (("next", exc.next_page), ("notice", exc.notice)) if v}
    target = PREFIX + (f"?{urlencode(query)}" if query else "")
    response = Redirect(path=target, status_code=303, headers={"Cache-Control": "no-store"})
    response.cookies.append(expired_cookie(SESSION_COOKIE, services))
    return secured(response, https(services))


def _on_sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return sign_in_redirect(request, exc)


def _on_form(request: Request[Any, Any, Any], exc: FormRefused) -> Response[Any]:
    log.info("portal_form_refused", route=request.scope.get("path_template"))
    return message_page(request, 403, exc.code)


def _on_api(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    status = exc.status if exc.status in (400, 403, 404, 409) else 500
    return message_page(request, status, exc.code)


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = {404: "not_found", 405: "not_found", 413: "form_invalid"}.get(status, "validation_error")
    return message_page(request, status if status in (400, 404, 405, 413) else 400, code)


def _on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The type only: a message can carry data.
    log.error("portal_error", error=type(exc).__name__)
    return message_page(request, 500, "internal_error")


EXCEPTION_HANDLERS: Mapping[Any, Any] = {
    SignInRequired: _on_sign_in,
    FormRefused: _on_form,
    ApiError: _on_api,
    HTTPException: _on_http,
    Exception: _on_error,
}

