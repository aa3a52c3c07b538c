"""Access tokens revoked before they expire.

Tokens are self-contained JWTs; revoking one means remembering its ``jti`` until
it would have expired anyway. The resource server reads this table in the same
statement that loads the caller's live state (``service.identity.resource``), so
a revocation costs no extra round trip and takes effect at the next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow

#: Why a token was revoked: its authorization code was presented a second time
#: (RFC 6749 §4.1.2), so whoever holds the token may have stolen the code.
CODE_REPLAYED = "code_replayed"


class RevokedToken(SQLModel, table=True):
    """One revoked access token, kept until its own expiry."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(sa_column=Column(String(64), primary_key=True))
    reason: str = Field(sa_column=Column(String(32), nullable=False))
    revoked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


def revoke_token(session: Session, jti: str, expires_at: datetime, reason: str) -> None:
    """Revoke the token ``jti`` (idempotent) and forget revocations that have expired."""
    now = utcnow()
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))  # type: ignore[arg-type]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(RevokedToken.__table__)  # type: ignore[attr-defined]
        .values(jti=jti, reason=reason, revoked_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
    )
