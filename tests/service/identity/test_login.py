"""Password login: argon2id, identical failures, lock-out after 5 failures for 15 minutes, all audited."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import update

from policies import Role
from service.admin.registry import Actor, set_account_status
from service.db.types import utcnow
from service.identity.login import LOGIN_FAILED_MESSAGE, authenticate_password
from service.identity.models import Account
from service.identity.policy import LOCKOUT_DURATION, MAX_FAILED_LOGINS
from service.runtime import Services
from tests.service.identity.conftest import REDIRECT_URI, audit_entries
from tests.service.identity.tokens import authorize, code_from, make_account


def _account(services: Services, account_id: str) -> Account:
    with services.session() as s:
        account = s.get(Account, account_id)
        assert account is not None
        return account


def test_password_is_stored_as_argon2id(services: Services) -> None:
    person = make_account(services, Role.GUARDIAN)
    stored = _account(services, person.id).password_hash
    assert stored.startswith("$argon2id$") and person.password not in stored


def test_lockout_after_five_failures(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    for attempt in range(1, MAX_FAILED_LOGINS):
        outcome = authenticate_password(services, person.username, "wrong password!!")
        assert not outcome.ok and outcome.reason == "bad_password"
        assert _account(services, person.id).failed_logins == attempt
    last = authenticate_password(services, person.username, "wrong password!!")
    assert last.reason == "bad_password"
    locked = _account(services, person.id)
    assert locked.locked_until is not None
    remaining = locked.locked_until - utcnow()
    assert LOCKOUT_DURATION - timedelta(seconds=30) < remaining <= LOCKOUT_DURATION
    # Now even the right password is refused, without revealing why.
    refused = authenticate_password(services, person.username, person.password)
    assert not refused.ok and refused.reason == "account_locked"
    lockouts = audit_entries(services, "auth.lockout")
    assert len(lockouts) == 1 and lockouts[0]["actor_id"] == person.id
    reasons = [e["reason"] for e in audit_entries(services, "auth.login")]
    assert reasons == ["bad_password"] * MAX_FAILED_LOGINS + ["account_locked"]


def test_lock_expires_and_success_resets_the_count(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    for _ in range(MAX_FAILED_LOGINS):
        authenticate_password(services, person.username, "wrong password!!")
    with services.session() as s, s.begin():
        s.execute(update(Account).where(Account.id == person.id)  # type: ignore[arg-type]
                  .values(locked_until=utcnow() - timedelta(seconds=1)))
    assert authenticate_password(services, person.username, person.password).ok
    after = _account(services, person.id)
    assert after.failed_logins == 0 and after.locked_until is None
    # Failures that are not consecutive never lock.
    for _ in range(2):
        for _ in range(MAX_FAILED_LOGINS - 1):
            authenticate_password(services, person.username, "wrong password!!")
        assert authenticate_password(services, person.username, person.password).ok
    assert _account(services, person.id).locked_until is None


def test_concurrent_guesses_cannot_exceed_the_limit(services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: authenticate_password(services, person.username, "guess guess guess"),
                                 range(12)))
    reasons = sorted(o.reason for o in outcomes)
    # Exactly five guesses were checked; every later one hit the lock.
    assert reasons.count("bad_password") == MAX_FAILED_LOGINS
    assert reasons.count("account_locked") == 12 - MAX_FAILED_LOGINS
    assert len(audit_entries(services, "auth.lockout")) == 1


def test_disabled_account_cannot_log_in(services: Services) -> None:
    person = make_account(services, Role.AUDITOR)
    set_account_status(services, actor=Actor("operator", "t"), account_id=person.id, status="disabled")
    outcome = authenticate_password(services, person.username, person.password)
    assert not outcome.ok and outcome.reason == "account_disabled"


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


def test_locked_account_gets_no_code_through_the_form(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    for _ in range(MAX_FAILED_LOGINS):
        resp, _ = authorize(client, person.username, "wrong password!!", redirect_uri=REDIRECT_URI)
        assert resp.status_code == 200
    resp, _ = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    assert resp.status_code == 200 and "location" not in resp.headers
    assert "temporarily locked" in resp.text
    with services.session() as s, s.begin():
        s.execute(update(Account).where(Account.id == person.id)  # type: ignore[arg-type]
                  .values(locked_until=utcnow() - timedelta(seconds=1)))
    ok, _ = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    assert code_from(ok)
