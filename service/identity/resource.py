"""Resource server: from a bearer token to a live :class:`Principal`.

The token's signature and claims are checked first (:meth:`TokenService.verify`,
which remembers tokens it has already verified and repeats only the clock
checks). Then the caller's current state is read from the database on every
request, with no cache, so that a suspension, a revoked client or token, a
disabled account or an ended guardianship takes effect at once, even for tokens
issued before the change. Failed logins never stop a token: they only slow down
the source they come from (``service.identity.lockout``).

A guardian acts only for wards still under the guardianship age today in China:
from the day a ward reaches it, the guardian is a stranger to them on every
route. The age comes from the ward's birth date, opened by the access gate.
"""

from __future__ import annotations

from typing import Any

from policies import Role, Viewer
from service.db.raw import RawConnection, as_bytes, as_json
from service.db.types import china_today, utcnow
from service.gate.access import AccessGate
from service.identity.models import ACTIVE, OWNER_AUDITOR_TOOL, OWNER_INSTITUTION, OWNER_PROVIDER
from service.identity.policy import WEB_CLIENT_ID
from service.identity.principal import Principal
from service.identity.tokens import TokenError
from service.runtime import Services

_OWNER_ROLE = {OWNER_INSTITUTION: Role.INSTITUTION, OWNER_PROVIDER: Role.PROVIDER, OWNER_AUDITOR_TOOL: Role.AUDITOR}

# One round trip per request: the client and, when it belongs to one, its institution
# or provider. Plain driver SQL, because this runs on every authenticated request.
# A revoked token is found in the same statement (the LEFT JOIN on its jti).
_CLIENT = (
    "SELECT c.status, c.owner_type, c.owner_id, i.status, i.type, i.permitted_purposes, p.status, r.jti "
    "FROM oauth_clients c "
    "LEFT JOIN institutions i ON c.owner_type = 'institution' AND i.id = c.owner_id "
    "LEFT JOIN providers p ON c.owner_type = 'provider' AND p.id = c.owner_id "
    "LEFT JOIN revoked_tokens r ON r.jti = ? "
    "WHERE c.client_id = ?"
)
_ACCOUNT = (
    "SELECT a.status, a.role, a.subject_id, r.jti FROM accounts a "
    "LEFT JOIN revoked_tokens r ON r.jti = ? WHERE a.id = ?"
)
_WARDS = (
    "SELECT g.ward_subject_id, s.birth_date_ct FROM guardianships g JOIN subjects s ON s.id = g.ward_subject_id "
    "WHERE g.guardian_account_id = ? AND g.ended_at IS NULL"
)


class CallerRejected(TokenError):
    """The token is genuine but its holder may no longer act (suspended, disabled, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__("unauthorized", reason)


def authenticate_bearer(services: Services, token: str) -> Principal:
    """Verify ``token`` and load the caller's live state; raise TokenError if unusable."""
    claims = services.tokens.verify(token)
    with services.reads() as db:
        return load_principal(db, claims, services.gate)


def load_principal(db: RawConnection, claims: dict[str, Any], gate: AccessGate) -> Principal:
    """The principal for verified ``claims``, checked against the database now."""
    role = Role(claims["role"])
    scopes = frozenset(claims["scope"].split())
    client_id: str = claims["client_id"]
    common = {"client_id": client_id, "scopes": scopes, "token_id": claims["jti"]}
    if client_id == WEB_CLIENT_ID:
        return _person(db, gate, claims["sub"], role, common)
    row = db.one(_CLIENT, (claims["jti"], client_id))
    if row is None or row[0] != ACTIVE or claims["sub"] != client_id:
        raise CallerRejected("client_inactive")
    _, owner_type, owner_id, inst_status, inst_type, purposes, prov_status, revoked = row
    if revoked is not None:
        raise CallerRejected("token_revoked")
    if _OWNER_ROLE.get(owner_type) != role:
        raise CallerRejected("role_mismatch")
    # A suspended organisation's principal is marked inactive: guards refuse it at once
    # (403 ``institution_suspended`` / ``provider_suspended``), except where a route
    # must record the refused attempt itself (the governed query).
    if owner_type == OWNER_INSTITUTION:
        if inst_status is None:
            raise CallerRejected("client_inactive")
        return Principal(
            role=role, actor_id=owner_id, institution_id=owner_id, institution_type=inst_type,
            permitted_purposes=frozenset(as_json(purposes)), active=inst_status == ACTIVE, **common,
        )
    if owner_type == OWNER_PROVIDER:
        if prov_status is None:
            raise CallerRejected("client_inactive")
        return Principal(role=role, actor_id=owner_id, provider_id=owner_id, active=prov_status == ACTIVE, **common)
    # An auditor's tool acts for its auditor account and stops when that account does.
    return _person(db, gate, owner_id, role, common)


def _person(db: RawConnection, gate: AccessGate, account_id: str, role: Role, common: dict[str, Any]) -> Principal:
    row = db.one(_ACCOUNT, (common["token_id"], account_id))
    if row is None or row[0] != ACTIVE:
        raise CallerRejected("account_disabled")
    _, account_role, subject_id, revoked = row
    if revoked is not None:
        raise CallerRejected("token_revoked")
    if account_role != role.value:
        raise CallerRejected("role_mismatch")
    wards: frozenset[str] = frozenset()
    if role == Role.GUARDIAN:
        linked = {ward: as_bytes(sealed) for ward, sealed in db.all(_WARDS, (account_id,))}
        wards = gate.minors_among(db, Viewer(role=role, actor_id=account_id, wards=frozenset(linked)), linked,
                                  china_today(utcnow()))
    return Principal(
        role=role, actor_id=account_id, account_id=account_id, subject_id=subject_id, wards=wards, **common,
    )
