"""Portal sessions in the database, so that any service process can serve any request.

The browser holds a random 256-bit secret in an HttpOnly cookie. The row is found
by the SHA-256 of that secret, and its contents (the access token, or a sign-in's
PKCE verifier and ``state``) are sealed with AES-256-GCM under a key derived from
the secret with HKDF, bound to the row by the associated data. The server keeps
no copy of the secret: a dump of the table gives neither a usable session id nor
a token. Signing in and out are audited in the same transaction as the row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete

from service.audit_log.writer import AuditEvent
from service.db.raw import as_datetime
from service.portal.models import LOGIN, SESSION, PortalSession
from service.runtime import Services

#: How long a sign-in may take between leaving for the login page and coming back.
LOGIN_TTL = timedelta(minutes=10)
_SEAL_VERSION = b"\x01"
_NONCE = 12
_SECRET_BYTES = 32
_LOAD = "SELECT kind, account_id, ward, sealed, next_path, expires_at FROM portal_sessions WHERE id_hash = ?"


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"creditgate/portal-session",
                info=b"creditgate/portal/" + purpose).derive(secret.encode("ascii"))


def id_hash(secret: str) -> bytes:
    """How a session secret is stored: its SHA-256."""
    return hashlib.sha256(secret.encode("ascii")).digest()


def _aad(digest: bytes) -> bytes:
    return b"portal_sessions|sealed|" + digest.hex().encode("ascii")


def seal(secret: str, payload: dict[str, Any]) -> bytes:
    """``payload`` encrypted under the key only the cookie's secret yields."""
    nonce = os.urandom(_NONCE)
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return _SEAL_VERSION + nonce + AESGCM(_derive(secret, b"seal")).encrypt(nonce, body, _aad(id_hash(secret)))


def unseal(secret: str, blob: bytes) -> dict[str, Any] | None:
    """The sealed payload, or None when it does not open with this secret."""
    if len(blob) < 1 + _NONCE + 16 or blob[:1] != _SEAL_VERSION:
        return None
    try:
        body = AESGCM(_derive(secret, b"seal")).decrypt(blob[1:1 + _NONCE], blob[1 + _NONCE:], _aad(id_hash(secret)))
    except InvalidTag:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def csrf_token(secret: str) -> str:
    """The anti-forgery token of a session's forms: an HMAC only the cookie's holder can compute."""
    mac = hmac.new(_derive(secret, b"csrf"), b"portal-form", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_matches(secret: str, submitted: str | None) -> bool:
    """True when ``submitted`` is this session's anti-forgery token."""
    return bool(submitted) and hmac.compare_digest(csrf_token(secret), submitted or "")


def valid_secret(value: str | None) -> bool:
    """A cookie value of the shape this module issues (43 URL-safe characters)."""
    return value is not None and len(value) == 43 and all(c.isalnum() or c in "-_" for c in value)


@dataclass(frozen=True)
class PendingLogin:
    """A sign-in on its way through the login page."""

    state: str
    verifier: str
    next_path: str | None


@dataclass(frozen=True)
class Session:
    """A signed-in browser session."""

    secret: str
    account_id: str
    role: str
    token: str
    ward: str | None
    expires_at: datetime

    @property
    def csrf(self) -> str:
        """This session's anti-forgery token."""
        return csrf_token(self.secret)


class SessionStore:
    """Creates, finds and ends portal sessions; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def _event(self, role: str, account_id: str, action: str, request_id: str | None) -> AuditEvent:
        return AuditEvent(actor_type=role, actor_id=account_id, action=action, decision="record",
                          reason="recorded", request_id=request_id, details={"client_id": "creditgate-web"})

    def begin_login(self, next_path: str | None, now: datetime) -> tuple[str, PendingLogin]:
        """A new sign-in: (the cookie secret, its state and PKCE verifier)."""
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        pending = PendingLogin(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)
        row = PortalSession(
            id_hash=id_hash(secret), kind=LOGIN, sealed=seal(secret, {"state": pending.state,
                                                                      "verifier": pending.verifier}),
            next_path=next_path, created_at=now, expires_at=now + LOGIN_TTL,
        )
        with self._svc.write_session() as s, s.begin():
            # Forget sign-ins and sessions that can no longer be used.
            s.execute(delete(PortalSession).where(PortalSession.expires_at < now))  # type: ignore[arg-type]
            s.add(row)
        return secret, pending

    def take_login(self, secret: str | None, now: datetime) -> PendingLogin | None:
        """The pending sign-in for this cookie, removed so it can be used once only."""
        if not valid_secret(secret):
            return None
        assert secret is not None
        digest = id_hash(secret)
        with self._svc.write_session() as s, s.begin():
            row = s.get(PortalSession, digest)
            if row is None or row.kind != LOGIN:
                return None
            s.delete(row)
            if row.expires_at <= now:
                return None
            sealed, next_path = row.sealed, row.next_path
        opened = unseal(secret, sealed)
        if opened is None:
            return None
        return PendingLogin(str(opened["state"]), str(opened["verifier"]), next_path)

    def start(self, account_id: str, role: str, token: str, expires_at: datetime, request_id: str | None,
              now: datetime) -> str:
        """A new signed-in session holding ``token``; returns the cookie secret."""
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        row = PortalSession(id_hash=id_hash(secret), kind=SESSION, account_id=account_id,
                            sealed=seal(secret, {"token": token, "role": role}), created_at=now,
                            expires_at=expires_at)
        with self._svc.write_session() as s, s.begin():
            s.add(row)
            s.flush()
            self._svc.writer.append_in(s.connection(), self._event(role, account_id, "portal.sign_in",
                                                                            request_id))
        return secret

    def load(self, secret: str | None, now: datetime) -> Session | None:
        """The live session for this cookie, or None (unknown, expired, or not a session)."""
        if not valid_secret(secret):
            return None
        assert secret is not None
        with self._svc.reads() as db:
            row = db.one(_LOAD, (id_hash(secret),))
        if row is None:
            return None
        kind, account_id, ward, sealed, _, expires = row
        expires_at = as_datetime(expires)
        if kind != SESSION or expires_at <= now:
            return None
        opened = unseal(secret, bytes(sealed))
        if opened is None:
            return None
        return Session(secret, account_id, str(opened["role"]), str(opened["token"]), ward, expires_at)

    def choose_ward(self, session: Session, ward: str) -> None:
        """Remember which ward a guardian is acting for."""
        with self._svc.write_session() as s, s.begin():
            row = s.get(PortalSession, id_hash(session.secret))
            if row is not None and row.kind == SESSION:
                row.ward = ward

    def end(self, session: Session, request_id: str | None) -> None:
        """Sign out: the row goes, with its sealed token, in the same commit as the audit entry."""
        with self._svc.write_session() as s, s.begin():
            gone = s.execute(
                delete(PortalSession).where(PortalSession.id_hash == id_hash(session.secret))  # type: ignore[arg-type]
            ).rowcount  # type: ignore[attr-defined]
            if gone:
                self._svc.writer.append_in(s.connection(),
                                           self._event(session.role, session.account_id, "portal.sign_out",
                                                       request_id))

    def drop(self, session: Session) -> None:
        """Forget a session whose token no longer works (expired, account disabled)."""
        with self._svc.write_session() as s, s.begin():
            s.execute(delete(PortalSession).where(PortalSession.id_hash == id_hash(session.secret)))  # type: ignore[arg-type]

