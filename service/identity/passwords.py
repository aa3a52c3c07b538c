"""Password hashing with argon2id (RFC 9106 parameters from argon2-cffi)."""

from __future__ import annotations

import contextlib
import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from service.identity.policy import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

_HASHER = PasswordHasher(type=Type.ID)


class WeakPassword(ValueError):
    """The password does not meet the rules; the message never contains it."""


def check_password_rules(password: str, username: str | None = None) -> None:
    """Refuse passwords that are too short, too long, or equal to the handle."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(f"password must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"password must be at most {PASSWORD_MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("password must not be blank")
    if username is not None and username.lower() in password.lower():
        raise WeakPassword("password must not contain the username")


def hash_password(password: str) -> str:
    """An argon2id hash (with its own random salt and parameters)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Constant-work verification; False for a mismatch or an unusable hash."""
    if len(password) > PASSWORD_MAX_LENGTH:
        # Still spend the work, so that the length is not a timing oracle.
        burn_password_check()
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with older parameters than the current ones."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(24))


def burn_password_check() -> None:
    """Do the work of one verification against a throw-away hash.

    Used when the username is unknown or the account is locked, so that the
    response time does not reveal which of those it was.
    """
    with contextlib.suppress(VerificationError):
        _HASHER.verify(_dummy_hash(), "not-the-password")
