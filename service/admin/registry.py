"""Registration by an operator: the functions behind ``/v1/admin/*`` and the CLI.

Each function validates its input, writes in one transaction, then appends an
audit entry naming the operator (``actor``) and the ids involved, never a
person's name or ID number. Errors are :class:`ProblemError` with a stable
code: 400 for invalid input (identifier errors use the ``policies`` code, e.g.
``uscc_checksum``; a subject's contact fields ``mobile_invalid``,
``address_invalid``, ``bank_card_invalid``), 404 for unknown ids, 409 for
duplicates and conflicts, 422 when a guardianship's ward is not a minor.
Problem details are fixed texts: they never repeat a submitted value.

Client credentials are generated here and returned exactly once: only the
SHA-256 of a secret is stored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policies import (
    INSTITUTION_TYPES,
    InvalidIdentifier,
    Role,
    age_on,
    load_consent_settings,
    load_provider_levels,
    load_purposes,
    parse_resident_id,
    validate_uscc,
)
from service.db.engine import IMMEDIATE
from service.db.types import china_today, utcnow
from service.fields import InvalidField, public_field
from service.http.problems import ProblemError
from service.identity.credentials import (
    InvalidClientKey,
    hash_client_secret,
    new_client_id,
    new_client_secret,
    validate_public_jwk,
)
from service.identity.events import record
from service.identity.models import (
    ACTIVE,
    CLIENT_AUTH_METHODS,
    DISABLED,
    OWNER_AUDITOR_TOOL,
    OWNER_INSTITUTION,
    OWNER_PROVIDER,
    PRIVATE_KEY_JWT,
    REVOKED,
    SECRET_BASIC,
    SUSPENDED,
    Account,
    Guardianship,
    Institution,
    OAuthClient,
    Provider,
)
from service.identity.passwords import WeakPassword, check_password_rules, hash_password
from service.identity.policy import ACCOUNT_ROLES, provider_types, scopes_for, valid_username
from service.identity.principal import Principal
from service.runtime import Services
from service.subjects.repository import SubjectData, find_subject_id, register_subject

_NAME_MAX = 200
_PERSON_NAME_MAX = 64
# A subject's contact fields (DESIGN §4: stored only encrypted, masked on output).
# ASCII digits only: ``\d`` would also take full-width and other Unicode digits.
_MOBILE = re.compile(r"1[0-9]{10}")
_BANK_CARD = re.compile(r"[0-9]{12,19}")
_ADDRESS_MIN, _ADDRESS_MAX = 2, 200


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an administrative action, as the audit log names them."""

    actor_type: str
    actor_id: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The operator behind a request."""
        return cls(principal.role.value, principal.actor_id)

    @classmethod
    def cli(cls) -> Actor:
        """The command line, run by whoever holds the server's keys."""
        return cls("operator", "cli")


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A new client's credentials; ``client_secret`` exists only in this object."""

    client_id: str
    auth_method: str
    client_secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For a response: the secret, when there is one, is shown this once."""
        out: dict[str, Any] = {"client_id": self.client_id, "auth_method": self.auth_method}
        if self.client_secret is not None:
            out["client_secret"] = self.client_secret
        return out


@dataclass(frozen=True, slots=True)
class RegisteredOrganisation:
    """An institution or provider and the credentials of its first client."""

    record: Institution | Provider
    credentials: IssuedCredentials


# --- helpers --------------------------------------------------------------------------------------


@contextmanager
def _write(services: Services) -> Iterator[Session]:
    with services.session() as session, session.begin():
        session.connection(execution_options=IMMEDIATE)
        yield session


def _bad(code: str, detail: str) -> ProblemError:
    return ProblemError(400, code, detail)


def _clean_name(name: str, what: str, limit: int) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > limit:
        raise _bad("invalid_name", f"{what} must be 1 to {limit} characters")
    return cleaned


def _luhn_ok(digits: str) -> bool:
    """The Luhn (ISO/IEC 7812-1) check digit of a card number is right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _mobile(raw: str) -> str:
    value = raw.strip()
    if _MOBILE.fullmatch(value) is None:
        raise _bad("mobile_invalid", "mobile must be 11 digits starting with 1, with no spaces or signs")
    return value


def _bank_card(raw: str) -> str:
    value = raw.strip()
    if _BANK_CARD.fullmatch(value) is None or not _luhn_ok(value):
        raise _bad("bank_card_invalid", "bank_card must be 12 to 19 digits, with no spaces, and a valid Luhn "
                                        "check digit")
    return value


def _address(raw: str) -> str:
    value = " ".join(raw.split())
    if not _ADDRESS_MIN <= len(value) <= _ADDRESS_MAX or not value.isprintable():
        raise _bad("address_invalid", f"address must be {_ADDRESS_MIN} to {_ADDRESS_MAX} printable characters")
    return value


def _contact(raw: str | None) -> str | None:
    """An institution's public contact details (PIPL art. 23 notice), never a person's number."""
    if raw is None:
        return None
    try:
        return public_field(raw, "contact", max_chars=_NAME_MAX)
    except InvalidField as exc:
        code = exc.code if exc.code == "personal_identifier_not_allowed" else "contact_invalid"
        raise _bad(code, f"contact: {exc.detail}") from None


def _level(raw: str | None) -> str | None:
    if raw is None:
        return None
    known = load_provider_levels()
    if raw not in known:
        raise _bad("provider_level_unknown", f"level must be one of {', '.join(sorted(known))}")
    return raw


def _uscc(raw: str) -> str:
    try:
        return validate_uscc(raw)
    except InvalidIdentifier as exc:
        raise _bad(exc.code, str(exc)) from None


def _credentials(auth_method: str, jwk: Any) -> tuple[bytes | None, dict[str, Any] | None, str | None]:
    """(secret hash, stored JWK set, plaintext secret) for a new client."""
    if auth_method not in CLIENT_AUTH_METHODS:
        raise _bad("unsupported_auth_method", f"auth_method must be one of {', '.join(CLIENT_AUTH_METHODS)}")
    if auth_method == SECRET_BASIC:
        if jwk is not None:
            raise _bad("jwk_not_expected", "a public key is only used with private_key_jwt")
        secret = new_client_secret()
        return hash_client_secret(secret), None, secret
    if jwk is None:
        raise _bad("jwk_required", "private_key_jwt needs the client's public key as a JWK")
    try:
        return None, validate_public_jwk(jwk), None
    except InvalidClientKey as exc:
        raise _bad(exc.code, str(exc)) from None


def _new_client(
    session: Session, owner_type: str, owner_id: str, role: Role, auth_method: str, jwk: Any,
) -> IssuedCredentials:
    secret_hash, jwks, secret = _credentials(auth_method, jwk)
    client = OAuthClient(
        client_id=new_client_id(), owner_type=owner_type, owner_id=owner_id, auth_method=auth_method,
        secret_hash=secret_hash, jwks=jwks, scopes=" ".join(scopes_for(role)), status=ACTIVE,
    )
    session.add(client)
    return IssuedCredentials(client.client_id, auth_method, secret)


def _check_purposes(institution_type: str, purposes: Iterable[str]) -> list[str]:
    if institution_type not in INSTITUTION_TYPES:
        raise _bad("unknown_institution_type", f"type must be one of {', '.join(sorted(INSTITUTION_TYPES))}")
    wanted = list(dict.fromkeys(purposes))
    if not wanted:
        raise _bad("permitted_purposes_required", "name at least one permitted purpose")
    catalogue = load_purposes()
    for code in wanted:
        purpose = catalogue.get(code)
        if purpose is None:
            raise _bad("unknown_purpose", f"unknown purpose {code[:64]!r}")
        if institution_type not in purpose.institution_types:
            raise _bad("purpose_not_permitted", f"purpose {code!r} is not open to {institution_type} institutions")
    return sorted(wanted)


# --- institutions -------------------------------------------------------------------------------


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
    """Register an institution and its first client; 409 ``institution_exists`` on a known USCC.
    ``contact`` (public: a service line or office address) is shown in the notice before a grant."""
    clean_name = _clean_name(name, "name", _NAME_MAX)
    code = _uscc(uscc)
    purposes = _check_purposes(institution_type, permitted_purposes)
    clean_contact = _contact(contact)
    now = utcnow()
    inst = Institution(
        id=_new_id(), name=clean_name, uscc=code, type=institution_type, permitted_purposes=purposes,
        status=ACTIVE, created_at=now, status_changed_at=now, contact=clean_contact,
    )
    try:
        with _write(services) as session:
            if session.execute(select(Institution.id).where(Institution.uscc == code)).first():  # type: ignore[arg-type,call-overload]
                raise ProblemError(409, "institution_exists", "an institution with this USCC is registered")
            session.add(inst)
            session.flush()
            creds = _new_client(session, OWNER_INSTITUTION, inst.id, Role.INSTITUTION, auth_method, jwk)
    except IntegrityError:
        raise ProblemError(409, "institution_exists", "an institution with this USCC is registered") from None
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
           action="admin.institution.register", decision="record", reason="registered",
           details={"institution_id": inst.id, "type": inst.type, "permitted_purposes": purposes,
                    "client_id": creds.client_id, "auth_method": auth_method})
    return RegisteredOrganisation(inst, creds)


def set_institution_status(services: Services, *, actor: Actor, institution_id: str, status: str) -> Institution:
    """Suspend or reactivate; takes effect for the very next request of its tokens."""
    return _set_org_status(services, actor, Institution, "institution", institution_id, status)


# --- providers ----------------------------------------------------------------------------------


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
    """Register a record provider and its first client; 409 ``provider_exists`` on a known USCC.
    ``level`` is its administrative level (only county level or above may list)."""
    clean_name = _clean_name(name, "name", _NAME_MAX)
    code = _uscc(uscc)
    known = provider_types()
    if provider_type not in known:
        raise _bad("unknown_provider_type", f"provider_type must be one of {', '.join(sorted(known))}")
    checked_level = _level(level)
    now = utcnow()
    prov = Provider(id=_new_id(), name=clean_name, uscc=code, provider_type=provider_type, status=ACTIVE,
                    created_at=now, status_changed_at=now, level=checked_level)
    try:
        with _write(services) as session:
            if session.execute(select(Provider.id).where(Provider.uscc == code)).first():  # type: ignore[arg-type,call-overload]
                raise ProblemError(409, "provider_exists", "a provider with this USCC is registered")
            session.add(prov)
            session.flush()
            creds = _new_client(session, OWNER_PROVIDER, prov.id, Role.PROVIDER, auth_method, jwk)
    except IntegrityError:
        raise ProblemError(409, "provider_exists", "a provider with this USCC is registered") from None
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
           action="admin.provider.register", decision="record", reason="registered",
           details={"provider_id": prov.id, "provider_type": provider_type, "client_id": creds.client_id,
                    "auth_method": auth_method, "level": checked_level})
    return RegisteredOrganisation(prov, creds)


def set_provider_status(services: Services, *, actor: Actor, provider_id: str, status: str) -> Provider:
    """Suspend or reactivate a provider."""
    return _set_org_status(services, actor, Provider, "provider", provider_id, status)


def _set_org_status(services: Services, actor: Actor, model: Any, kind: str, org_id: str, status: str) -> Any:
    if status not in (ACTIVE, SUSPENDED):
        raise _bad("invalid_status", "status must be active or suspended")
    with _write(services) as session:
        org = session.get(model, org_id, with_for_update=True)
        if org is None:
            raise ProblemError(404, f"{kind}_not_found", f"no {kind} with this id")
        changed = org.status != status
        if changed:
            org.status = status
            org.status_changed_at = utcnow()
            session.add(org)
    if changed:
        record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
               action=f"admin.{kind}.{'suspend' if status == SUSPENDED else 'reactivate'}",
               decision="record", reason=status, details={f"{kind}_id": org_id})
    return org


# --- accounts -----------------------------------------------------------------------------------


def register_account(
    services: Services,
    *,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    id_number: str | None = None,
    name: str | None = None,
    mobile: str | None = None,
    address: str | None = None,
    bank_card: str | None = None,
) -> Account:
    """Register a person's login. For ``subject`` the person's ID number and name are
    required: the subject is found (blind index) or registered (encrypted) and
    linked by id; neither value is stored anywhere else or returned.

    A subject may also be given ``mobile`` (11 digits starting with 1),
    ``address`` (2-200 characters, whitespace collapsed) and ``bank_card``
    (12-19 digits with a valid Luhn check digit); each is validated (400
    ``mobile_invalid``, ``address_invalid``, ``bank_card_invalid``) and stored
    only encrypted, with the other personal fields of a newly registered subject.

    Contact fields never change a person the service already holds (found by
    blind index, e.g. registered by a provider's record or as a ward): giving
    any of them for such a person is refused with 409
    ``subject_exists_contact_not_stored`` and nothing is written, neither the
    account nor the fields. Registering the account without them links it to
    the existing person as before. So a stored value is never silently
    overwritten, and a blank one never silently filled in.
    """
    handle = username.strip()
    if not valid_username(handle):
        raise _bad("invalid_username", "username must be 3-64 of a-z 0-9 . _ - , start with a letter or digit, "
                                       "and contain no run of 7 or more digits")
    try:
        account_role = Role(role)
    except ValueError:
        account_role = None
    if account_role not in ACCOUNT_ROLES:
        raise _bad("unknown_role", "role must be one of subject, guardian, auditor, operator")
    try:
        check_password_rules(password, handle)
    except WeakPassword as exc:
        raise _bad("weak_password", str(exc)) from None
    is_subject = account_role == Role.SUBJECT
    contact_given = any(v is not None for v in (mobile, address, bank_card))
    if is_subject and (not id_number or not name):
        raise _bad("subject_identity_required", "a subject account needs the person's ID number and name")
    if not is_subject and (id_number or name or contact_given):
        raise _bad("unexpected_subject_identity",
                   "only subject accounts carry an ID number, name, mobile, address or bank card")
    person: SubjectData | None = None
    if is_subject and id_number and name:
        try:
            number = parse_resident_id(id_number, china_today()).number
        except InvalidIdentifier as exc:
            raise _bad(exc.code, str(exc)) from None
        person = SubjectData(
            id_number=number, name=_clean_name(name, "name", _PERSON_NAME_MAX),
            mobile=_mobile(mobile) if mobile is not None else None,
            address=_address(address) if address is not None else None,
            bank_card=_bank_card(bank_card) if bank_card is not None else None,
        )
    contact_fields = [k for k, v in (("mobile", mobile), ("address", address), ("bank_card", bank_card))
                      if v is not None]
    account = Account(id=_new_id(), username=handle, password_hash=hash_password(password),
                      role=account_role.value, status=ACTIVE, failed_logins=0)
    try:
        with _write(services) as session:
            if session.execute(select(Account.id).where(Account.username == handle)).first():  # type: ignore[arg-type,call-overload]
                raise ProblemError(409, "username_taken", "this username is taken")
            if person is not None:
                subject_id, created = register_subject(session, services.vault, services.blind_index, person)
                taken = session.execute(
                    select(Account.id).where(Account.subject_id == subject_id)  # type: ignore[arg-type,call-overload]
                ).first()
                if taken:
                    raise ProblemError(409, "subject_has_account", "this person already has an account")
                if not created and contact_fields:
                    # Raising rolls the transaction back: no account, and the person's row is untouched.
                    raise ProblemError(
                        409, "subject_exists_contact_not_stored",
                        "this person is already registered and their mobile, address and bank card are not "
                        "changed by account registration; register the account without them",
                    )
                account.subject_id = subject_id
            session.add(account)
    except IntegrityError:
        raise ProblemError(409, "account_exists", "the username or the person is already registered") from None
    details: dict[str, Any] = {"account_id": account.id, "role": account.role}
    if person is not None:
        details["contact_fields"] = contact_fields  # which fields were stored, never their values
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id, action="admin.account.register",
           decision="record", reason="registered", subject=account.subject_id, details=details)
    return account


def set_account_status(services: Services, *, actor: Actor, account_id: str, status: str) -> Account:
    """Disable or enable an account; a disabled account's tokens stop working at once."""
    if status not in (ACTIVE, DISABLED):
        raise _bad("invalid_status", "status must be active or disabled")
    with _write(services) as session:
        account = session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise ProblemError(404, "account_not_found", "no account with this id")
        changed = account.status != status
        if changed:
            account.status = status
            if status == ACTIVE:
                account.failed_logins = 0
                account.locked_until = None
            session.add(account)
    if changed:
        record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
               action=f"admin.account.{'enable' if status == ACTIVE else 'disable'}", decision="record",
               reason=status, details={"account_id": account_id})
    return account


# --- guardianships ------------------------------------------------------------------------------


def register_guardianship(
    services: Services,
    *,
    actor: Actor,
    guardian_account_id: str,
    ward_id_number: str,
    ward_name: str | None = None,
    today: date | None = None,
) -> Guardianship:
    """Record that a guardian account acts for a minor.

    The ward must be under the guardianship age (policy data) today, counted
    from the birth date in the ID number (422 ``ward_not_minor`` otherwise).
    An unknown ward is registered when ``ward_name`` is given, else 404
    ``subject_not_found``.
    """
    try:
        resident = parse_resident_id(ward_id_number, today or china_today())
    except InvalidIdentifier as exc:
        raise _bad(exc.code, str(exc)) from None
    limit = load_consent_settings().guardianship_age
    if age_on(resident.birth_date, today or china_today()) >= limit:
        raise ProblemError(422, "ward_not_minor", f"a ward must be under {limit} years old")
    clean_name = _clean_name(ward_name, "ward_name", _PERSON_NAME_MAX) if ward_name is not None else None
    link = Guardianship(id=_new_id(), guardian_account_id=guardian_account_id, ward_subject_id="")
    try:
        with _write(services) as session:
            guardian = session.get(Account, guardian_account_id)
            if guardian is None:
                raise ProblemError(404, "account_not_found", "no account with this id")
            if guardian.role != Role.GUARDIAN.value:
                raise ProblemError(409, "account_not_guardian", "the account does not have the guardian role")
            if guardian.status != ACTIVE:
                raise ProblemError(409, "account_disabled", "the guardian account is disabled")
            ward_id = find_subject_id(session, services.blind_index, resident.number)
            if ward_id is None:
                if clean_name is None:
                    raise ProblemError(404, "subject_not_found",
                                       "the ward is not registered; give ward_name to register them")
                ward_id, _ = register_subject(session, services.vault, services.blind_index,
                                              SubjectData(id_number=resident.number, name=clean_name))
            open_link = session.execute(
                select(Guardianship.id).where(  # type: ignore[call-overload]
                    Guardianship.guardian_account_id == guardian_account_id,  # type: ignore[arg-type]
                    Guardianship.ward_subject_id == ward_id,  # type: ignore[arg-type]
                    Guardianship.ended_at.is_(None),  # type: ignore[union-attr]
                )
            ).first()
            if open_link:
                raise ProblemError(409, "guardianship_exists", "this guardian already acts for this ward")
            link.ward_subject_id = ward_id
            session.add(link)
    except IntegrityError:
        raise ProblemError(409, "guardianship_exists", "this guardian already acts for this ward") from None
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
           action="admin.guardianship.register", decision="record", reason="registered",
           subject=link.ward_subject_id,
           details={"guardianship_id": link.id, "guardian_account_id": guardian_account_id})
    return link


def end_guardianship(services: Services, *, actor: Actor, guardianship_id: str) -> Guardianship:
    """End a guardianship now; the guardian loses the ward at the next request."""
    with _write(services) as session:
        link = session.get(Guardianship, guardianship_id, with_for_update=True)
        if link is None:
            raise ProblemError(404, "guardianship_not_found", "no guardianship with this id")
        if link.ended_at is not None:
            raise ProblemError(409, "guardianship_ended", "this guardianship has already ended")
        link.ended_at = utcnow()
        session.add(link)
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id,
           action="admin.guardianship.end", decision="record", reason="ended", subject=link.ward_subject_id,
           details={"guardianship_id": link.id})
    return link


# --- clients ------------------------------------------------------------------------------------


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
        raise _bad("unknown_owner_type", "owner_type must be institution, provider or auditor_tool")
    model, role, kind = _OWNERS[owner_type]
    with _write(services) as session:
        owner = session.get(model, owner_id)
        if owner is None:
            raise ProblemError(404, f"{kind}_not_found", f"no {kind} with this id")
        if owner_type == OWNER_AUDITOR_TOOL and owner.role != Role.AUDITOR.value:
            raise ProblemError(409, "account_not_auditor", "auditor tools belong to auditor accounts")
        creds = _new_client(session, owner_type, owner_id, role, auth_method, jwk)
    record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id, action="admin.client.register",
           decision="record", reason="registered",
           details={"client_id": creds.client_id, "owner_type": owner_type, "owner_id": owner_id,
                    "auth_method": auth_method})
    return creds


def revoke_client(services: Services, *, actor: Actor, client_id: str) -> OAuthClient:
    """Revoke a client: no new tokens, and its issued tokens stop working at once."""
    with _write(services) as session:
        client = session.get(OAuthClient, client_id, with_for_update=True)
        if client is None:
            raise ProblemError(404, "client_not_found", "no client with this id")
        changed = client.status != REVOKED
        if changed:
            client.status = REVOKED
            session.add(client)
    if changed:
        record(services.writer, actor_type=actor.actor_type, actor_id=actor.actor_id, action="admin.client.revoke",
               decision="record", reason="revoked", details={"client_id": client_id})
    return client


def _new_id() -> str:
    return uuid.uuid4().hex


__all__ = [
    "PRIVATE_KEY_JWT",
    "SECRET_BASIC",
    "Actor",
    "IssuedCredentials",
    "RegisteredOrganisation",
    "add_client",
    "end_guardianship",
    "register_account",
    "register_guardianship",
    "register_institution",
    "register_provider",
    "revoke_client",
    "set_account_status",
    "set_institution_status",
    "set_provider_status",
]
