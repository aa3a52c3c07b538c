"""Guardianships: a guardian account acting for a minor, until ended or until the
ward reaches the guardianship age."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from policies import InvalidIdentifier, Role, age_on, load_consent_settings, parse_resident_id
from service.admin.actor import Actor
from service.admin.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from service.admin.names import person_name
from service.admin.transaction import audited_write, new_id
from service.db.types import china_today, utcnow
from service.identity.models import ACTIVE, Account, Guardianship
from service.runtime import Services
from service.subjects.repository import SubjectData, find_subject_id, register_subject


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
    from the birth date in the ID number (``ward_not_minor`` otherwise).
    An unknown ward is registered when ``ward_name`` is given, else
    ``subject_not_found``.
    """
    try:
        resident = parse_resident_id(ward_id_number, today or china_today())
    except InvalidIdentifier as exc:
        raise InvalidRequest.of(exc) from None
    limit = load_consent_settings().guardianship_age
    if age_on(resident.birth_date, today or china_today()) >= limit:
        raise Unprocessable("ward_not_minor", f"a ward must be under {limit} years old")
    clean_name = person_name(ward_name, "ward_name") if ward_name is not None else None
    link = Guardianship(id=new_id(), guardian_account_id=guardian_account_id, ward_subject_id="")
    exists = Conflict("guardianship_exists", "this guardian already acts for this ward")
    try:
        with audited_write(services, actor) as w:
            guardian = w.session.get(Account, guardian_account_id)
            if guardian is None:
                raise NotFound("account_not_found", "no account with this id")
            if guardian.role != Role.GUARDIAN.value:
                raise Conflict("account_not_guardian", "the account does not have the guardian role")
            if guardian.status != ACTIVE:
                raise Conflict("account_disabled", "the guardian account is disabled")
            ward_id = find_subject_id(w.session, services.blind_index, resident.number)
            if ward_id is None:
                if clean_name is None:
                    raise NotFound("subject_not_found", "the ward is not registered; give ward_name to register them")
                ward_id, _ = register_subject(w.session, services.vault, services.blind_index,
                                              SubjectData(id_number=resident.number, name=clean_name))
            open_link = w.session.execute(
                select(Guardianship.id).where(  # type: ignore[call-overload]
                    Guardianship.guardian_account_id == guardian_account_id,
                    Guardianship.ward_subject_id == ward_id,
                    Guardianship.ended_at.is_(None),  # type: ignore[union-attr]
                )
            ).first()
            if open_link:
                raise exists
            link.ward_subject_id = ward_id
            w.session.add(link)
            w.record("admin.guardianship.register", "registered", subject=ward_id, guardianship_id=link.id,
                     guardian_account_id=guardian_account_id)
    except IntegrityError:
        raise exists from None
    return link


def end_guardianship(services: Services, *, actor: Actor, guardianship_id: str) -> Guardianship:
    """End a guardianship now; the guardian loses the ward at the next request."""
    with audited_write(services, actor) as w:
        link = w.locked(Guardianship, guardianship_id, "guardianship")
        if link.ended_at is not None:
            raise Conflict("guardianship_ended", "this guardianship has already ended")
        link.ended_at = utcnow()
        w.session.add(link)
        w.record("admin.guardianship.end", "ended", subject=link.ward_subject_id, guardianship_id=link.id)
    return link
