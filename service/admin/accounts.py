"""People's logins: registration (a subject's personal data encrypted), disabling,
enabling, and lifting lock-outs."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from policies import InvalidIdentifier, Role, parse_resident_id, validate_bank_card, validate_mobile
from policies.text import TextRefused, clean_text
from service.admin.actor import Actor
from service.admin.errors import Conflict, InvalidRequest
from service.admin.names import person_name
from service.admin.transaction import audited_write, new_id
from service.db.types import china_today
from service.identity.lockout import lift_account_blocks
from service.identity.models import ACTIVE, DISABLED, Account
from service.identity.passwords import WeakPassword, check_password_rules, hash_password
from service.identity.policy import ACCOUNT_ROLES, valid_username
from service.runtime import Services
from service.subjects.repository import SubjectData, register_subject

ADDRESS_MIN, ADDRESS_MAX = 2, 200


def _identifier(check: Callable[[str], str], raw: str) -> str:
    try:
        return check(raw)
    except InvalidIdentifier as exc:
        raise InvalidRequest.of(exc) from None


def _address(raw: str) -> str:
    try:
        value = clean_text(" ".join(raw.split()), max_chars=ADDRESS_MAX)
    except TextRefused:
        value = ""
    # Invisible format characters (zero-width and the like) have no place in an address.
    if len(value) < ADDRESS_MIN or not value.isprintable():
        raise InvalidRequest("address_invalid", f"address must be {ADDRESS_MIN} to {ADDRESS_MAX} printable characters")
    return value


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
    (12-19 digits with a valid Luhn check digit); each is validated
    (``mobile_invalid``, ``address_invalid``, ``bank_card_invalid``) and stored
    only encrypted, with the other personal fields of a newly registered subject.

    Contact fields never change a person the service already holds (found by
    blind index, e.g. registered by a provider's record or as a ward): giving
    any of them for such a person is refused (``subject_exists_contact_not_stored``)
    and nothing is written, neither the account nor the fields. Registering the
    account without them links it to the existing person as before. So a stored
    value is never silently overwritten, and a blank one never silently filled in.
    """
    handle = username.strip()
    if not valid_username(handle):
        raise InvalidRequest("invalid_username", "username must be 3-64 of a-z 0-9 . _ - , start with a letter or "
                                                 "digit, and contain no run of 7 or more digits")
    try:
        account_role: Role | None = Role(role)
    except ValueError:
        account_role = None
    if account_role is None or account_role not in ACCOUNT_ROLES:
        raise InvalidRequest("unknown_role", "role must be one of subject, guardian, auditor, operator")
    try:
        check_password_rules(password, handle)
    except WeakPassword as exc:
        raise InvalidRequest("weak_password", str(exc)) from None
    is_subject = account_role == Role.SUBJECT
    contact_fields = [k for k, v in (("mobile", mobile), ("address", address), ("bank_card", bank_card))
                      if v is not None]
    if is_subject and (not id_number or not name):
        raise InvalidRequest("subject_identity_required", "a subject account needs the person's ID number and name")
    if not is_subject and (id_number or name or contact_fields):
        raise InvalidRequest("unexpected_subject_identity",
                             "only subject accounts carry an ID number, name, mobile, address or bank card")
    person: SubjectData | None = None
    if is_subject and id_number and name:
        try:
            number = parse_resident_id(id_number, china_today()).number
        except InvalidIdentifier as exc:
            raise InvalidRequest.of(exc) from None
        person = SubjectData(
            id_number=number, name=person_name(name),
            mobile=_identifier(validate_mobile, mobile) if mobile is not None else None,
            address=_address(address) if address is not None else None,
            bank_card=_identifier(validate_bank_card, bank_card) if bank_card is not None else None,
        )
    account = Account(id=new_id(), username=handle, password_hash=hash_password(password),
                      role=account_role.value, status=ACTIVE, failed_logins=0)
    try:
        with audited_write(services, actor) as w:
            if w.session.execute(select(col(Account.id)).where(col(Account.username) == handle)).first():
                raise Conflict("username_taken", "this username is taken")
            if person is not None:
                subject_id, created = register_subject(w.session, services.vault, services.blind_index, person)
                taken = w.session.execute(
                    select(col(Account.id)).where(col(Account.subject_id) == subject_id)
                ).first()
                if taken:
                    raise Conflict("subject_has_account", "this person already has an account")
                if not created and contact_fields:
                    # Raising rolls the transaction back: no account, and the person's row is untouched.
                    raise Conflict(
                        "subject_exists_contact_not_stored",
                        "this person is already registered and their mobile, address and bank card are not "
                        "changed by account registration; register the account without them",
                    )
                account.subject_id = subject_id
            w.session.add(account)
            details: dict[str, object] = {"account_id": account.id, "role": account.role}
            if person is not None:
                details["contact_fields"] = contact_fields  # which fields were stored, never their values
            w.record("admin.account.register", "registered", subject=account.subject_id, **details)
    except IntegrityError:
        raise Conflict("account_exists", "the username or the person is already registered") from None
    return account


def set_account_status(services: Services, *, actor: Actor, account_id: str, status: str) -> Account:
    """Disable or enable an account. A disabled account's tokens stop working at once;
    the last active operator cannot be disabled (``last_operator``). Enabling also
    lifts every lock-out of the account (its failed logins from every source are
    forgotten), whether or not it was disabled."""
    if status not in (ACTIVE, DISABLED):
        raise InvalidRequest("invalid_status", "status must be active or disabled")
    with audited_write(services, actor) as w:
        session = w.session
        if status == DISABLED:
            # Lock every active operator row first, so that two operators disabling each
            # other at the same moment cannot both succeed.
            operators = session.execute(
                select(col(Account.id)).where(col(Account.role) == Role.OPERATOR.value, col(Account.status) == ACTIVE)
                .with_for_update()
            ).scalars().all()
        account = w.locked(Account, account_id, "account")
        if status == DISABLED and account.status == ACTIVE and account.role == Role.OPERATOR.value \
                and set(operators) == {account.id}:
            raise Conflict("last_operator", "the last active operator cannot be disabled; enable or register "
                                            "another operator first")
        if account.status != status:
            account.status = status
            session.add(account)
            w.record(f"admin.account.{'enable' if status == ACTIVE else 'disable'}", status, account_id=account_id)
        if status == ACTIVE:
            lifted = lift_account_blocks(session, account_id)
            if lifted:
                w.record("admin.account.unlock", "lockouts_lifted", account_id=account_id, sources=lifted)
    return account

