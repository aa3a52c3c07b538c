"""Password login with lock-out, every outcome audited.

- A wrong password and an unknown username look the same to the caller (same
  message, same work: an unknown name still costs one argon2 verification).
- ``MAX_FAILED_LOGINS`` consecutive failures lock the account for
  ``LOCKOUT_DURATION``; while locked, even the right password is refused. A
  success resets the counter.
- The counter is updated under a row lock (``BEGIN IMMEDIATE`` on SQLite,
  ``SELECT … FOR UPDATE`` on PostgreSQL) so concurrent guesses cannot lose
  increments and slip past the limit.
- Audit entries: ``auth.login`` (allow / deny with reason ``unknown_account``,
  ``bad_password``, ``account_locked`` or ``account_disabled``) and
  ``auth.lockout`` when a lock starts. They name the account id, never the
  username typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from service.db.engine import IMMEDIATE
from service.db.types import utcnow
from service.identity.events import UNKNOWN_ACTOR, record
from service.identity.models import ACTIVE, Account
from service.identity.passwords import burn_password_check, hash_password, needs_rehash, verify_password
from service.identity.policy import (
    LOCKOUT_DURATION,
    MAX_FAILED_LOGINS,
    PASSWORD_MAX_LENGTH,
    lock_in_force,
    valid_username,
)
from service.runtime import Services

#: The one message a person sees for any failed login.
LOGIN_FAILED_MESSAGE = (
    "用户名或密码错误，或账户已被暂时锁定。"
    "The username or password is incorrect, or the account is temporarily locked."
)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """The result of one login attempt; ``account`` is set only on success."""

    account: Account | None
    reason: str

    @property
    def ok(self) -> bool:
        """True when the person is authenticated."""
        return self.account is not None


def is_locked(account: Account, now: datetime | None = None) -> bool:
    """True while a lock-out is in force."""
    return lock_in_force(account.locked_until, now or utcnow())


def authenticate_password(services: Services, username: str, password: str) -> LoginOutcome:
    """Check a username and password; update the failure counter; audit the outcome."""
    handle = username.strip().lower()
    if not valid_username(handle) or len(password) > PASSWORD_MAX_LENGTH:
        burn_password_check()
        return _audited(services, None, "unknown_account")
    now = utcnow()
    locked_now = False
    with services.session() as session, session.begin():
        session.connection(execution_options=IMMEDIATE)
        account = session.execute(
            select(Account).where(Account.username == handle).with_for_update()  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if account is None:
            burn_password_check()
            reason = "unknown_account"
        elif is_locked(account, now):
            burn_password_check()
            reason = "account_locked"
        elif not verify_password(account.password_hash, password):
            reason = "bad_password"
            # A lock that has run out starts a fresh count.
            if account.locked_until is not None:
                account.locked_until = None
                account.failed_logins = 0
            account.failed_logins += 1
            if account.failed_logins >= MAX_FAILED_LOGINS:
                account.locked_until = now + LOCKOUT_DURATION
                account.failed_logins = 0
                locked_now = True
        elif account.status != ACTIVE:
            # Checked after the password so a disabled account does not reveal itself to guessers.
            reason = "account_disabled"
        else:
            reason = "password_ok"
            account.failed_logins = 0
            account.locked_until = None
            if needs_rehash(account.password_hash):
                account.password_hash = hash_password(password)
        if account is not None:
            session.add(account)
    if locked_now and account is not None:
        record(services.writer, actor_type=account.role, actor_id=account.id, action="auth.lockout",
               decision="record", reason="too_many_failures",
               details={"minutes": int(LOCKOUT_DURATION.total_seconds() // 60)})
    return _audited(services, account, reason)


def _audited(services: Services, account: Account | None, reason: str) -> LoginOutcome:
    ok = reason == "password_ok"
    record(
        services.writer,
        actor_type=account.role if account else "anonymous",
        actor_id=account.id if account else UNKNOWN_ACTOR,
        action="auth.login",
        decision="allow" if ok else "deny",
        reason=reason,
    )
    return LoginOutcome(account=account if ok else None, reason=reason)
