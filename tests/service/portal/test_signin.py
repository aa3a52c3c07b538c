"""Signing in and out of the portal: the code is exchanged server-side, the token stays in a
sealed row, the browser holds only the session cookie; sessions work across processes,
end on sign-out and on token expiry, and the callback refuses anything it did not start."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.testing import TestClient
from sqlalchemy import select, update

from policies import Role
from service.admin.registry import Actor, set_account_status
from service.audit_log.models import AuditEntryRow
from service.db.types import utcnow
from service.http.app import create_app
from service.portal.models import PortalSession
from service.portal.sessions import id_hash, seal, unseal
from service.runtime import Services, build_services
from tests.service.identity.tokens import login_form_fields, make_account
from tests.service.portal.conftest import People, csrf_of, sign_in


def _rows(services: Services, kind: str | None = None) -> list[PortalSession]:
    with services.session() as s:
        rows = list(s.execute(select(PortalSession)).scalars())
    return [r for r in rows if kind is None or r.kind == kind]


def _actions(services: Services, action: str) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        bodies = conn.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[arg-type,call-overload]
    return [e for e in (json.loads(bytes(b)) for b in bodies) if e["action"] == action]


def _set_cookie(resp: Any, name: str) -> str:
    found = [c for c in resp.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert found, resp.headers
    return found[-1]


def test_sign_in_keeps_the_token_on_the_server(portal: TestClient[Any], services: Services,
                                               people: People) -> None:
    done = sign_in(portal, people.person)
    assert done.status_code == 303 and done.headers["location"] == "/app/requests"
    header = _set_cookie(done, "cg_session")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes and "secure" not in attributes
    assert "Path=/app" in header and "SameSite=lax" in header
    assert 0 < int(header.split("Max-Age=")[1].split(";")[0]) <= 900
    secret = portal.cookies["cg_session"]
    # Only the hash of the cookie is stored, and the token is sealed under a key the cookie yields.
    (row,) = _rows(services, "session")
    assert row.id_hash == hashlib.sha256(secret.encode()).digest() and row.account_id == people.person.id
    opened = unseal(secret, row.sealed)
    assert opened is not None and opened["role"] == "subject"
    token = opened["token"]
    assert services.tokens.verify(token)["sub"] == people.person.id
    assert token.encode() not in row.sealed and secret.encode() not in row.sealed
    assert unseal("x" * 43, row.sealed) is None
    # The page works; the token never reaches the browser.
    page = portal.get("/app/requests")
    assert page.status_code == 200 and token not in page.text and token not in str(page.headers)
    assert _actions(services, "portal.sign_in")[-1]["actor_id"] == people.person.id
    # The pending sign-in was used up.
    assert _rows(services, "login") == []


def test_a_session_works_in_every_process_and_ends_in_all(portal: TestClient[Any], services: Services,
                                                          people: People) -> None:
    sign_in(portal, people.person)
    other = build_services(services.settings)
    other.start()
    try:
        with TestClient(create_app(services=other), base_url=services.settings.issuer) as second:
            second.cookies.set("cg_session", portal.cookies["cg_session"], path="/app")
            assert second.get("/app/consents").status_code == 200
            out = second.post("/app/logout", data={"csrf": csrf_of(second.get("/app/consents").text)},
                              follow_redirects=False)
            assert out.status_code == 303 and out.headers["location"] == "/app?notice=signed_out"
    finally:
        other.close()
    gone = portal.get("/app/consents", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/app?next=%2Fapp%2Fconsents")
    assert _rows(services, "session") == []
    assert _actions(services, "portal.sign_out")[-1]["actor_id"] == people.person.id


def test_sign_out_forgets_the_cookie(portal: TestClient[Any], services: Services, people: People) -> None:
    sign_in(portal, people.person)
    secret = portal.cookies["cg_session"]
    out = portal.post("/app/logout", data={"csrf": csrf_of(portal.get("/app/requests").text)},
                      follow_redirects=False)
    assert out.status_code == 303
    assert "cg_session=" in _set_cookie(out, "cg_session") and "Max-Age=0" in _set_cookie(out, "cg_session")
    landing = portal.get(out.headers["location"])
    assert landing.status_code == 200 and "您已退出登录" in landing.text
    # The old cookie, replayed, opens nothing.
    portal.cookies.set("cg_session", secret, path="/app")
    again = portal.get("/app/requests", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/app?")


def test_an_expired_session_signs_in_again_and_returns_to_the_page(portal: TestClient[Any], services: Services,
                                                                   people: People) -> None:
    sign_in(portal, people.person)
    with services.session() as s, s.begin():
        s.execute(update(PortalSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    back = portal.get("/app/consents", follow_redirects=False)
    assert back.status_code == 303
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query == {"next": ["/app/consents"], "notice": ["expired"]}
    landing = portal.get(back.headers["location"])
    assert "您的登录已过期" in landing.text and 'href="/app/login?next=%2Fapp%2Fconsents"' in landing.text
    done = sign_in(portal, people.person, next_page="/app/consents")
    assert done.status_code == 303 and done.headers["location"] == "/app/consents"


def test_an_expired_token_ends_the_session_and_a_post_does_nothing(portal: TestClient[Any], services: Services,
                                                                   people: People) -> None:
    request_id = people.ask(portal)
    sign_in(portal, people.person)
    csrf = csrf_of(portal.get(f"/app/requests/{request_id}").text)
    secret = portal.cookies["cg_session"]
    # The row still looks alive but the access token in it has expired.
    stale = services.tokens.issue(subject=people.person.id, client_id="creditgate-web", role="subject", scope="me",
                                  ttl=60, now=int(utcnow().timestamp()) - 3600)
    with services.session() as s, s.begin():
        s.execute(update(PortalSession).where(PortalSession.id_hash == id_hash(secret))  # type: ignore[arg-type]
                  .values(sealed=seal(secret, {"token": stale.access_token, "role": "subject"})))
    resp = portal.post(f"/app/requests/{request_id}/grant",
                       data={"csrf": csrf, "categories": ["identity"], "valid_days": "30", "max_queries": "3"},
                       follow_redirects=False)
    assert resp.status_code == 303
    assert parse_qs(urlsplit(resp.headers["location"]).query) == {
        "next": [f"/app/requests/{request_id}"], "notice": ["expired"]}
    assert _rows(services, "session") == []
    pending = portal.get("/v1/me/consent-requests", headers=_bearer(services, people))
    assert [r["id"] for r in pending.json()["items"]] == [request_id]


def _bearer(services: Services, people: People) -> dict[str, str]:
    token = services.tokens.issue(subject=people.person.id, client_id="creditgate-web", role="subject", scope="me")
    return {"Authorization": f"Bearer {token.access_token}"}


def test_a_disabled_account_is_signed_out_at_once(portal: TestClient[Any], services: Services,
                                                  people: People) -> None:
    sign_in(portal, people.person)
    assert portal.get("/app/requests").status_code == 200
    set_account_status(services, actor=Actor("operator", "test"), account_id=people.person.id, status="disabled")
    resp = portal.get("/app/requests", follow_redirects=False)
    assert resp.status_code == 303 and "notice=expired" in resp.headers["location"]
    assert _rows(services, "session") == []


def _authorize_answer(portal: TestClient[Any], people: People, *, cancel: bool = False) -> tuple[str, dict[str, str]]:
    start = portal.get("/app/login", follow_redirects=False)
    page = portal.get(start.headers["location"])
    form = login_form_fields(page.text)
    if cancel:
        form["action"] = "cancel"
    else:
        form.update({"username": people.person.username, "password": people.person.password, "action": "login"})
    back = portal.post("/oauth/authorize", data=form, follow_redirects=False)
    target = urlsplit(back.headers["location"])
    return target.path, {k: v[0] for k, v in parse_qs(target.query).items()}


def test_the_callback_accepts_only_the_sign_in_it_started(portal: TestClient[Any], services: Services,
                                                          people: People) -> None:
    path, query = _authorize_answer(portal, people)
    cookie = portal.cookies["cg_login"]
    for changed in ({"state": "forged-state"}, {"iss": "http://127.0.0.1:1"}, {"state": ""}):
        portal.cookies.set("cg_login", cookie, path="/app/callback")
        resp = portal.get(path, params={**query, **changed}, follow_redirects=False)
        assert resp.status_code == 400 and "登录未能完成" in resp.text
    # Each refusal used the pending sign-in up: the right answer now finds nothing either.
    portal.cookies.set("cg_login", cookie, path="/app/callback")
    assert portal.get(path, params=query, follow_redirects=False).status_code == 400
    # No cookie at all.
    path, query = _authorize_answer(portal, people)
    portal.cookies.delete("cg_login")
    assert portal.get(path, params=query, follow_redirects=False).status_code == 400
    assert _rows(services, "session") == []
    # The same code twice: the second exchange is refused by the token endpoint.
    path, query = _authorize_answer(portal, people)
    cookie = portal.cookies["cg_login"]
    assert portal.get(path, params=query, follow_redirects=False).status_code == 303
    portal.cookies.set("cg_login", cookie, path="/app/callback")
    assert portal.get(path, params=query, follow_redirects=False).status_code == 400
    assert len(_rows(services, "session")) == 1


def test_cancelling_the_login_signs_nobody_in(portal: TestClient[Any], services: Services, people: People) -> None:
    path, query = _authorize_answer(portal, people, cancel=True)
    assert query["error"] == "access_denied"
    resp = portal.get(path, params=query, follow_redirects=False)
    assert resp.status_code == 200 and "登录已取消" in resp.text
    assert _rows(services, "session") == []


def test_roles_without_pages_are_not_signed_in(portal: TestClient[Any], services: Services) -> None:
    operator = make_account(services, Role.OPERATOR)
    resp = sign_in(portal, operator)
    assert resp.status_code == 403 and "您的账户不能使用这些页面" in resp.text
    assert _rows(services, "session") == [] and "cg_session" not in portal.cookies


def test_only_portal_pages_are_return_targets(portal: TestClient[Any], services: Services, people: People) -> None:
    for target in ("https://evil.example/app", "//evil.example/app", "/app/../oauth/token", "/v1/me", "/app?x=1"):
        start = portal.get("/app/login", params={"next": target}, follow_redirects=False)
        assert start.status_code == 303
        (row,) = [r for r in _rows(services, "login") if r.next_path is None or r.next_path == target][-1:]
        assert row.next_path is None
        lang = portal.get("/app/lang/en", params={"next": target}, follow_redirects=False)
        assert lang.headers["location"] == "/app"
    done = sign_in(portal, people.person, next_page="https://evil.example/")
    assert done.headers["location"] == "/app/requests"
