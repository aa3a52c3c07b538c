"""Institutions and providers: registration with a first client, suspension, reactivation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from policies import INSTITUTION_TYPES, InvalidIdentifier, Role, load_purposes, validate_uscc
from service.admin.actor import Actor
from service.admin.credentials import IssuedCredentials, new_client
from service.admin.errors import Conflict, InvalidRequest, NotFound
from service.admin.names import organisation_name
from service.admin.transaction import audited_write, new_id
from service.db.types import utcnow
from service.identity.models import (
    ACTIVE,
    OWNER_INSTITUTION,
    OWNER_PROVIDER,
    SECRET_BASIC,
    SUSPENDED,
    Institution,
    Provider,
)
from service.identity.policy import provider_types
from service.runtime import Services


@dataclass(frozen=True, slots=True)
class RegisteredOrganisation:
    """An institution or provider and the credentials of its first client."""

    record: Institution | Provider
    credentials: IssuedCredentials


def _uscc(raw: str) -> str:
    try:
        return validate_uscc(raw)
    except InvalidIdentifier as exc:
        raise InvalidRequest.of(exc) from None


def _check_purposes(institution_type: str, purposes: Iterable[str]) -> list[str]:
    if institution_type not in INSTITUTION_TYPES:
        raise InvalidRequest("unknown_institution_type", f"type must be one of {', '.join(sorted(INSTITUTION_TYPES))}")
    wanted = list(dict.fromkeys(purposes))
    if not wanted:
        raise InvalidRequest("permitted_purposes_required", "name at least one permitted purpose")
    catalogue = load_purposes()
    for code in wanted:
        purpose = catalogue.get(code)
        if purpose is None:
            raise InvalidRequest("unknown_purpose", "a permitted purpose is not one of the policy's purposes")
        if institution_type not in purpose.institution_types:
            raise InvalidRequest("purpose_not_permitted",
                                 f"purpose {code!r} is not open to {institution_type} institutions")
    return sorted(wanted)


def register_institution(
    services: Services,
    *,
    actor: Actor,
    name: str,
    uscc: str,
    institution_type: str,
    permitted_purposes: Iterable[str],
    auth_method: str = SECRET_BASIC,
    jwk: Any = None,
) -> RegisteredOrganisation:
    """Register an institution and its first client; ``institution_exists`` on a known USCC."""
    clean_name = organisation_name(name)
    code = _uscc(uscc)
    purposes = _check_purposes(institution_type, permitted_purposes)
    now = utcnow()
    inst = Institution(
        id=new_id(), name=clean_name, uscc=code, type=institution_type, permitted_purposes=purposes,
        status=ACTIVE, created_at=now, status_changed_at=now,
    )
    exists = Conflict("institution_exists", "an institution with this USCC is registered")
    try:
        with audited_write(services, actor) as w:
            if w.session.execute(select(Institution.id).where(Institution.uscc == code)).first():  # type: ignore[arg-type,call-overload]
                raise exists
            w.session.add(inst)
            w.session.flush()
            creds = new_client(w.session, OWNER_INSTITUTION, inst.id, Role.INSTITUTION, auth_method, jwk)
            w.record("admin.institution.register", "registered", institution_id=inst.id, type=inst.type,
                     permitted_purposes=purposes, client_id=creds.client_id, auth_method=auth_method)
    except IntegrityError:
        raise exists from None
    return RegisteredOrganisation(inst, creds)


def register_provider(
    services: Services,
    *,
    actor: Actor,
    name: str,
    uscc: str,
    provider_type: str,
    auth_method: str = SECRET_BASIC,
    jwk: Any = None,
) -> RegisteredOrganisation:
    """Register a record provider and its first client; ``provider_exists`` on a known USCC."""
    clean_name = organisation_name(name)
    code = _uscc(uscc)
    known = provider_types()
    if provider_type not in known:
        raise InvalidRequest("unknown_provider_type", f"provider_type must be one of {', '.join(sorted(known))}")
    now = utcnow()
    prov = Provider(id=new_id(), name=clean_name, uscc=code, provider_type=provider_type, status=ACTIVE,
                    created_at=now, status_changed_at=now)
    exists = Conflict("provider_exists", "a provider with this USCC is registered")
    try:
        with audited_write(services, actor) as w:
            if w.session.execute(select(Provider.id).where(Provider.uscc == code)).first():  # type: ignore[arg-type,call-overload]
                raise exists
            w.session.add(prov)
            w.session.flush()
            creds = new_client(w.session, OWNER_PROVIDER, prov.id, Role.PROVIDER, auth_method, jwk)
            w.record("admin.provider.register", "registered", provider_id=prov.id, provider_type=provider_type,
                     client_id=creds.client_id, auth_method=auth_method)
    except IntegrityError:
        raise exists from None
    return RegisteredOrganisation(prov, creds)


def set_institution_status(services: Services, *, actor: Actor, institution_id: str, status: str) -> Institution:
    """Suspend or reactivate; takes effect for the very next request of its tokens."""
    return _set_status(services, actor, Institution, "institution", institution_id, status)  # type: ignore[no-any-return]


def set_provider_status(services: Services, *, actor: Actor, provider_id: str, status: str) -> Provider:
    """Suspend or reactivate a provider."""
    return _set_status(services, actor, Provider, "provider", provider_id, status)  # type: ignore[no-any-return]


def _set_status(services: Services, actor: Actor, model: Any, kind: str, org_id: str, status: str) -> Any:
    if status not in (ACTIVE, SUSPENDED):
        raise InvalidRequest("invalid_status", "status must be active or suspended")
    with audited_write(services, actor) as w:
        org = w.session.get(model, org_id, with_for_update=True)
        if org is None:
            raise NotFound(f"{kind}_not_found", f"no {kind} with this id")
        if org.status != status:
            org.status = status
            org.status_changed_at = utcnow()
            w.session.add(org)
            w.record(f"admin.{kind}.{'suspend' if status == SUSPENDED else 'reactivate'}", status,
                     **{f"{kind}_id": org_id})
    return org
