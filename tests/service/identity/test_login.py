"""Password login: argon2id, identical failures, throttling per client source, all audited.

Failed logins slow down the source they come from, and nothing else: the
account's owner signs in from another source, tokens and client credentials
already issued keep working, an operator lifts a lock-out with ``enable``, and
the counts live in the database, shared by every service process.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role
from service.admin.registry import Actor, set_account_status
from service.db.types import utcnow
from service.http.app import create_app
from service.identity import login
from service.identity.login import LOGIN_FAILED_MESSAGE, authenticate_password
from service.identity.models import Account
from service.identity.policy import ACCOUNT_SOURCE_THROTTLE, ThrottleRule
from service.observability.logging import configure_logging
from service.runtime import Services, build_services
from tests.service.identity.conftest import REDIRECT_URI, audit_entries
from tests.service.identity.tokens import (
    authorize,
    basic_auth,
    code_from,
    issue_token_for,
    make_account,
    token_for_account,
)

A, B = "198.51.100.7", "203.0.113.9"  # two client sources (documentation ranges)
FREE = ACCOUNT_SOURCE_THROTTLE.free_failures
OP = Actor("operator", "test")


def _account(services: Services, account_id: str) -> Account:
    with services.session() as s:
        account = s.get(Account, account_id)
        assert account is not None
        return account


def _try(services: Services, username: str, password: str, source: str, **kw: Any) -> str:
    return authenticate_password(services, username, password, client_address=source, **kw).reason


def test_password_is_stored_as_argon2id(services: Services) -> None:
    person = make_account(services, Role.GUARDIAN)
    stored = _account(services, person.id).password_hash
    assert stored.startswith("$argon2id$") and person.password not in stored


def test_failures_block_only_their_source_with_growing_delays(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    now = utcnow()
    for _ in range(FREE):
        assert _try(services, person.username, "wrong password!!", A, now=now) == "bad_password"
    # Source A is blocked for this account, even with the right password, without a check.
    assert _try(services, person.username, person.password, A, now=now) == "source_blocked"
    # The owner signing in from anywhere else is not.
    assert _try(services, person.username, person.password, B, now=now) == "password_ok"
    # The first block lasts a minute; the next failure from A blocks it for two.
    after_first = now + ACCOUNT_SOURCE_THROTTLE.first_delay + timedelta(seconds=1)
    assert _try(services, person.username, "wrong password!!", A, now=after_first) == "bad_password"
    still = after_first + ACCOUNT_SOURCE_THROTTLE.first_delay + timedelta(seconds=1)
    assert _try(services, person.username, person.password, A, now=still) == "source_blocked"
    after_second = after_first + 2 * ACCOUNT_SOURCE_THROTTLE.first_delay + timedelta(seconds=1)
    assert _try(services, person.username, person.password, A, now=after_second) == "password_ok"
    # A success forgets the source's failures: it starts from zero again.
    for _ in range(FREE - 1):
        _try(services, person.username, "wrong password!!", A, now=after_second)
    assert _try(services, person.username, person.password, A, now=after_second) == "password_ok"
    # The account itself was never touched.
    stored = _account(services, person.id)
    assert stored.status == "active" and stored.locked_until is None


def test_the_block_grows_and_is_bounded() -> None:
    rule = ThrottleRule(free_failures=5, first_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
                        forget_after=timedelta(days=1))
    assert [rule.block_for(n) for n in range(1, 5)] == [None] * 4
    assert [rule.block_for(n) for n in (5, 6, 7, 8)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert rule.block_for(11) == timedelta(hours=1) and rule.block_for(10_000) == timedelta(hours=1)


@pytest.fixture
def logs_restored() -> Iterator[None]:
    """Logging goes back to the real stderr after a test that pointed it at its capture."""
    yield
    configure_logging("INFO", sys.__stderr__)


def test_lock_events_are_audited_and_logged(services: Services, capsys: pytest.CaptureFixture[str],
                                            logs_restored: None) -> None:
    configure_logging("INFO")  # onto this test's captured stderr
    person = make_account(services, Role.AUDITOR)
    for _ in range(FREE):
        _try(services, person.username, "wrong password!!", A)
    refused = [_try(services, person.username, person.password, A) for _ in range(3)]
    assert refused == ["source_blocked"] * 3
    [lockout] = audit_entries(services, "auth.lockout")
    assert (lockout["actor_id"], lockout["reason"]) == (person.id, "too_many_failures")
    assert lockout["details"]["scope"] == "account" and lockout["details"]["minutes"] == 1
    source = lockout["details"]["source"]
    assert re.fullmatch(r"[0-9a-f]{32}", source) and A not in json.dumps(lockout)  # a keyed hash, not the address
    # Refusals of a blocked source change nothing and are not audited: they cannot flood the log.
    reasons = [e["reason"] for e in audit_entries(services, "auth.login")]
    assert reasons == ["bad_password"] * FREE
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    lock_lines = [line for line in lines if line.get("event") == "login_lockout"]
    assert [(line["client"], line["account_id"], line["source"]) for line in lock_lines] == [(A, person.id, source)]
    assert len([line for line in lines if line.get("event") == "login_throttled"]) == 3


def test_concurrent_guesses_cannot_exceed_the_limit(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: _try(services, person.username, "guess guess guess", A), range(12)))
    # Exactly five guesses were checked; every later one hit the block.
    assert sorted(outcomes) == ["bad_password"] * FREE + ["source_blocked"] * (12 - FREE)
    assert len(audit_entries(services, "auth.lockout")) == 1


def test_a_source_guessing_across_accounts_is_blocked_as_a_whole(services: Services,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login, "ADDRESS_THROTTLE", ThrottleRule(
        free_failures=3, first_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
        forget_after=timedelta(hours=1)))
    person = make_account(services, Role.SUBJECT)
    for name in ("nobody-one", "nobody-two", "nobody-three"):
        assert _try(services, name, "wrong password!!", A) == "unknown_account"
    # Now every login from A is refused unchecked, even a right one at an untouched account...
    assert _try(services, person.username, person.password, A) == "source_blocked"
    # ...and from B the person signs in as usual.
    assert _try(services, person.username, person.password, B) == "password_ok"
    [lockout] = audit_entries(services, "auth.lockout")
    assert (lockout["actor_id"], lockout["details"]["scope"]) == ("unknown", "address")


def test_the_counts_are_shared_by_every_service_process(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    other = build_services(services.settings)  # a second process on the same database
    other.start()
    try:
        for n in range(FREE):
            _try(services if n % 2 else other, person.username, "wrong password!!", A)
        assert _try(other, person.username, person.password, A) == "source_blocked"
        assert _try(services, person.username, person.password, A) == "source_blocked"
    finally:
        other.close()


def test_disabled_account_cannot_log_in(services: Services) -> None:
    person = make_account(services, Role.AUDITOR)
    set_account_status(services, actor=OP, account_id=person.id, status="disabled")
    assert _try(services, person.username, person.password, A) == "account_disabled"


# --- over HTTP: sources behind a trusted proxy --------------------------------------------------


@pytest.fixture
def proxied(services: Services) -> Iterator[TestClient[Any]]:
    """The app behind a reverse proxy at 10.0.0.1, which names each client in X-Forwarded-For."""
    services.settings = replace(services.settings, trusted_proxies=("10.0.0.0/8",))
    app = create_app(services=services)

    async def behind_proxy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": ("10.0.0.1", 41000)}
        await app(scope, receive, send)

    with TestClient(behind_proxy, raise_server_exceptions=False) as c:  # type: ignore[arg-type]
        yield c


def _from(source: str) -> dict[str, str]:
    # A client's own claim further left is never believed; the proxy appends the real peer.
    return {"X-Forwarded-For": f"6.6.6.6, {source}"}


def _error_text(page: str) -> str:
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert match, page
    return match.group(1)


def test_unknown_user_and_bad_password_look_the_same(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    bad_password, _ = authorize(client, person.username, "definitely wrong", redirect_uri=REDIRECT_URI)
    unknown, _ = authorize(client, "no-such-person", "definitely wrong", redirect_uri=REDIRECT_URI)
    malformed, _ = authorize(client, "11010519491231002X", "definitely wrong", redirect_uri=REDIRECT_URI)
    for resp in (bad_password, unknown, malformed):
        assert resp.status_code == 200 and "location" not in resp.headers
    assert _error_text(bad_password.text) == _error_text(unknown.text) == _error_text(malformed.text)
    assert "incorrect" in _error_text(unknown.text)
    assert "11010519491231002X" not in malformed.text and f'value="{person.username}"' in bad_password.text
    assert LOGIN_FAILED_MESSAGE.split("。")[0] in bad_password.text
    # The audit log knows the difference, names only the account id, and never a username.
    logins = audit_entries(services, "auth.login")
    assert [(e["actor_id"], e["reason"]) for e in logins] == [
        (person.id, "bad_password"), ("unknown", "unknown_account"), ("unknown", "unknown_account")]
    everything = str(audit_entries(services))
    for typed in (person.username, "no-such-person", "11010519491231002X"):
        assert typed not in everything


def test_a_blocked_source_gets_no_code_and_the_owner_signs_in_elsewhere(proxied: TestClient[Any],
                                                                        services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    for _ in range(FREE):
        resp, _ = authorize(proxied, person.username, "wrong password!!", redirect_uri=REDIRECT_URI,
                            headers=_from(A))
        assert resp.status_code == 200
    resp, _ = authorize(proxied, person.username, person.password, redirect_uri=REDIRECT_URI, headers=_from(A))
    assert resp.status_code == 200 and "location" not in resp.headers
    assert "temporarily locked" in resp.text
    assert code_from(authorize(proxied, person.username, person.password, redirect_uri=REDIRECT_URI,
                               headers=_from(B))[0])


def test_failed_logins_never_stop_issued_tokens_or_client_credentials(proxied: TestClient[Any],
                                                                      services: Services) -> None:
    operator = issue_token_for(services, Role.OPERATOR)
    auditor = issue_token_for(services, Role.AUDITOR)
    assert operator.account is not None and auditor.account is not None
    tool = proxied.post("/v1/admin/clients", headers=operator.headers,
                        json={"owner_type": "auditor_tool", "owner_id": auditor.actor_id}).json()
    for victim in (operator.account, auditor.account):
        for _ in range(FREE + 2):
            authorize(proxied, victim.username, "wrong password!!", redirect_uri=REDIRECT_URI, headers=_from(A))
    assert len(audit_entries(services, "auth.lockout")) >= 2
    # The operator's live token still works everywhere, the auditor's tool still gets tokens.
    listed = proxied.post(f"/v1/admin/accounts/{auditor.actor_id}/disable", headers=operator.headers)
    assert listed.status_code == 200, listed.text
    assert proxied.post(f"/v1/admin/accounts/{auditor.actor_id}/enable", headers=operator.headers).status_code == 200
    form = {"grant_type": "client_credentials"}
    issued = proxied.post("/oauth/token", data=form, headers=basic_auth(tool["client_id"], tool["client_secret"]))
    assert issued.status_code == 200, issued.text
    assert proxied.get("/metrics", headers=operator.headers).status_code == 200


def test_enable_lifts_a_lock_out_on_an_active_account(proxied: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    operator = issue_token_for(services, Role.OPERATOR)
    for _ in range(FREE):
        authorize(proxied, person.username, "wrong password!!", redirect_uri=REDIRECT_URI, headers=_from(A))
    blocked, _ = authorize(proxied, person.username, person.password, redirect_uri=REDIRECT_URI, headers=_from(A))
    assert "location" not in blocked.headers
    enabled = proxied.post(f"/v1/admin/accounts/{person.id}/enable", headers=operator.headers)
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"
    [unlock] = audit_entries(services, "admin.account.unlock")
    assert unlock["details"] == {"account_id": person.id, "sources": 1}
    assert code_from(authorize(proxied, person.username, person.password, redirect_uri=REDIRECT_URI,
                               headers=_from(A))[0])
    # A token issued to the person meanwhile was never affected either.
    mine = token_for_account(services, person)
    assert proxied.get("/v1/me/consents", headers=mine.headers).status_code == 200
