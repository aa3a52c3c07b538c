"""``/v1/admin/*``: registration, for operators with the ``admin`` scope only.

Request bodies are decoded strictly (``service.http.body``: unknown fields and
wrong types are a 400). The registration domain's refusals
(:class:`~service.admin.errors.AdminError`) become problem responses here, at the
edge. Responses never contain a person's ID number or name; a client secret
appears once, in the response that created it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from policies import Role
from service.admin.registry import (
    Actor,
    AdminError,
    Conflict,
    InvalidRequest,
    IssuedCredentials,
    NotFound,
    Unprocessable,
    add_client,
    end_guardianship,
    register_account,
    register_guardianship,
    register_institution,
    register_provider,
    revoke_client,
    set_account_status,
    set_institution_status,
    set_provider_status,
)
from service.http.body import strict_body
from service.http.problems import PROBLEM_JSON, ProblemError, problem_parts
from service.identity.guards import require_roles
from service.identity.models import (
    ACTIVE,
    DISABLED,
    SUSPENDED,
    Account,
    Guardianship,
    Institution,
    OAuthClient,
    Provider,
)
from service.identity.principal import Principal
from service.runtime import Services

OPERATOR_ONLY = [require_roles(Role.OPERATOR, scope="admin")]
_STATUS = {InvalidRequest: 400, NotFound: 404, Conflict: 409, Unprocessable: 422}


def admin_problem(request: Request[Any, Any, Any], exc: AdminError) -> Response[dict[str, Any]]:
    """A registration refusal as a problem response (noted for the refusal audit)."""
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    status, body, headers = problem_parts(ProblemError(status, exc.code, exc.detail), request.scope)  # type: ignore[arg-type]
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


_ERRORS: dict[Any, Any] = {AdminError: admin_problem}


def _admin(path: str, status_code: int, summary: str, body: Any = None) -> Callable[[Callable[..., Any]], Any]:
    """An operator-only POST route: role guard, refusal translation, strict body."""
    return post(path, guards=OPERATOR_ONLY, tags=_TAGS, exception_handlers=_ERRORS, sync_to_thread=True,
                status_code=status_code, summary=summary,
                dependencies={"payload": strict_body(body)} if body is not None else None)
Operator: TypeAlias = NamedDependency[Principal]
Svc: TypeAlias = NamedDependency[Services]
_TAGS = ["admin"]

AuthMethod = Literal["client_secret_basic", "private_key_jwt"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class InstitutionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A querying institution and how its client authenticates."""

    name: Name
    uscc: Annotated[str, msgspec.Meta(max_length=32)]
    type: Code
    permitted_purposes: Annotated[list[Code], msgspec.Meta(max_length=32)]
    auth_method: AuthMethod = "client_secret_basic"
    jwk: dict[str, Any] | None = None
    #: Public contact details (service line, office address), shown to people before they grant.
    contact: Name | None = None


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    """A record provider / deciding department and how its client authenticates."""

    name: Name
    uscc: Annotated[str, msgspec.Meta(max_length=32)]
    provider_type: Code
    auth_method: AuthMethod = "client_secret_basic"
    jwk: dict[str, Any] | None = None
    #: Administrative level: national, provincial, prefectural, county or township.
    level: Code | None = None


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person's login; ``id_number`` and ``name`` only (and always) for role subject,
    which may also carry ``mobile``, ``address`` and ``bank_card`` (optional; validated
    and stored encrypted; refused for a person already registered)."""

    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=256)]
    role: Literal["subject", "guardian", "auditor", "operator"]
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # Upper bounds only; the registry's rules give the specific codes (mobile_invalid, ...).
    mobile: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    address: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    bank_card: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class GuardianshipIn(msgspec.Struct, forbid_unknown_fields=True):
    """A guardian account and the minor they act for (by ID number)."""

    guardian_account_id: Id
    ward_id_number: Annotated[str, msgspec.Meta(max_length=32)]
    ward_name: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ClientIn(msgspec.Struct, forbid_unknown_fields=True):
    """An additional client (credential rotation) or an auditor's tool."""

    owner_type: Literal["institution", "provider", "auditor_tool"]
    owner_id: Id
    auth_method: AuthMethod = "client_secret_basic"
    jwk: dict[str, Any] | None = None


# --- views (nothing personal) -----------------------------------------------------------------------


def institution_view(inst: Institution, creds: IssuedCredentials | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": inst.id, "name": inst.name, "uscc": inst.uscc, "type": inst.type,
        "permitted_purposes": list(inst.permitted_purposes), "status": inst.status, "contact": inst.contact,
        "created_at": inst.created_at.isoformat(), "status_changed_at": inst.status_changed_at.isoformat(),
    }
    if creds is not None:
        out["client"] = creds.as_dict()
    return out


def provider_view(prov: Provider, creds: IssuedCredentials | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": prov.id, "name": prov.name, "uscc": prov.uscc, "provider_type": prov.provider_type,
        "level": prov.level, "status": prov.status, "created_at": prov.created_at.isoformat(),
        "status_changed_at": prov.status_changed_at.isoformat(),
    }
    if creds is not None:
        out["client"] = creds.as_dict()
    return out


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.id, "username": account.username, "role": account.role, "status": account.status,
        "subject_id": account.subject_id, "created_at": account.created_at.isoformat(),
    }


def guardianship_view(link: Guardianship) -> dict[str, Any]:
    return {
        "id": link.id, "guardian_account_id": link.guardian_account_id, "ward_subject_id": link.ward_subject_id,
        "created_at": link.created_at.isoformat(),
        "ended_at": link.ended_at.isoformat() if link.ended_at else None,
    }


def client_view(client: OAuthClient) -> dict[str, Any]:
    return {"client_id": client.client_id, "owner_type": client.owner_type, "owner_id": client.owner_id,
            "auth_method": client.auth_method, "status": client.status}


# --- institutions -------------------------------------------------------------------------------


@_admin("/v1/admin/institutions", 201, "Register an institution (client secret shown once)", InstitutionIn)
def create_institution(principal: Operator, services: Svc, data: JSONBody[InstitutionIn],
                       payload: NamedDependency[InstitutionIn]) -> dict[str, Any]:
    """Register a querying institution and issue its client credentials."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    done = register_institution(
        services, actor=Actor.of(principal), name=data.name, uscc=data.uscc, institution_type=data.type,
        permitted_purposes=data.permitted_purposes, auth_method=data.auth_method, jwk=data.jwk, contact=data.contact,
    )
    return institution_view(done.record, done.credentials)  # type: ignore[arg-type]


@_admin("/v1/admin/institutions/{institution_id:str}/suspend", 200, "Suspend an institution (effective at once)")
def suspend_institution(principal: Operator, services: Svc, institution_id: FromPath[str]) -> dict[str, Any]:
    """Suspend: its tokens stop working on the next request."""
    inst = set_institution_status(services, actor=Actor.of(principal), institution_id=institution_id,
                                  status=SUSPENDED)
    return institution_view(inst)


@_admin("/v1/admin/institutions/{institution_id:str}/reactivate", 200, "Reactivate a suspended institution")
def reactivate_institution(principal: Operator, services: Svc, institution_id: FromPath[str]) -> dict[str, Any]:
    """Reactivate a suspended institution."""
    inst = set_institution_status(services, actor=Actor.of(principal), institution_id=institution_id,
                                  status=ACTIVE)
    return institution_view(inst)


# --- providers ----------------------------------------------------------------------------------


@_admin("/v1/admin/providers", 201, "Register a record provider (client secret shown once)", ProviderIn)
def create_provider(principal: Operator, services: Svc, data: JSONBody[ProviderIn],
                    payload: NamedDependency[ProviderIn]) -> dict[str, Any]:
    """Register a provider / deciding department and issue its client credentials."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    done = register_provider(
        services, actor=Actor.of(principal), name=data.name, uscc=data.uscc, provider_type=data.provider_type,
        auth_method=data.auth_method, jwk=data.jwk, level=data.level,
    )
    return provider_view(done.record, done.credentials)  # type: ignore[arg-type]


@_admin("/v1/admin/providers/{provider_id:str}/suspend", 200, "Suspend a provider")
def suspend_provider(principal: Operator, services: Svc, provider_id: FromPath[str]) -> dict[str, Any]:
    """Suspend a provider: its tokens stop working on the next request."""
    return provider_view(set_provider_status(services, actor=Actor.of(principal), provider_id=provider_id,
                                             status=SUSPENDED))


@_admin("/v1/admin/providers/{provider_id:str}/reactivate", 200, "Reactivate a provider")
def reactivate_provider(principal: Operator, services: Svc, provider_id: FromPath[str]) -> dict[str, Any]:
    """Reactivate a suspended provider."""
    return provider_view(set_provider_status(services, actor=Actor.of(principal), provider_id=provider_id,
                                             status=ACTIVE))


# --- accounts -----------------------------------------------------------------------------------


@_admin("/v1/admin/accounts", 201, "Register a person's account", AccountIn)
def create_account(principal: Operator, services: Svc, data: JSONBody[AccountIn],
                   payload: NamedDependency[AccountIn]) -> dict[str, Any]:
    """Register a login; for a subject, link (or register, encrypted) the person by ID number.

    A subject's ``mobile``, ``address`` and ``bank_card`` are optional and stored only for a
    person not yet registered (409 ``subject_exists_contact_not_stored`` otherwise)."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    account = register_account(
        services, actor=Actor.of(principal), username=data.username, password=data.password, role=data.role,
        id_number=data.id_number, name=data.name, mobile=data.mobile, address=data.address,
        bank_card=data.bank_card,
    )
    return account_view(account)


@_admin("/v1/admin/accounts/{account_id:str}/disable", 200, "Disable an account (effective at once)")
def disable_account(principal: Operator, services: Svc, account_id: FromPath[str]) -> dict[str, Any]:
    """Disable: the account cannot log in and its tokens stop working."""
    return account_view(set_account_status(services, actor=Actor.of(principal), account_id=account_id,
                                           status=DISABLED))


@_admin("/v1/admin/accounts/{account_id:str}/enable", 200, "Enable an account (and lift a lock-out)")
def enable_account(principal: Operator, services: Svc, account_id: FromPath[str]) -> dict[str, Any]:
    """Enable a disabled account; also clears a lock-out."""
    return account_view(set_account_status(services, actor=Actor.of(principal), account_id=account_id,
                                           status=ACTIVE))


# --- guardianships ------------------------------------------------------------------------------


@_admin("/v1/admin/guardianships", 201, "Register a guardian for a minor", GuardianshipIn)
def create_guardianship(principal: Operator, services: Svc, data: JSONBody[GuardianshipIn],
                        payload: NamedDependency[GuardianshipIn]) -> dict[str, Any]:
    """Link a guardian account to a ward under the guardianship age."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    link = register_guardianship(
        services, actor=Actor.of(principal), guardian_account_id=data.guardian_account_id,
        ward_id_number=data.ward_id_number, ward_name=data.ward_name,
    )
    return guardianship_view(link)


@_admin("/v1/admin/guardianships/{guardianship_id:str}/end", 200, "End a guardianship")
def finish_guardianship(principal: Operator, services: Svc, guardianship_id: FromPath[str]) -> dict[str, Any]:
    """End a guardianship now."""
    return guardianship_view(end_guardianship(services, actor=Actor.of(principal),
                                              guardianship_id=guardianship_id))


# --- clients ------------------------------------------------------------------------------------


@_admin("/v1/admin/clients", 201, "Add a client (rotation, or an auditor's tool); secret shown once", ClientIn)
def create_client(principal: Operator, services: Svc, data: JSONBody[ClientIn],
                  payload: NamedDependency[ClientIn]) -> dict[str, Any]:
    """Issue credentials for another client of an institution, provider or auditor."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    creds = add_client(services, actor=Actor.of(principal), owner_type=data.owner_type, owner_id=data.owner_id,
                       auth_method=data.auth_method, jwk=data.jwk)
    return {**creds.as_dict(), "owner_type": data.owner_type, "owner_id": data.owner_id}


@_admin("/v1/admin/clients/{client_id:str}/revoke", 200, "Revoke a client (effective at once)")
def revoke(principal: Operator, services: Svc, client_id: FromPath[str]) -> dict[str, Any]:
    """Revoke a client's credentials and every token issued to it."""
    return client_view(revoke_client(services, actor=Actor.of(principal), client_id=client_id))


ROUTES = [
    create_institution, suspend_institution, reactivate_institution,
    create_provider, suspend_provider, reactivate_provider,
    create_account, disable_account, enable_account,
    create_guardianship, finish_guardianship,
    create_client, revoke,
]
