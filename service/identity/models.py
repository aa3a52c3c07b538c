"""Identity tables: institutions, providers, OAuth clients, accounts, guardianships,
authorization codes and used assertion ids.

Nothing here holds personal data. People are linked to their (encrypted)
``subjects`` row by its random id only; an account's username is a login handle
validated so that it cannot be a name, ID number or phone number. Secrets are
stored only as hashes: client secrets as SHA-256 (they are 256-bit random, so a
fast hash is right), passwords as argon2id, authorization codes as SHA-256.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow

# Status values, also enforced by CHECK constraints in the database.
ACTIVE = "active"
SUSPENDED = "suspended"
DISABLED = "disabled"
REVOKED = "revoked"

ORG_STATUSES = (ACTIVE, SUSPENDED)
ACCOUNT_STATUSES = (ACTIVE, DISABLED)
CLIENT_STATUSES = (ACTIVE, REVOKED)

OWNER_INSTITUTION = "institution"
OWNER_PROVIDER = "provider"
OWNER_AUDITOR_TOOL = "auditor_tool"
CLIENT_OWNER_TYPES = (OWNER_INSTITUTION, OWNER_PROVIDER, OWNER_AUDITOR_TOOL)

SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name, not a secret)
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_AUTH_METHODS = (SECRET_BASIC, PRIVATE_KEY_JWT)

ACCOUNT_ROLES = ("subject", "guardian", "auditor", "operator")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Institution(SQLModel, table=True):
    """A querying institution (查询机构), identified by its unified social credit code."""

    __tablename__ = "institutions"
    __table_args__ = (CheckConstraint(_in("status", ORG_STATUSES), name="ck_institutions_status"),)

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    uscc: str = Field(sa_column=Column(String(18), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    permitted_purposes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    status_changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    #: How people reach the institution (a service line, an office address): shown in the
    #: notice before a grant (PIPL art. 23). Public; never a person's mobile number.
    contact: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))


class Provider(SQLModel, table=True):
    """A record provider / deciding department (信源单位 / 认定部门)."""

    __tablename__ = "providers"
    __table_args__ = (CheckConstraint(_in("status", ORG_STATUSES), name="ck_providers_status"),)

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    uscc: str = Field(sa_column=Column(String(18), nullable=False, unique=True))
    provider_type: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    status_changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    #: Administrative level (catalog ``[provider_levels]``); a serious listing needs county
    #: level or above. None when not registered: such a provider cannot list.
    level: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))


class OAuthClient(SQLModel, table=True):
    """Credentials of a machine client: an institution's, a provider's or an auditor's tool.

    ``owner_id`` is the institution id, provider id, or (for ``auditor_tool``) the
    auditor account the tool acts for. ``secret_hash`` is SHA-256 of the secret
    for ``client_secret_basic``; ``jwks`` the public JWK set for ``private_key_jwt``.
    """

    __tablename__ = "oauth_clients"
    __table_args__ = (
        CheckConstraint(_in("owner_type", CLIENT_OWNER_TYPES), name="ck_oauth_clients_owner_type"),
        CheckConstraint(_in("status", CLIENT_STATUSES), name="ck_oauth_clients_status"),
        CheckConstraint(
            f"(auth_method = '{SECRET_BASIC}' AND secret_hash IS NOT NULL AND jwks IS NULL) OR "
            f"(auth_method = '{PRIVATE_KEY_JWT}' AND jwks IS NOT NULL AND secret_hash IS NULL)",
            name="ck_oauth_clients_credentials",
        ),
        Index("ix_oauth_clients_owner", "owner_type", "owner_id"),
    )

    client_id: str = Field(sa_column=Column(String(64), primary_key=True))
    owner_type: str = Field(sa_column=Column(String(16), nullable=False))
    owner_id: str = Field(sa_column=Column(String(32), nullable=False))
    auth_method: str = Field(sa_column=Column(String(32), nullable=False))
    secret_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    scopes: str = Field(sa_column=Column(String(255), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Account(SQLModel, table=True):
    """A person who logs in: a subject, a guardian, an auditor or an operator.

    A subject account points at its ``subjects`` row (found through the blind
    index when the account was registered); no other role has one.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_in("role", ACCOUNT_ROLES), name="ck_accounts_role"),
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="ck_accounts_status"),
        CheckConstraint(
            "(role = 'subject' AND subject_id IS NOT NULL) OR (role <> 'subject' AND subject_id IS NULL)",
            name="ck_accounts_subject_link",
        ),
        CheckConstraint("failed_logins >= 0", name="ck_accounts_failed_logins"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    subject_id: str | None = Field(
        default=None, sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=True, unique=True)
    )
    # Retired: failed logins are counted per client source (``login_throttles``), since an
    # account-wide lock let anyone lock anyone out. Kept (never written) because dropping
    # them would rebuild a table four others reference.
    failed_logins: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Guardianship(SQLModel, table=True):
    """A guardian account acting for a minor subject; open while ``ended_at`` is null."""

    __tablename__ = "guardianships"
    __table_args__ = (
        # One open guardianship per (guardian, ward); ended ones stay as history.
        Index(
            "ux_guardianships_open", "guardian_account_id", "ward_subject_id", unique=True,
            sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_guardianships_ward", "ward_subject_id"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    guardian_account_id: str = Field(sa_column=Column(String(32), ForeignKey("accounts.id"), nullable=False))
    ward_subject_id: str = Field(sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AuthorizationCode(SQLModel, table=True):
    """A one-time authorization code (stored as SHA-256), bound to client, account,
    redirect URI and PKCE challenge; valid for at most 60 seconds."""

    __tablename__ = "oauth_authorization_codes"

    code_hash: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    client_id: str = Field(sa_column=Column(String(64), nullable=False))
    account_id: str = Field(sa_column=Column(String(32), ForeignKey("accounts.id"), nullable=False))
    redirect_uri: str = Field(sa_column=Column(String(2048), nullable=False))
    scope: str = Field(sa_column=Column(String(255), nullable=False))
    code_challenge: str = Field(sa_column=Column(String(128), nullable=False))
    code_challenge_method: str = Field(sa_column=Column(String(8), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    #: The access token this code was exchanged for; revoked if the code is replayed.
    token_jti: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class UsedJti(SQLModel, table=True):
    """``jti`` values of client assertions already accepted (RFC 7523 replay protection),
    kept until the assertion would have expired anyway."""

    __tablename__ = "used_jtis"
    __table_args__ = (PrimaryKeyConstraint("client_id", "jti", name="pk_used_jtis"),)

    client_id: str = Field(sa_column=Column(String(64), ForeignKey("oauth_clients.client_id"), nullable=False))
    jti: str = Field(sa_column=Column(String(255), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
