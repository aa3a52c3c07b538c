"""Password login, throttled per client source, every checked attempt audited.

- A wrong password and an unknown username look the same to the caller (same
  message, same work: an unknown name still costs one argon2 verification).
- Failures are counted per (account, client source) and per source across all
  accounts (``service.identity.lockout``). A blocked source is refused before
  any password is checked; the account stays open to every other source, and
  nothing already issued to it (tokens, client credentials) is affected.
- The counts, the account row and the audit entries change in one transaction;
  a count is one atomic upsert, so concurrent guesses cannot lose increments.
- Audit entries: ``auth.login`` for every attempt whose password was checked
  (allow, or deny with ``unknown_account``, ``bad_password`` or
  ``account_disabled``) and ``auth.lockout`` when a failure starts a block,
  naming the account id and the source's keyed hash, never the username typed.
  Attempts refused because their source is blocked change nothing: they give a
  log line with the client address and a count in ``/metrics`` instead, so that
  a blocked source cannot flood the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from service.audit_log.writer import AuditEvent
from service.db.types import utcnow
from service.http.context import current_request_id
from service.identity.events import UNKNOWN_ACTOR
from service.identity.lockout import ADDRESS_SCOPE, Block, SourceThrottle, client_source
from service.identity.models import ACTIVE, Account
from service.identity.passwords import burn_password_check, hash_password, needs_rehash, verify_password
from service.identity.policy import (
    ACCOUNT_SOURCE_THROTTLE,
    ADDRESS_THROTTLE,
    PASSWORD_MAX_LENGTH,
    valid_username,
)
from service.observability.logging import get_logger
from service.observability.metrics import LOGIN_THROTTLED, child
from service.runtime import Services

log = get_logger("creditgate.login")

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


def authenticate_password(
    services: Services, username: str, password: str, *, client_address: str, now: datetime | None = None,
) -> LoginOutcome:
    """Check a username and password from ``client_address``; count failures per source;
    audit the outcome (see the module docstring)."""
    now = now or utcnow()
    source = client_source(services.keyring.index_secret, client_address)
    handle = username.strip().lower()
    with services.write_session() as session, session.begin():
        throttle = SourceThrottle(session, source, now)
        if throttle.blocked_until(ADDRESS_SCOPE) is not None:
            # No password work at all: under attack the refusal must stay cheap.
            return _throttled("address", client_address, source)
        account = None
        if valid_username(handle) and len(password) <= PASSWORD_MAX_LENGTH:
            account = session.execute(
                select(Account).where(Account.username == handle).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
        if account is not None and throttle.blocked_until(account.id) is not None:
            burn_password_check()  # the same work as a checked attempt: the lock reveals no more
            return _throttled("account", client_address, source)
        blocks: list[Block | None] = []
        if account is None:
            burn_password_check()
            reason = "unknown_account"
        elif not verify_password(account.password_hash, password):
            reason = "bad_password"
            blocks.append(throttle.fail(account.id, ACCOUNT_SOURCE_THROTTLE))
        elif account.status != ACTIVE:
            # Checked after the password so a disabled account does not reveal itself to guessers.
            reason = "account_disabled"
        else:
            reason = "password_ok"
            throttle.clear(account.id)
            if needs_rehash(account.password_hash):
                account.password_hash = hash_password(password)
                session.add(account)
        if reason in ("unknown_account", "bad_password"):
            blocks.append(throttle.fail(ADDRESS_SCOPE, ADDRESS_THROTTLE))
        events = [_login_event(account, reason, source)]
        events += [_lockout_event(account, block, source, client_address) for block in blocks if block is not None]
        services.writer.append_in(session.connection(), *events)
    return LoginOutcome(account=account if reason == "password_ok" else None, reason=reason)


def _throttled(scope: str, client_address: str, source: str) -> LoginOutcome:
    """A refusal of a blocked source (``scope``: ``account`` or ``address``): logged and
    counted, nothing written."""
    child(LOGIN_THROTTLED, scope).inc()
    log.info("login_throttled", scope=scope, client=client_address, source=source)
    return LoginOutcome(account=None, reason="source_blocked")


def _login_event(account: Account | None, reason: str, source: str) -> AuditEvent:
    return AuditEvent(
        actor_type=account.role if account else "anonymous",
        actor_id=account.id if account else UNKNOWN_ACTOR,
        action="auth.login",
        decision="allow" if reason == "password_ok" else "deny",
        reason=reason,
        request_id=current_request_id(),
        details={"source": source},
    )


def _lockout_event(account: Account | None, block: Block, source: str, client_address: str) -> AuditEvent:
    minutes = int(block.duration.total_seconds() // 60)
    scope = "address" if block.scope == ADDRESS_SCOPE else "account"
    log.warning("login_lockout", scope=scope, account_id=None if scope == "address" else block.scope,
                client=client_address, source=source, failures=block.failures, minutes=minutes)
    by_account = account is not None and scope == "account"
    return AuditEvent(
        actor_type=account.role if by_account and account else "anonymous",
        actor_id=account.id if by_account and account else UNKNOWN_ACTOR,
        action="auth.lockout",
        decision="record",
        reason="too_many_failures",
        request_id=current_request_id(),
        details={"scope": scope, "source": source, "failures": block.failures, "minutes": minutes},
    )

