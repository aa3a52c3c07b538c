"""Fixtures for the portal: an app whose issuer is the address the client uses, people with
requests and consents, and signing in through the real login page."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient

from policies import Role
from service.config import Settings
from service.http.app import create_app
from service.runtime import Services
from tests.service.identity.tokens import Caller, TestAccount, issue_token_for, login_form_fields, make_account

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, key_file: Path, port: int) -> Settings:
    """Settings whose issuer is the address the portal is reached at (its redirect URI and
    the cookies' host must match)."""
    return Settings(data_dir=tmp_path, database_url=db_url, key_file=key_file, issuer=f"http://127.0.0.1:{port}")


@pytest.fixture
def portal(services: Services) -> Iterator[TestClient[Any]]:
    """A client on the app, at the issuer's address."""
    with TestClient(create_app(services=services), base_url=services.settings.issuer,
                    raise_server_exceptions=False) as client:
        yield client


def csrf_of(page: str) -> str:
    """The anti-forgery token in a page's forms."""
    match = _CSRF.search(page)
    assert match, "no form with a csrf field on the page"
    return match.group(1)


def sign_in(client: TestClient[Any], account: TestAccount, next_page: str | None = None) -> Any:
    """Sign in through the portal and the real login page; the response after the callback."""
    start = client.get("/app/login", params={"next": next_page} if next_page else None, follow_redirects=False)
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    assert location.startswith("/oauth/authorize?")
    page = client.get(location)
    assert page.status_code == 200, page.text
    form = login_form_fields(page.text)
    form.update({"username": account.username, "password": account.password, "action": "login"})
    back = client.post("/oauth/authorize", data=form, follow_redirects=False)
    assert back.status_code == 302, back.text
    target = urlsplit(back.headers["location"])
    return client.get(f"{target.path}?{target.query}", follow_redirects=False)


@dataclass
class People:
    """A bank, a subject with a pending request, helpers to ask for more."""

    services: Services
    bank: Caller
    person: TestAccount

    def ask(self, client: TestClient[Any], id_number: str | None = None, **terms: Any) -> str:
        """A consent request from the bank; returns its id."""
        body = {"id_number": id_number or self.person.id_number, "purpose": "loan_approval",
                "categories": ["identity", "judicial_enforcement", "tax"], "valid_days": 30, "max_queries": 3,
                "reason": "个人住房贷款审批", **terms}
        resp = client.post("/v1/consent-requests", headers=self.bank.headers, json=body)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])


@pytest.fixture
def people(services: Services) -> People:
    return People(services, issue_token_for(services, Role.INSTITUTION), make_account(services, Role.SUBJECT))
