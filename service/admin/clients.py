"""More clients for an institution or provider (credential rotation), clients for an
auditor's tool, and revocation."""

from __future__ import annotations

from typing import Any

from policies import Role
from service.admin.actor import Actor
from service.admin.credentials import IssuedCredentials, new_client
from service.admin.errors import Conflict, InvalidRequest, NotFound
from service.admin.transaction import audited_write
from service.identity.models import (
    OWNER_AUDITOR_TOOL,
    OWNER_INSTITUTION,
    OWNER_PROVIDER,
    REVOKED,
    SECRET_BASIC,
    Account,
    Institution,
    OAuthClient,
    Provider,
)
from service.runtime import Services

_OWNERS: dict[str, tuple[Any, Role, str]] = {
    OWNER_INSTITUTION: (Institution, Role.INSTITUTION, "institution"),
    OWNER_PROVIDER: (Provider, Role.PROVIDER, "provider"),
    OWNER_AUDITOR_TOOL: (Account, Role.AUDITOR, "account"),
}


def add_client(
    services: Services, *, actor: Actor, owner_type: str, owner_id: str, auth_method: str = SECRET_BASIC,
    jwk: Any = None,
) -> IssuedCredentials:
    """Another client for an institution or provider (credential rotation), or a
    client for an auditor's tool (``auditor_tool``, owned by an auditor account)."""
    if owner_type not in _OWNERS:
        raise InvalidRequest("unknown_owner_type", "owner_type must be institution, provider or auditor_tool")
    model, role, kind = _OWNERS[owner_type]
    with audited_write(services, actor) as w:
        owner = w.session.get(model, owner_id)
        if owner is None:
            raise NotFound(f"{kind}_not_found", f"no {kind} with this id")
        if owner_type == OWNER_AUDITOR_TOOL and owner.role != Role.AUDITOR.value:
            raise Conflict("account_not_auditor", "auditor tools belong to auditor accounts")
        creds = new_client(w.session, owner_type, owner_id, role, auth_method, jwk)
        w.record("admin.client.register", "registered", client_id=creds.client_id, owner_type=owner_type,
                 owner_id=owner_id, auth_method=auth_method)
    return creds


def revoke_client(services: Services, *, actor: Actor, client_id: str) -> OAuthClient:
    """Revoke a client: no new tokens, and its issued tokens stop working at once."""
    with audited_write(services, actor) as w:
        client = w.locked(OAuthClient, client_id, "client")
        if client.status != REVOKED:
            client.status = REVOKED
            w.session.add(client)
            w.record("admin.client.revoke", "revoked", client_id=client_id)
    return client
