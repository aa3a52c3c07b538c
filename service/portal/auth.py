"""Signing in and out: the portal as the ``creditgate-web`` OAuth client.

1. ``GET /app/login`` starts a sign-in: a random ``state`` and PKCE verifier are
   sealed in a ``login`` row keyed by a cookie secret, and the browser goes to the
   authorization endpoint (``/oauth/authorize``, the login page) with the S256
   challenge.
2. ``GET /app/callback`` takes that row (once), checks ``state`` and the issuer
   (RFC 9207), and exchanges the code for a token at ``/oauth/token`` in-process,
   server-side. The token goes into a new sealed session row; the browser gets
   only the session cookie.
3. ``POST /app/logout`` deletes the row, and with it the only stored copy of the token.

There are no refresh tokens: a session lasts as long as its access token (at most
15 minutes). After that the next page asks the person to sign in again and then
returns to the page they were on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from service.db.types import utcnow
from service.http.context import current_request_id
from service.identity.policy import WEB_CLIENT_ID
from service.portal.api import Api
from service.portal.i18n import LANG_COOKIE, LANGUAGES, language_of
from service.portal.rendering import PREFIX, page, secured
from service.portal.sessions import Session, SessionStore
from service.portal.web import (
    LOGIN_COOKIE,
    SCOPE_KEY,
    SESSION_COOKIE,
    checked_form,
    cookie,
    expired_cookie,
    https,
    message_page,
    require_session,
    safe_page,
    services_of,
)
from service.portal.words import NOTICES

#: Roles with pages in the portal; any other account is told so and not signed in.
PORTAL_ROLES = frozenset({"subject", "guardian"})
HOME = PREFIX + "/requests"
_MAX_PARAM = 512


def redirect_uri(request: Request[Any, Any, Any]) -> str:
    """Where the authorization server sends the person back: ``<issuer>/app/callback``."""
    return services_of(request).settings.issuer + PREFIX + "/callback"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _redirect(request: Request[Any, Any, Any], target: str) -> Redirect:
    response = Redirect(path=target, status_code=303, headers={"Cache-Control": "no-store"})
    secured(response, https(services_of(request)))
    return response


@get(PREFIX, summary="Portal: sign-in page", include_in_schema=False)
async def landing(request: Request[Any, Any, Any]) -> Response[Any]:
    """The portal's front door: a signed-in person goes to their requests, anyone else
    sees what the portal is for and a button to sign in."""
    services = services_of(request)
    session = await services.run_reads(SessionStore(services).load, request.cookies.get(SESSION_COOKIE), utcnow())
    if session is not None:
        return _redirect(request, HOME)
    next_page = safe_page(request.query_params.get("next"))
    notice = request.query_params.get("notice")
    login = PREFIX + "/login" + (f"?{urlencode({'next': next_page})}" if next_page else "")
    context = {"lang": language_of(request.cookies.get(LANG_COOKIE)), "signed_in": False,
               "notice": None, "signin_notice": notice if notice in NOTICES else None, "login_url": login,
               "here": PREFIX}
    return secured(page("portal/signin.html", context), https(services))


@get(PREFIX + "/login", summary="Portal: start signing in", include_in_schema=False)
async def start_login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Send the browser to the login page with a fresh ``state`` and PKCE challenge."""
    services = services_of(request)
    next_page = safe_page(request.query_params.get("next"))
    secret, pending = await services.run_reads(SessionStore(services).begin_login, next_page, utcnow())
    query = urlencode({
        "response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": redirect_uri(request),
        "state": pending.state, "code_challenge": _challenge(pending.verifier), "code_challenge_method": "S256",
    })
    response = _redirect(request, f"/oauth/authorize?{query}")
    response.cookies.append(cookie(LOGIN_COOKIE, secret, services, path=PREFIX + "/callback", max_age=600))
    return response


@get(PREFIX + "/callback", summary="Portal: the OAuth redirect URI", include_in_schema=False)
async def finish_login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the answer of the authorization server and exchange the code, server-side."""
    services = services_of(request)
    params = {k: request.query_params.get(k) or "" for k in ("code", "state", "iss", "error")}
    store = SessionStore(services)
    pending = await services.run_reads(store.take_login, request.cookies.get(LOGIN_COOKIE), utcnow())
    failed = message_page(request, 400, "signin_failed")
    failed.cookies.append(expired_cookie(LOGIN_COOKIE, services, path=PREFIX + "/callback"))
    if pending is None or any(len(v) > _MAX_PARAM for v in params.values()):
        return failed
    if not hmac.compare_digest(params["state"].encode(), pending.state.encode()):
        return failed
    if params["iss"] != services.settings.issuer:  # RFC 9207: the answer names its issuer
        return failed
    if params["error"]:
        if params["error"] != "access_denied":
            return failed
        cancelled = message_page(request, 200, "cancelled", kind="notice")
        cancelled.cookies.append(expired_cookie(LOGIN_COOKIE, services, path=PREFIX + "/callback"))
        return cancelled
    answer = await Api(request.app, request.scope).post_form("/oauth/token", {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri(request),
        "client_id": WEB_CLIENT_ID, "code_verifier": pending.verifier,
    })
    if not answer.ok or not isinstance(answer.body, dict) or "access_token" not in answer.body:
        return failed
    token = str(answer.body["access_token"])
    claims = services.tokens.verify(token)
    if claims["role"] not in PORTAL_ROLES:
        refused = message_page(request, 403, "forbidden_role")
        refused.cookies.append(expired_cookie(LOGIN_COOKIE, services, path=PREFIX + "/callback"))
        return refused
    now = utcnow()
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    previous = await services.run_reads(store.load, request.cookies.get(SESSION_COOKIE), now)
    if previous is not None:
        # A new sign-in replaces the browser's old session rather than leaving it behind.
        await services.run_reads(store.drop, previous)
    secret = await services.run_reads(store.start, str(claims["sub"]), str(claims["role"]), token, expires,
                                      current_request_id(), now)
    response = _redirect(request, pending.next_path or HOME)
    response.cookies.append(cookie(SESSION_COOKIE, secret, services,
                                   max_age=max(1, int((expires - now).total_seconds()))))
    response.cookies.append(expired_cookie(LOGIN_COOKIE, services, path=PREFIX + "/callback"))
    return response


@post(PREFIX + "/logout", guards=[require_session], summary="Portal: sign out", include_in_schema=False,
      status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session: its row and the token sealed in it are deleted."""
    services = services_of(request)
    session: Session = request.scope[SCOPE_KEY]  # type: ignore[literal-required]
    await checked_form(request, session)
    await services.run_reads(SessionStore(services).end, session, current_request_id())
    response = _redirect(request, PREFIX + "?notice=signed_out")
    response.cookies.append(expired_cookie(SESSION_COOKIE, services))
    return response


@get(PREFIX + "/lang/{code:str}", summary="Portal: choose the language", include_in_schema=False)
async def choose_language(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    """Remember the language (a cookie) and go back to the page the person was on."""
    services = services_of(request)
    target = safe_page(request.query_params.get("next")) or PREFIX
    response = _redirect(request, target)
    if code in LANGUAGES:
        response.cookies.append(cookie(LANG_COOKIE, code, services, max_age=365 * 24 * 3600))
    return response


AUTH_HANDLERS = [landing, start_login, finish_login, logout, choose_language]
