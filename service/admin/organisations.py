"""Institutions and providers: registration with a first client, suspension, reactivation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from policies import INSTITUTION_TYPES, InvalidIdentifier, Role, load_provider_levels, load_purposes, validate_uscc
from service.admin.actor import Actor
from service.admin.credentials import IssuedCredentials, new_client
from service.admin.errors import Conflict, InvalidRequest
from service.admin.names import organisation_contact, organisation_name
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
    contact: str | None = None,
) -> RegisteredOrganisation:
    """Register an institution and its first client; ``institution_exists`` on a known USCC.
    ``contact`` (public) is shown in the notice a person reads before granting."""
    clean_name = organisation_name(name)
    code = _uscc(uscc)
    purposes = _check_purposes(institution_type, permitted_purposes)
    clean_contact = organisation_contact(contact)
    now = utcnow()
    inst = Institution(
        id=new_id(), name=clean_name, uscc=code, type=institution_type, permitted_purposes=purposes,
        status=ACTIVE, created_at=now, status_changed_at=now, contact=clean_contact,
    )
    creds = _register(services, actor, inst, OWNER_INSTITUTION, Role.INSTITUTION, auth_method, jwk,
                      type=inst.type, permitted_purposes=purposes)
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
    level: str | None = None,
) -> RegisteredOrganisation:
    """Register a record provider and its first client; ``provider_exists`` on a known USCC.
    ``level`` is its administrative level (only county level or above may list)."""
    clean_name = organisation_name(name)
    code = _uscc(uscc)
    known = provider_types()
    if provider_type not in known:
        raise InvalidRequest("unknown_provider_type", f"provider_type must be one of {', '.join(sorted(known))}")
    if level is not None and level not in load_provider_levels():
        raise InvalidRequest("provider_level_unknown",
                             f"level must be one of {', '.join(sorted(load_provider_levels()))}")
    now = utcnow()
    prov = Provider(id=new_id(), name=clean_name, uscc=code, provider_type=provider_type, status=ACTIVE,
                    created_at=now, status_changed_at=now, level=level)
    creds = _register(services, actor, prov, OWNER_PROVIDER, Role.PROVIDER, auth_method, jwk,
                      provider_type=provider_type, level=level)
    return RegisteredOrganisation(prov, creds)


def _register(services: Services, actor: Actor, org: Institution | Provider, kind: str, role: Role,
              auth_method: str, jwk: Any, **details: Any) -> IssuedCredentials:
    """Store a new organisation with its first client and the audit entry, in one
    transaction; ``<kind>_exists`` when its USCC is taken (checked, and kept by the
    unique index against a concurrent registration)."""
    model = type(org)
    exists = Conflict(f"{kind}_exists", f"an {kind} with this USCC is registered" if kind == OWNER_INSTITUTION
                      else f"a {kind} with this USCC is registered")
    try:
        with audited_write(services, actor) as w:
            if w.session.execute(select(col(model.id)).where(col(model.uscc) == org.uscc)).first():
                raise exists
            w.session.add(org)
            w.session.flush()
            creds = new_client(w.session, kind, org.id, role, auth_method, jwk)
            w.record(f"admin.{kind}.register", "registered", **{f"{kind}_id": org.id}, **details,
                     client_id=creds.client_id, auth_method=auth_method)
    except IntegrityError:
        raise exists from None
    return creds


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
        org = w.locked(model, org_id, kind)
        if org.status != status:
            org.status = status
            org.status_changed_at = utcnow()
            w.session.add(org)
            w.record(f"admin.{kind}.{'suspend' if status == SUSPENDED else 'reactivate'}", status,
                     **{f"{kind}_id": org_id})
    return org
