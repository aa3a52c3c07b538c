"""Identity rules in one place: roles and their scopes, handles, passwords, login throttling,
token and code lifetimes, provider types.

These are deliberately constants of the service (not policy data in ``policies``):
they describe how callers authenticate, not what personal data they may see. The
one exception is the provider types, which the record catalog defines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from policies import Role, load_provider_types

# --- roles and scopes ---------------------------------------------------------------------------

#: The scope every token of a role carries; a client may ask for a subset.
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.INSTITUTION: ("consent:request", "consent:read", "query"),
    Role.PROVIDER: ("records:write",),
    Role.AUDITOR: ("audit:read",),
    Role.OPERATOR: ("admin",),
    Role.SUBJECT: ("me",),
    Role.GUARDIAN: ("me",),
}

#: Roles a token can carry (``public`` is the absence of a token).
TOKEN_ROLES: frozenset[Role] = frozenset(ROLE_SCOPES)

#: Roles of people who log in with a username and password.
ACCOUNT_ROLES: frozenset[Role] = frozenset({Role.SUBJECT, Role.GUARDIAN, Role.AUDITOR, Role.OPERATOR})

#: Every scope the authorization server knows, in a stable order.
ALL_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(s for scopes in ROLE_SCOPES.values() for s in scopes))

#: What the login page tells a person each scope lets the client do.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "me": "查看和管理您本人（或被监护人）的授权、报告和查询记录 · your own consents, report and access log",
    "audit:read": "读取并核验审计日志 · read and verify the audit trail",
    "admin": "登记机构、信源单位和账户 · register institutions, providers and accounts",
    "consent:request": "request consent",
    "consent:read": "read consents",
    "query": "query under a consent",
    "records:write": "register records",
}

# --- providers ----------------------------------------------------------------------------------

#: Kinds of record provider / deciding department (信源单位 / 认定部门). The catalog
#: (``policies/data/catalog.toml``, ``[provider_types]``) is the single source: a
#: provider can only be registered with a type that catalog items name.
def provider_types() -> frozenset[str]:
    """The provider types a provider may be registered with. Read when asked, not at
    import, so that a broken catalog leaves the command line usable for repairs."""
    return frozenset(load_provider_types())

# --- handles and passwords ----------------------------------------------------------------------

#: A login handle: lowercase letters, digits, '.', '_' and '-', 3 to 64 characters.
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
# A long digit run could be an ID, phone or card number: a handle must not carry one.
_DIGIT_RUN = re.compile(r"[0-9]{7,}")

PASSWORD_MIN_LENGTH = 12
#: Bound on the work one login can cause (argon2 hashes any length, but slowly).
PASSWORD_MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How failed logins from one source slow that source down.

    The ``free_failures``-th failure blocks the source for ``first_delay`` (the
    ones before it cost nothing), and every further one doubles the block, up to
    ``max_delay``. A source quiet for ``forget_after`` starts again from zero.
    """

    free_failures: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta

    def block_for(self, failures: int) -> timedelta | None:
        """How long ``failures`` counted failures block the source, or None."""
        if failures < self.free_failures:
            return None
        # Bounded exponent: the cap is reached long before the float would overflow.
        return min(self.first_delay * (1 << min(failures - self.free_failures, 32)), self.max_delay)


#: Failures at one account from one client source. Only that source is slowed down:
#: the owner signing in from anywhere else is not, and issued tokens and client
#: credentials are never touched by failed logins.
ACCOUNT_SOURCE_THROTTLE = ThrottleRule(
    free_failures=5, first_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
    forget_after=timedelta(hours=24),
)
#: Failures from one client source at any account (unknown usernames included): a
#: source guessing across many accounts is slowed down as a whole.
ADDRESS_THROTTLE = ThrottleRule(
    free_failures=50, first_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
    forget_after=timedelta(hours=1),
)


# --- tokens and codes ---------------------------------------------------------------------------

ACCESS_TOKEN_AUDIENCE = "creditgate-api"  # noqa: S105 (an audience, not a secret)
ACCESS_TOKEN_MAX_TTL = 15 * 60
AUTHORIZATION_CODE_TTL = timedelta(seconds=60)
#: Allowed clock skew when checking exp / nbf / iat, in seconds.
CLOCK_LEEWAY = 30
#: A client assertion may not claim to be valid for longer than this (exp - now), seconds.
ASSERTION_MAX_LIFETIME = 300
#: Algorithms accepted for client assertions (RFC 7523 private_key_jwt).
ASSERTION_ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256")
#: The one algorithm access tokens are signed with.
TOKEN_ALGORITHM = "EdDSA"  # noqa: S105 (an algorithm name)

#: The people's web client: public (PKCE), authorization code only.
WEB_CLIENT_ID = "creditgate-web"


def valid_username(username: str) -> bool:
    """True for a well-formed login handle that cannot be personal data."""
    return USERNAME_PATTERN.fullmatch(username) is not None and _DIGIT_RUN.search(username) is None


def scopes_for(role: Role) -> tuple[str, ...]:
    """The full scope of tokens for ``role``."""
    return ROLE_SCOPES[role]
