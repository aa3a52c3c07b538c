"""/schema works in a closed network: the page and everything it loads come from the service."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from policies import Role
from service.http.apidocs import ASSETS, SWAGGER_UI_VERSION
from service.runtime import Services
from tests.service.identity.tokens import issue_token_for


def test_the_page_loads_nothing_from_elsewhere(http: Any) -> None:
    page = http.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    links = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page.text)
    assert links, page.text
    assert all(link.startswith("/schema/") for link in links), links
    assert "<script>" not in page.text  # no inline script: a strict CSP can apply
    assert "//" not in "".join(links)
    assert http.get("/schema/swagger").text == page.text


def test_every_file_the_page_names_is_served(http: Any) -> None:
    page = http.get("/schema").text
    for link in re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page):
        asset = http.get(link)
        assert asset.status_code == 200, link
        assert asset.headers["content-type"].split(";")[0] in {"text/javascript", "text/css"}
        assert asset.content == (ASSETS / Path(link).name).read_bytes()
    spec_url = re.search(r"data-spec-url='([^']+)'", page)
    assert spec_url and http.get(spec_url.group(1)).json()["info"]["title"] == "creditgate"


def test_only_the_shipped_assets_are_served(http: Any) -> None:
    for name in ("README", "LICENSE", "..%2F__init__.py", "nope.js"):
        assert http.get(f"/schema/assets/{name}").status_code == 404


def test_vendored_files_are_the_pinned_release() -> None:
    readme = (ASSETS / "README").read_text()
    assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}" in readme
    digests = dict(line.split()[::-1] for line in readme.splitlines() if re.fullmatch(r"[0-9a-f]{64}  \S+", line))
    assert set(digests) == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in digests.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest


def test_the_root_points_to_the_portal_docs_and_health(http: Any) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for href in ("/app/", "/schema", "/health"):
        assert f"href='{href}'" in page.text
    as_json = http.get("/", headers={"Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["links"]["api_docs"] == "/schema"


def test_head_answers_wherever_get_does_with_no_body(http: Any) -> None:
    for path in ("/health", "/oauth/jwks", "/.well-known/oauth-authorization-server", "/", "/schema"):
        got, head = http.get(path), http.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers.get("content-length") == got.headers.get("content-length")
    assert http.head("/v1/me/report").status_code == 401  # guarded as GET is
    assert http.head("/v1/records").status_code == 405  # POST only


def test_content_type_names_its_charset_once(http: Any, services: Services) -> None:
    operator = issue_token_for(services, Role.OPERATOR).headers
    for path in ("/", "/schema", "/health", "/metrics", "/oauth/jwks", "/schema/assets/init.js"):
        content_type = http.get(path, headers=operator).headers["content-type"]
        assert content_type.count("charset") <= 1, (path, content_type)
    login = http.get("/oauth/authorize", params={"response_type": "code", "client_id": "creditgate-web"})
    assert login.headers["content-type"].count("charset") == 1, login.headers["content-type"]
    assert http.get("/metrics", headers=operator).headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
