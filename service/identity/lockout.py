"""Failed logins, counted per client source: per (account, source) and per source.

A source is the client's network address (``service.http.client``), kept here
only as a keyed hash. Failures slow down the source they come from and nothing
else (``ACCOUNT_SOURCE_THROTTLE`` and ``ADDRESS_THROTTLE`` in
``service.identity.policy``): the account's owner signs in from anywhere else
as usual, and tokens and client credentials already issued keep working. The
counts live in the database, so every service process sees the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, Column, Integer, PrimaryKeyConstraint, String, bindparam, delete, select, text
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from service.crypto.blind_index import BlindIndex
from service.db.types import UTCDateTime
from service.identity.policy import ThrottleRule

#: The ``scope`` of a source's count across all accounts.
ADDRESS_SCOPE = "*"


class LoginThrottle(SQLModel, table=True):
    """Consecutive failed logins of one source, at one account (``scope`` = its id)
    or at any (``scope`` = ``*``), and until when that source is blocked."""

    __tablename__ = "login_throttles"
    __table_args__ = (
        PrimaryKeyConstraint("scope", "source", name="pk_login_throttles"),
        CheckConstraint("failures >= 0", name="ck_login_throttles_failures"),
    )

    scope: str = Field(sa_column=Column(String(32), nullable=False))
    source: str = Field(sa_column=Column(String(32), nullable=False))
    failures: int = Field(sa_column=Column(Integer, nullable=False))
    blocked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# One statement per failure, so concurrent failures from several processes cannot
# lose a count: the conflicting insert waits for the row and then increments it.
_COUNT_FAILURE = text(
    "INSERT INTO login_throttles (scope, source, failures, blocked_until, last_failure_at) "
    "VALUES (:scope, :source, 1, NULL, :now) "
    "ON CONFLICT (scope, source) DO UPDATE SET "
    "failures = CASE WHEN login_throttles.last_failure_at < :forget THEN 1 ELSE login_throttles.failures + 1 END, "
    "last_failure_at = :now "
    "RETURNING failures"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("forget", type_=UTCDateTime()))


def client_source(index_secret: bytes, address: str) -> str:
    """The keyed hash that stands for a client address in the database and the audit log."""
    return BlindIndex(index_secret, kind="client_source").compute(address).hex()


@dataclass(frozen=True, slots=True)
class Block:
    """A block that a failure has just started: which count, how many failures, how long."""

    scope: str
    failures: int
    duration: timedelta


class SourceThrottle:
    """The counts of one client source, read and written inside the login's transaction."""

    def __init__(self, session: Session, source: str, now: datetime) -> None:
        self._session = session
        self.source = source
        self._now = now

    def blocked_until(self, scope: str) -> datetime | None:
        """When the block on this source at ``scope`` ends, if one is in force now."""
        until = self._session.execute(
            select(LoginThrottle.blocked_until).where(  # type: ignore[call-overload]
                LoginThrottle.scope == scope, LoginThrottle.source == self.source
            )
        ).scalar_one_or_none()
        return until if until is not None and until > self._now else None

    def fail(self, scope: str, rule: ThrottleRule) -> Block | None:
        """Count one failure at ``scope``; the block it starts, if it starts one."""
        failures = int(self._session.execute(
            _COUNT_FAILURE, {"scope": scope, "source": self.source, "now": self._now,
                             "forget": self._now - rule.forget_after},
        ).scalar_one())
        duration = rule.block_for(failures)
        if duration is None:
            return None
        self._session.execute(
            LoginThrottle.__table__.update()  # type: ignore[attr-defined]
            .where(LoginThrottle.scope == scope, LoginThrottle.source == self.source)
            .values(blocked_until=self._now + duration)
        )
        return Block(scope, failures, duration)

    def clear(self, scope: str) -> None:
        """Forget this source's failures at ``scope`` (after a successful login)."""
        self._session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.scope == scope, LoginThrottle.source == self.source  # type: ignore[arg-type]
            )
        )


def lift_account_blocks(session: Session, account_id: str) -> int:
    """Forget every source's failures at an account (an operator lifting its lock-outs);
    how many sources were counted."""
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.scope == account_id))  # type: ignore[arg-type]
    return int(result.rowcount)  # type: ignore[attr-defined]
