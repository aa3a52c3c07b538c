"""People and institutions for consent tests, written straight to the tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest

from policies import Role, make_resident_id, make_uscc
from service.identity.models import Account, Guardianship, Institution
from service.identity.principal import Principal
from service.runtime import Services
from service.subjects.repository import SubjectData, register_subject


@dataclass
class World:
    services: Services
    bank: Principal
    other_bank: Principal
    employer: Principal
    adult: Principal
    adult_id_number: str
    minor_id_number: str
    minor_subject: str
    guardian: Principal
    stranger: Principal


def _institution(services: Services, name: str, kind: str, purposes: list[str], n: int) -> Principal:
    inst_id = uuid.uuid4().hex
    with services.write_session() as s, s.begin():  # reads, then writes: IMMEDIATE
        s.add(Institution(id=inst_id, name=name, uscc=make_uscc(f"91110105MA0{n:06d}"), type=kind,
                          permitted_purposes=purposes, status="active"))
    return Principal(role=Role.INSTITUTION, actor_id=inst_id, institution_id=inst_id, institution_type=kind,
                     permitted_purposes=frozenset(purposes))


def _person(
    services: Services, role: Role, subject: str | None = None, wards: frozenset[str] = frozenset()
) -> Principal:
    account_id = uuid.uuid4().hex
    with services.write_session() as s, s.begin():  # reads, then writes: IMMEDIATE
        s.add(Account(id=account_id, username=f"u{account_id[:10]}", password_hash="x", role=role.value,
                      subject_id=subject, status="active"))
        for ward in wards:
            s.add(Guardianship(id=uuid.uuid4().hex, guardian_account_id=account_id, ward_subject_id=ward))
    return Principal(role=role, actor_id=account_id, account_id=account_id, subject_id=subject, wards=wards)


def _subject(services: Services, number: str, name: str) -> str:
    with services.write_session() as s, s.begin():  # reads, then writes: IMMEDIATE
        return register_subject(s, services.vault, services.blind_index, SubjectData(number, name, "13800138000"))[0]


@pytest.fixture
def world(services: Services) -> World:
    adult_number = make_resident_id("110105", date(1985, 3, 9), 12, "male")
    minor_number = make_resident_id("310115", date(2016, 6, 1), 7, "female")
    other_number = make_resident_id("440305", date(1990, 1, 1), 3, "female")
    adult = _subject(services, adult_number, "张三丰")
    minor = _subject(services, minor_number, "王小雨")
    other = _subject(services, other_number, "李四")
    return World(
        services=services,
        bank=_institution(services, "示例银行", "bank", ["loan_approval", "post_loan_management"], 1),
        other_bank=_institution(services, "另一银行", "bank", ["loan_approval"], 2),
        employer=_institution(services, "示例公司", "employer", ["employment_screening"], 3),
        adult=_person(services, Role.SUBJECT, adult),
        adult_id_number=adult_number,
        minor_id_number=minor_number,
        minor_subject=minor,
        guardian=_person(services, Role.GUARDIAN, wards=frozenset({minor})),
        stranger=_person(services, Role.SUBJECT, other),
    )
