"""The portal's session table.

A row is either a sign-in in progress (``login``: the PKCE verifier and the
``state`` value, until the authorization server redirects back) or a signed-in
session (``session``: the access token). The browser holds the only copy of the
session secret, in an HttpOnly cookie. The row is keyed by the SHA-256 of that
secret, and what it keeps is sealed under a key derived from it
(:mod:`service.portal.sessions`): a copy of the table opens nothing. Nothing
here describes a person: the account and the selected ward are pseudonymous ids.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime

LOGIN = "login"
SESSION = "session"


class PortalSession(SQLModel, table=True):
    """A portal sign-in in progress, or a signed-in browser session."""

    __tablename__ = "portal_sessions"
    __table_args__ = (
        CheckConstraint(f"kind IN ('{LOGIN}', '{SESSION}')", name="ck_portal_sessions_kind"),
        CheckConstraint(
            f"(kind = '{SESSION}' AND account_id IS NOT NULL) OR (kind = '{LOGIN}' AND account_id IS NULL)",
            name="ck_portal_sessions_account",
        ),
    )

    id_hash: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    account_id: str | None = Field(
        default=None, sa_column=Column(String(32), ForeignKey("accounts.id"), nullable=True)
    )
    ward: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    next_path: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
