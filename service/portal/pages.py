"""The person's pages: requests, consents, report and access log, for a subject or for
the ward a guardian acts for.

Every page is one or two calls of the ``/v1/me`` API with the session's token
(:class:`service.portal.api.Api`); what a page shows is what those calls return,
at most filtered down to the ward chosen. Actions are plain HTML forms that work
without JavaScript; each POST is checked for its anti-forgery token before the
API is called (:func:`service.portal.web.provide_visitor`), and answers with a
redirect to a page (post/redirect/get) carrying a one-time notice.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from policies.access import CHINA_STANDARD_TIME
from service.db.types import china_today, iso_z, utcnow
from service.portal import present
from service.portal.api import ApiError
from service.portal.rendering import NO_STORE, PREFIX, page, secured
from service.portal.sessions import SessionStore
from service.portal.web import (
    FLASH_COOKIE,
    Visitor,
    expired_cookie,
    flash_cookie,
    https,
    read_flash,
    require_session,
    safe_page,
    services_of,
)

Who = NamedDependency[Visitor]
GUARDS = [require_session]
_ID = re.compile(r"[0-9a-f]{32}")
#: Entries one access-log page lists, and how many it reads for the chart.
LOG_PAGE = 50
LOG_READ = 200


def _id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ApiError.of(404, "not_found")
    return value


def _render(request: Request[Any, Any, Any], visitor: Visitor, name: str, *, status: int = 200,
            **context: Any) -> Response[Any]:
    """A signed-in page, with the pending notice (shown once) and the security headers."""
    services = services_of(request)
    flash = read_flash(request)
    response = page(name, visitor.context(notice=flash, here=request.scope["path"], **context), status=status)
    if flash is not None:
        response.cookies.append(expired_cookie(FLASH_COOKIE, services, path=request.scope["path"]))
    return secured(response, https(services))


def _after(request: Request[Any, Any, Any], target: str, notice: str, item: str | None = None) -> Response[Any]:
    """Post/redirect/get: 303 to ``target`` with a notice for it."""
    services = services_of(request)
    response = Redirect(path=target, status_code=303, headers=dict(NO_STORE))
    response.cookies.append(flash_cookie(services, target, notice, item))
    return secured(response, https(services))


def _mine(visitor: Visitor, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items about the person whose pages these are (a guardian sees one ward at a time)."""
    return [i for i in items if i.get("subject") == visitor.subject]


def _subject_query(visitor: Visitor) -> dict[str, str]:
    return {"subject": visitor.subject} if visitor.role == "guardian" and visitor.subject else {}


async def _items(visitor: Visitor, path: str) -> list[dict[str, Any]]:
    """The items of a ``/v1/me`` list about the person whose pages these are."""
    body = await visitor.api.checked(visitor.api.get(path))
    return _mine(visitor, body["items"])


def _one(items: list[dict[str, Any]], item_id: str, code: str) -> dict[str, Any]:
    """The item with this id, or the refusal ``code`` (404) when it is not among them."""
    for item in items:
        if item["id"] == item_id:
            return item
    raise ApiError.of(404, code)


# --- requests -------------------------------------------------------------------------------------


async def _pending(visitor: Visitor) -> list[dict[str, Any]]:
    return await _items(visitor, "/v1/me/consent-requests")


@get(PREFIX + "/requests", guards=GUARDS, summary="Portal: pending consent requests", include_in_schema=False)
async def requests_page(request: Request[Any, Any, Any], visitor: Who) -> Response[Any]:
    """Every pending request for the person, in plain words."""
    return _render(request, visitor, "portal/requests.html", nav="requests", requests=await _pending(visitor))


async def _request_form(request: Request[Any, Any, Any], visitor: Visitor, request_id: str, *,
                        error: str | None = None, status: int = 200) -> Response[Any]:
    item = _one(await _pending(visitor), request_id, "request_not_pending")
    until = present.parse_time(item["validity"].get("until"))
    latest = until.astimezone(CHINA_STANDARD_TIME).date().isoformat() if until else None
    return _render(request, visitor, "portal/request.html", status=status, nav="requests", req=item,
                   error=error, latest_day=latest, today=china_today().isoformat())


@get(PREFIX + "/requests/{request_id:str}", guards=GUARDS, summary="Portal: one request, to decide",
     include_in_schema=False)
async def request_page(request: Request[Any, Any, Any], visitor: Who, request_id: FromPath[str]) -> Response[Any]:
    """The request in full, with the form to grant it (as asked or narrowed) or reject it."""
    return await _request_form(request, visitor, _id(request_id))


class _BadNumber(Exception):
    pass


def _whole(value: str) -> int:
    """A whole number as typed in a number field (ASCII digits, a sane length)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise _BadNumber
    return int(text)


def _end_of_day(day: date) -> datetime:
    """The end of a date in China (the next midnight there), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_STANDARD_TIME).astimezone(UTC)


def narrowing(visitor: Visitor, requested: dict[str, Any]) -> dict[str, Any]:
    """The grant body for the form: only what the person changed. Values wider than the
    request are passed on as they are, for the API to refuse: the rule lives there."""
    body: dict[str, Any] = {}
    chosen = sorted(set(visitor.form.get("categories", [])))
    if chosen != sorted(c["code"] for c in requested["categories"]):
        body["categories"] = chosen
    queries = _whole(visitor.field("max_queries"))
    if queries != requested["max_queries"]:
        body["max_queries"] = queries
    validity = requested["validity"]
    if "days" in validity:
        days = _whole(visitor.field("valid_days"))
        if days != validity["days"]:
            body["valid_days"] = days
    else:
        try:
            chosen_day = date.fromisoformat(visitor.field("valid_until_day"))
        except ValueError:
            raise _BadNumber from None
        until = present.parse_time(validity["until"])
        if until is None or chosen_day != until.astimezone(CHINA_STANDARD_TIME).date():
            body["valid_until"] = iso_z(_end_of_day(chosen_day))
    return body


@post(PREFIX + "/requests/{request_id:str}/grant", guards=GUARDS, summary="Portal: grant a request",
      include_in_schema=False, status_code=303)
async def grant(request: Request[Any, Any, Any], visitor: Who, request_id: FromPath[str]) -> Response[Any]:
    """Grant as asked or narrowed; then the consents page, with the receipt to download."""
    request_id = _id(request_id)
    requested = _one(await _pending(visitor), request_id, "request_not_pending")
    try:
        body = narrowing(visitor, requested)
    except _BadNumber:
        return await _request_form(request, visitor, request_id, error="form_invalid", status=400)
    answer = await visitor.api.post_json(f"/v1/me/consent-requests/{request_id}/grant", body or None)
    if answer.status in (400, 403, 409) and answer.code:
        return await _request_form(request, visitor, request_id, error=answer.code, status=answer.status)
    if not answer.ok:
        raise ApiError(answer)
    return _after(request, PREFIX + "/consents", "granted", answer.body["consent"]["id"])


@post(PREFIX + "/requests/{request_id:str}/reject", guards=GUARDS, summary="Portal: reject a request",
      include_in_schema=False, status_code=303)
async def reject(request: Request[Any, Any, Any], visitor: Who, request_id: FromPath[str]) -> Response[Any]:
    """Reject the request; the institution sees it rejected."""
    await visitor.api.checked(visitor.api.post_json(f"/v1/me/consent-requests/{_id(request_id)}/reject"))
    return _after(request, PREFIX + "/requests", "rejected")


# --- consents -------------------------------------------------------------------------------------


async def _consents(visitor: Visitor) -> list[dict[str, Any]]:
    return await _items(visitor, "/v1/me/consents")


@get(PREFIX + "/consents", guards=GUARDS, summary="Portal: my consents", include_in_schema=False)
async def consents_page(request: Request[Any, Any, Any], visitor: Who) -> Response[Any]:
    """Every consent with its state, uses left and end; revoke in one step."""
    return _render(request, visitor, "portal/consents.html", nav="consents", consents=await _consents(visitor))


@post(PREFIX + "/consents/{consent_id:str}/revoke", guards=GUARDS, summary="Portal: revoke a consent",
      include_in_schema=False, status_code=303)
async def revoke(request: Request[Any, Any, Any], visitor: Who, consent_id: FromPath[str]) -> Response[Any]:
    """Revoke at once (the confirmation is the form's own second step)."""
    consent_id = _id(consent_id)
    await visitor.api.checked(visitor.api.post_json(f"/v1/me/consents/{consent_id}/revoke"))
    return _after(request, PREFIX + "/consents", "revoked", consent_id)


@get(PREFIX + "/consents/{consent_id:str}/receipt", guards=GUARDS, summary="Portal: a consent's signed receipt",
     include_in_schema=False)
async def receipt(request: Request[Any, Any, Any], visitor: Who, consent_id: FromPath[str]) -> Response[Any]:
    """The receipt as the API returned it: a compact JWS, to keep or check."""
    consent_id = _id(consent_id)
    consent = _one(await _consents(visitor), consent_id, "not_found")
    response: Response[Any] = Response(
        consent["receipt"].encode("ascii"), media_type="application/jose",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="consent-{consent_id}.jws"'},
    )
    return secured(response, https(services_of(request)))


# --- report and access log -----------------------------------------------------------------------


@get(PREFIX + "/report", guards=GUARDS, summary="Portal: my credit report", include_in_schema=False)
async def report_page(request: Request[Any, Any, Any], visitor: Who) -> Response[Any]:
    """The person's own report: every record with its state, window and marks. Free and unlimited."""
    if visitor.subject is None:
        return _render(request, visitor, "portal/report.html", nav="report", report=None)
    body = await visitor.api.checked(visitor.api.get("/v1/me/report", _subject_query(visitor)))
    return _render(request, visitor, "portal/report.html", nav="report", report=body["report"])


@get(PREFIX + "/access-log", guards=GUARDS, summary="Portal: who looked at my data", include_in_schema=False)
async def access_log_page(request: Request[Any, Any, Any], visitor: Who) -> Response[Any]:
    """Every access, newest first, in plain words, with a chart of institution reads per day.
    ``before`` pages back; asked by htmx (``HX-Request``), only the next entries are sent."""
    fragment = request.headers.get("hx-request") == "true"
    template = "portal/_entries.html" if fragment else "portal/access_log.html"
    if visitor.subject is None:
        return _render(request, visitor, template, nav="log", entries=[], groups=[], chart=None, older=None,
                       total=0)
    raw_before = request.query_params.get("before")
    query: dict[str, str | int] = {**_subject_query(visitor), "limit": LOG_READ}
    if raw_before:
        if not raw_before.isdigit() or len(raw_before) > 18:
            raise ApiError.of(400, "validation_error")
        query["before"] = int(raw_before)
    body = await visitor.api.checked(visitor.api.get("/v1/me/access-log", query))
    items = body["items"]
    shown = items[:LOG_PAGE]
    older = shown[-1]["seq"] if len(items) > LOG_PAGE or body.get("next_before") else None
    chart = present.access_chart(items, china_today(utcnow())) if not raw_before else None
    return _render(request, visitor, template, nav="log", entries=shown, groups=present.by_day(shown),
                   chart=chart, older=older, total=body["total"])


# --- the ward switch ------------------------------------------------------------------------------


@post(PREFIX + "/ward", guards=GUARDS, summary="Portal: act for another ward", include_in_schema=False,
      status_code=303)
async def choose_ward(request: Request[Any, Any, Any], visitor: Who) -> Response[Any]:
    """A guardian picks the ward whose pages they see; only one of their own wards."""
    ward = visitor.field("ward")
    if ward not in visitor.wards:
        raise ApiError.of(404, "not_found")
    services = services_of(request)
    await services.run_reads(SessionStore(services).choose_ward, visitor.session, ward)
    return _after(request, safe_page(visitor.field("page")) or PREFIX + "/requests", "ward")


PAGE_HANDLERS = [requests_page, request_page, grant, reject, consents_page, revoke, receipt, report_page,
                 access_log_page, choose_ward]
