"""Resource server: from a bearer token to a live :class:`Principal`.

The token's signature and claims are checked first (:meth:`TokenService.verify`).
Then the caller's current state is read from the database on every request,
with no cache, so that a suspension, a revoked client, a disabled or locked
account or an ended guardianship takes effect at once, even for tokens issued
before the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import Role
from service.db.types import utcnow
from service.identity.login import is_locked
from service.identity.models import (
    ACTIVE,
    OWNER_AUDITOR_TOOL,
    OWNER_INSTITUTION,
    OWNER_PROVIDER,
    Account,
    Guardianship,
    Institution,
    OAuthClient,
    Provider,
)
from service.identity.policy import WEB_CLIENT_ID
from service.identity.principal import Principal
from service.identity.tokens import TokenError
from service.runtime import Services

_OWNER_ROLE = {OWNER_INSTITUTION: Role.INSTITUTION, OWNER_PROVIDER: Role.PROVIDER, OWNER_AUDITOR_TOOL: Role.AUDITOR}


class CallerRejected(TokenError):
    """The token is genuine but its holder may no longer act (suspended, disabled, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__("unauthorized", reason)


def authenticate_bearer(services: Services, token: str) -> Principal:
    """Verify ``token`` and load the caller's live state; raise TokenError if unusable."""
    claims = services.tokens.verify(token)
    with services.session() as session:
        return load_principal(session, claims)


def load_principal(session: Session, claims: dict[str, Any]) -> Principal:
    """The principal for verified ``claims``, checked against the database now."""
    role = Role(claims["role"])
    scopes = frozenset(claims["scope"].split())
    client_id: str = claims["client_id"]
    common = {"client_id": client_id, "scopes": scopes, "token_id": claims["jti"]}
    if client_id == WEB_CLIENT_ID:
        return _person(session, claims["sub"], role, common)
    client = session.get(OAuthClient, client_id)
    if client is None or client.status != ACTIVE or claims["sub"] != client_id:
        raise CallerRejected("client_inactive")
    if _OWNER_ROLE.get(client.owner_type) != role:
        raise CallerRejected("role_mismatch")
    if client.owner_type == OWNER_INSTITUTION:
        inst = session.get(Institution, client.owner_id)
        if inst is None or inst.status != ACTIVE:
            raise CallerRejected("institution_suspended")
        return Principal(
            role=role, actor_id=inst.id, institution_id=inst.id, institution_type=inst.type,
            permitted_purposes=frozenset(inst.permitted_purposes), **common,
        )
    if client.owner_type == OWNER_PROVIDER:
        prov = session.get(Provider, client.owner_id)
        if prov is None or prov.status != ACTIVE:
            raise CallerRejected("provider_suspended")
        return Principal(role=role, actor_id=prov.id, provider_id=prov.id, **common)
    # An auditor's tool acts for its auditor account and stops when that account does.
    return _person(session, client.owner_id, role, common)


def _person(session: Session, account_id: str, role: Role, common: dict[str, Any]) -> Principal:
    account = session.get(Account, account_id)
    if account is None or account.status != ACTIVE:
        raise CallerRejected("account_disabled")
    if is_locked(account, utcnow()):
        raise CallerRejected("account_locked")
    if account.role != role.value:
        raise CallerRejected("role_mismatch")
    wards: frozenset[str] = frozenset()
    if role == Role.GUARDIAN:
        wards = frozenset(
            session.execute(
                select(Guardianship.ward_subject_id).where(  # type: ignore[call-overload]
                    Guardianship.guardian_account_id == account.id,  # type: ignore[arg-type]
                    Guardianship.ended_at.is_(None),  # type: ignore[union-attr]
                )
            ).scalars()
        )
    return Principal(
        role=role, actor_id=account.id, account_id=account.id, subject_id=account.subject_id, wards=wards,
        **common,
    )
