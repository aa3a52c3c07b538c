"""The portal's defences from the outside: forged forms change nothing, every response
carries the security headers, pages hold no inline script or style, URLs and logs carry
no personal data, and cookies are Secure on https."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import func, select

from policies import Role
from service.audit_log.models import AuditEntryRow
from service.http.app import create_app
from service.portal.rendering import CONTENT_SECURITY_POLICY, STATIC, TEMPLATES
from service.runtime import Services, build_services
from tests.service.identity.tokens import make_account, make_guardianship, new_resident_id, token_for_account
from tests.service.portal.conftest import People, csrf_of, sign_in


def _entries(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one())


def _other_session_csrf(services: Services) -> str:
    """A genuine anti-forgery token, but of somebody else's session (from another process:
    an app closes its services when it stops)."""
    second = build_services(services.settings)
    second.start()
    try:
        with TestClient(create_app(services=second), base_url=services.settings.issuer) as other:
            sign_in(other, make_account(second, Role.SUBJECT))
            return csrf_of(other.get("/app/requests").text)
    finally:
        second.close()


def test_forged_forms_change_nothing(portal: TestClient[Any], services: Services, people: People) -> None:
    pending, to_revoke = people.ask(portal), people.ask(portal)
    sign_in(portal, people.person)
    page = portal.get(f"/app/requests/{to_revoke}").text
    portal.post(f"/app/requests/{to_revoke}/grant", data={
        "csrf": csrf_of(page), "categories": ["identity"], "valid_days": "30", "max_queries": "3"})
    consent = portal.get("/v1/me/consents", headers=token_for_account(services, people.person).headers)
    consent_id = consent.json()["items"][0]["id"]
    good = csrf_of(portal.get("/app/requests").text)
    foreign = _other_session_csrf(services)
    grant = {"categories": ["identity"], "valid_days": "30", "max_queries": "3"}
    actions = [
        (f"/app/requests/{pending}/grant", grant),
        (f"/app/requests/{pending}/reject", {}),
        (f"/app/consents/{consent_id}/revoke", {}),
        ("/app/ward", {"ward": people.person.subject_id or "", "page": "/app/requests"}),
        ("/app/logout", {}),
    ]
    forgeries: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("no token", {}, {}),
        ("empty token", {"csrf": ""}, {}),
        ("another session's token", {"csrf": foreign}, {}),
        ("a made-up token", {"csrf": good[:-2] + ("AA" if not good.endswith("AA") else "BB")}, {}),
        ("another origin", {"csrf": good}, {"Origin": "https://evil.example"}),
        ("a cross-site fetch", {"csrf": good}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    before = _entries(services)
    for path, fields in actions:
        for name, token, headers in forgeries:
            resp = portal.post(path, data={**fields, **token}, headers=headers, follow_redirects=False)
            assert resp.status_code == 403, (path, name, resp.status_code)
            assert "表单无法验证，未做任何更改" in resp.text, (path, name)
        # A JSON body, even with the right token in it.
        resp = portal.post(path, json={**fields, "csrf": good}, follow_redirects=False)
        assert resp.status_code == 403, (path, "json")
    # Nothing happened: no audit entry, the request pending, the consent active, still signed in.
    assert _entries(services) == before
    headers = token_for_account(services, people.person).headers
    assert [r["id"] for r in portal.get("/v1/me/consent-requests", headers=headers).json()["items"]] == [pending]
    assert portal.get(f"/v1/consents/{consent_id}", headers=people.bank.headers).json()["state"] == "active"
    assert portal.get("/app/consents").status_code == 200
    # The same forms with the right token do work (the check refuses forgeries, not everything).
    same_site = {"Origin": services.settings.issuer, "Sec-Fetch-Site": "same-origin"}
    done = portal.post(f"/app/requests/{pending}/reject", data={"csrf": good}, headers=same_site,
                       follow_redirects=False)
    assert done.status_code == 303


def _check_headers(resp: Any, *, html: bool) -> None:
    assert resp.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert resp.headers["x-frame-options"] == "DENY" and resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    if html:
        assert resp.headers["cache-control"] == "no-store"


_INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script element without src
    re.compile(r"<script[^>]*>[^<]+</script>", re.I),  # a script with a body
    re.compile(r"<style", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),
    re.compile(r"javascript:", re.I),
]


def _no_inline_code(text: str, where: str) -> None:
    for pattern in _INLINE:
        assert not pattern.search(text), f"{where}: {pattern.pattern}"


def test_every_portal_response_carries_the_headers(portal: TestClient[Any], services: Services,
                                                   people: People) -> None:
    request_id = people.ask(portal)
    _check_headers(portal.get("/app"), html=True)
    _check_headers(portal.get("/app/login", follow_redirects=False), html=False)
    _check_headers(portal.get("/app/static/portal.css"), html=False)
    _check_headers(portal.get("/app/requests", follow_redirects=False), html=False)  # sign-in redirect
    sign_in(portal, people.person)
    pages = ["/app/requests", f"/app/requests/{request_id}", "/app/consents", "/app/report", "/app/access-log"]
    for path in pages:
        resp = portal.get(path)
        assert resp.status_code == 200
        _check_headers(resp, html=True)
        _no_inline_code(resp.text, path)
        # htmx comes from the service itself.
        assert '<script src="/app/static/vendor/htmx-2.0.11.min.js" defer></script>' in resp.text
    for path in ("/app/requests/" + "0" * 32, "/app/consents/nothex/receipt"):
        resp = portal.get(path)
        assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
        _check_headers(resp, html=True)
    forged = portal.post("/app/logout", data={})
    assert forged.status_code == 403
    _check_headers(forged, html=True)
    vendored = portal.get("/app/static/vendor/htmx-2.0.11.min.js")
    assert vendored.status_code == 200 and vendored.content == (STATIC / "vendor" / "htmx-2.0.11.min.js").read_bytes()


def test_templates_and_assets_hold_no_inline_code_and_no_outside_address() -> None:
    for path in [*TEMPLATES.rglob("*.html"), STATIC / "portal.css"]:
        text = path.read_text("utf-8")
        _no_inline_code(text, str(path))
        assert not re.search(r"(src|href|action)=\"(https?:)?//", text), path
        assert "@import" not in text and "url(" not in text, path


def test_urls_and_logs_carry_no_personal_data(portal: TestClient[Any], services: Services, people: People,
                                              caplog: Any, capfd: Any) -> None:
    guardian = make_account(services, Role.GUARDIAN)
    ward_number = new_resident_id(age=9)
    make_guardianship(services, guardian.id, ward_number)
    request_id = people.ask(portal)
    sign_in(portal, people.person)
    links: set[str] = set()
    for path in ("/app/requests", f"/app/requests/{request_id}", "/app/consents", "/app/report", "/app/access-log"):
        links.update(re.findall(r'(?:href|action|src|hx-get)="([^"]+)"', portal.get(path).text))
    allowed = re.compile(r"#main|/app(/[a-z0-9_./-]*)?(\?(next=/app[a-z0-9/-]*|before=[0-9]+))?")
    assert links and [link for link in links if not allowed.fullmatch(link)] == []
    person_values = [people.person.id_number or "", ward_number, "张三"]
    for value in person_values:
        assert all(value not in link for link in links)
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert "/app/requests" in logged
    for value in person_values:
        assert value not in logged
    # Neither the session secret nor the code ever reaches a log line.
    assert portal.cookies["cg_session"] not in logged


def test_cookies_are_secure_on_https(services: Services) -> None:
    settings = dataclasses.replace(services.settings, issuer="https://portal.example")
    https = build_services(settings)
    https.start()
    try:
        with TestClient(create_app(services=https), base_url="https://portal.example") as client:
            lang = client.get("/app/lang/en", follow_redirects=False)
            assert "Secure" in lang.headers["set-cookie"] and "HttpOnly" in lang.headers["set-cookie"]
            start = client.get("/app/login", follow_redirects=False)
            login_cookie = next(c for c in start.headers.get_list("set-cookie") if c.startswith("cg_login="))
            assert "Secure" in login_cookie and "Path=/app/callback" in login_cookie
            assert "redirect_uri=https%3A%2F%2Fportal.example%2Fapp%2Fcallback" in start.headers["location"]
            assert client.get("/app").headers["strict-transport-security"] == "max-age=31536000"
    finally:
        https.close()


def test_static_files_are_only_the_portal_assets(portal: TestClient[Any]) -> None:
    for path in ("/app/static/../routes.py", "/app/static/%2e%2e/routes.py", "/app/static/nothing.css"):
        assert portal.get(path).status_code == 404
    served = {p.relative_to(STATIC).as_posix() for p in Path(STATIC).rglob("*") if p.is_file()}
    assert served == {"portal.css", "vendor/htmx-2.0.11.min.js", "vendor/htmx-LICENSE.txt"}
