"""Loading the demo data set (``creditgate demo``).

Everything goes through the service's own code paths, so the demo data obeys
the same rules and leaves the same audit trail as real use:

- subjects: ``register_subject`` (encrypted, blind index);
- providers, institutions, accounts, the guardianship: ``service.admin.registry``;
- records: ``RecordService`` with the catalog rules, each under an idempotency key;
- consents: ``ConsentService`` (request, grant, reject, revoke), uses through the
  governed query (``QueryService``), then ``ConsentService.expire_due``.

Loading is idempotent: people are found by blind index, organisations by USCC,
accounts by username, records by idempotency key, consent scenarios by
(institution, person, reason). A second run adds nothing; a run with more
subjects extends a smaller one.

What it creates (for ``subjects`` generated people, about 5% of them minors):

- 11 providers, one of each catalog provider type, and 7 institutions (two
  banks, a consumer finance company, a microloan company, an employer, a
  landlord, a government department);
- logins ``operator``, ``auditor``, ``demo.subject1`` … ``demo.subject5`` (the first
  five adults) and ``demo.guardian`` (guardian of the youngest minor), all with
  the password :data:`DEMO_PASSWORD`;
- records: the first adults cover every catalog item in turn, then about half of
  the adults have one to three; decision dates spread across and beyond the
  disclosure windows (see ``service.demo.records``); the ward has one (with the
  ``minor`` leniency flag);
- consents: each demo subject has one request in each state: pending, active
  (one use), exhausted, revoked, rejected, expired, and a request that lapsed
  unanswered; the guardian has a pending request and an active consent for the
  ward; a few other people have pending or lapsed requests.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from policies import Role, age_on, load_catalog, load_consent_settings, load_purposes, make_resident_id
from policies.access import CHINA_STANDARD_TIME
from policies.identifiers import parse_resident_id
from service.admin.registry import (
    Actor,
    IssuedCredentials,
    add_client,
    register_account,
    register_guardianship,
    register_institution,
    register_provider,
)
from service.audit_log.writer import AuditEvent
from service.consent.models import Consent, ConsentRequest
from service.consent.service import ConsentService, Narrowing, NewRequest
from service.db.types import china_today, utcnow
from service.demo.organisations import (
    AUDITOR_LOGIN,
    DEMO_PASSWORD,
    GUARDIAN_LOGIN,
    INSTITUTIONS,
    OPERATOR_LOGIN,
    PROVIDERS,
    SUBJECT_LOGINS,
    DemoInstitution,
    subject_login,
)
from service.demo.people import generate_people
from service.demo.records import PlannedRecord, plan_record, plan_records
from service.demo.remedies import list_by_notice, load_stories
from service.identity.credentials import check_client_secret
from service.identity.models import ACTIVE, Account, Guardianship, Institution, OAuthClient, Provider
from service.identity.principal import Principal
from service.query.service import QueryService
from service.records.models import CreditRecord
from service.records.service import RecordService, prepare
from service.runtime import Services
from service.subjects.repository import SubjectData, find_subject_id, register_subject

__all__ = ["DEMO_PASSWORD", "DemoLogin", "DemoSummary", "demo_steps", "load_demo"]

DEMO_ACTOR = Actor("operator", "demo-loader")
#: A ward used only when the generated people include no child under the guardianship age.
#: Born 2019-05-20, so they stay under 14 until 2033.
EXTRA_WARD = SubjectData(id_number=make_resident_id("110105", date(2019, 5, 20), 7, "female"), name="王小雨",
                         mobile="13600136000", address="北京市朝阳区建设路18号3栋1202室")
_SCENARIOS = ("active", "pending", "exhausted", "revoked", "rejected", "expired", "lapsed")
_CHUNK = 25
_ACCOUNT_STEPS = 3 + SUBJECT_LOGINS  # operator, auditor, guardian, subjects


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A demo login (all share :data:`DEMO_PASSWORD`)."""

    username: str
    role: str
    note: str = ""


@dataclass
class DemoSummary:
    """What a run added, and what the demo data set now holds."""

    new_subjects: int = 0
    new_providers: int = 0
    new_institutions: int = 0
    new_accounts: int = 0
    new_records: int = 0
    new_consent_requests: int = 0
    records_by_category: dict[str, int] = field(default_factory=dict)
    consent_states: dict[str, int] = field(default_factory=dict)
    request_states: dict[str, int] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    bank_name: str = INSTITUTIONS[0].name
    bank_credentials: IssuedCredentials | None = None


def demo_steps(subjects: int) -> int:
    """How many progress steps :func:`load_demo` reports for ``subjects`` people."""
    return 3 * subjects + len(PROVIDERS) + len(INSTITUTIONS) + _ACCOUNT_STEPS


def load_demo(
    services: Services,
    subjects: int = 300,
    *,
    seed: int = 2026,
    progress: Callable[[int], None] | None = None,
    credentials_file: Path | None = None,
) -> DemoSummary:
    """Load the demo data set (idempotent) and summarize it.

    ``credentials_file`` (the CLI passes one in the data directory, mode 0600)
    keeps the bank's demo client secret so that later runs can print it again;
    without it the secret is only returned by the run that creates the bank.
    """
    advance = progress or (lambda _n: None)
    now = utcnow()
    today = china_today(now)
    summary = DemoSummary()
    people = list(generate_people(subjects, seed))
    summary.new_subjects = _load_subjects(services, people, advance)
    providers, institutions = _load_organisations(services, summary, advance)
    accounts, ward_index = _load_accounts(services, people, today, summary, advance)
    summary.new_records = _load_records(services, people, ward_index, providers, seed, today, advance)
    summary.new_consent_requests = _load_consents(services, people, accounts, institutions, ward_index, seed, now,
                                                  advance)
    ConsentService(services).expire_due(utcnow())
    stories = load_stories(services, [(people[i], accounts[i]) for i in sorted(accounts)], providers, seed, now)
    notes = {story.login: story.note for story in stories}
    summary.logins = [DemoLogin(login.username, login.role, f"{login.note}; {notes[login.username]}")
                      if login.username in notes else login for login in summary.logins]
    summary.bank_credentials = _bank_credentials(services, institutions[INSTITUTIONS[0].key], summary,
                                                 credentials_file)
    _count(services, summary, providers, institutions)
    return summary


# --- subjects -----------------------------------------------------------------------------------


def _load_subjects(services: Services, people: Sequence[SubjectData], advance: Callable[[int], None]) -> int:
    created = 0
    for start in range(0, len(people), 50):
        chunk = people[start : start + 50]
        new_ids: list[str] = []
        with services.session() as session, session.begin():
            for person in chunk:
                subject_id, is_new = register_subject(session, services.vault, services.blind_index, person)
                if is_new:
                    new_ids.append(subject_id)
        for subject_id in new_ids:
            services.writer.append(
                AuditEvent(actor_type="operator", actor_id="demo-loader", action="subject.register",
                           decision="record", reason="demo_data", subject=subject_id)
            )
        created += len(new_ids)
        advance(len(chunk))
    return created


# --- organisations ------------------------------------------------------------------------------


def _load_organisations(
    services: Services, summary: DemoSummary, advance: Callable[[int], None]
) -> tuple[dict[str, Provider], dict[str, Institution]]:
    providers: dict[str, Provider] = {}
    institutions: dict[str, Institution] = {}
    purposes = load_purposes()
    for p in PROVIDERS:
        with services.session() as s:
            found = s.execute(select(Provider).where(Provider.uscc == p.uscc)).scalar_one_or_none()  # type: ignore[arg-type]
        if found is None:
            done = register_provider(services, actor=DEMO_ACTOR, name=p.name, uscc=p.uscc,
                                     provider_type=p.provider_type, level=p.level)
            found = done.record
            summary.new_providers += 1
        assert isinstance(found, Provider)
        providers[p.key] = found
        advance(1)
    for i in INSTITUTIONS:
        with services.session() as s:
            inst = s.execute(select(Institution).where(Institution.uscc == i.uscc)).scalar_one_or_none()  # type: ignore[arg-type]
        if inst is None:
            allowed = sorted(code for code, p in purposes.items() if i.institution_type in p.institution_types)
            done = register_institution(services, actor=DEMO_ACTOR, name=i.name, uscc=i.uscc,
                                        institution_type=i.institution_type, permitted_purposes=allowed,
                                        contact=i.contact)
            inst = done.record
            summary.new_institutions += 1
            if i.key == INSTITUTIONS[0].key:
                summary.bank_credentials = done.credentials
        assert isinstance(inst, Institution)
        institutions[i.key] = inst
        advance(1)
    return providers, institutions


# --- accounts -----------------------------------------------------------------------------------


def _age_today(person: SubjectData, today: date) -> int:
    return age_on(parse_resident_id(person.id_number).birth_date, today)


def _find_account(services: Services, username: str) -> Account | None:
    with services.session() as s:
        return s.execute(select(Account).where(Account.username == username)).scalar_one_or_none()  # type: ignore[arg-type]


def _account(services: Services, summary: DemoSummary, username: str, role: Role,
             person: SubjectData | None = None) -> Account:
    found = _find_account(services, username)
    if found is not None:
        return found
    summary.new_accounts += 1
    return register_account(services, actor=DEMO_ACTOR, username=username, password=DEMO_PASSWORD, role=role.value,
                            id_number=person.id_number if person else None, name=person.name if person else None)


def _load_accounts(
    services: Services, people: Sequence[SubjectData], today: date, summary: DemoSummary,
    advance: Callable[[int], None],
) -> tuple[dict[int, Account], int | None]:
    """Returns the subject accounts by person index and the ward's person index (None: the extra ward)."""
    _account(services, summary, OPERATOR_LOGIN, Role.OPERATOR)
    summary.logins.append(DemoLogin(OPERATOR_LOGIN, "operator", "registers institutions, providers, accounts"))
    advance(1)
    _account(services, summary, AUDITOR_LOGIN, Role.AUDITOR)
    summary.logins.append(DemoLogin(AUDITOR_LOGIN, "auditor", "reads and verifies the audit trail"))
    advance(1)
    adults = [i for i, p in enumerate(people) if _age_today(p, today) >= 18][:SUBJECT_LOGINS]
    accounts: dict[int, Account] = {}
    for n, index in enumerate(adults, start=1):
        accounts[index] = _account(services, summary, subject_login(n), Role.SUBJECT, people[index])
        summary.logins.append(DemoLogin(subject_login(n), "subject", "has records and consents in every state"))
    advance(SUBJECT_LOGINS)
    limit = load_consent_settings().guardianship_age
    minors = [i for i, p in enumerate(people) if _age_today(p, today) < limit]
    ward_index = max(minors, key=lambda i: parse_resident_id(people[i].id_number).birth_date) if minors else None
    ward = people[ward_index] if ward_index is not None else EXTRA_WARD
    guardian = _account(services, summary, GUARDIAN_LOGIN, Role.GUARDIAN)
    with services.session() as s:
        ward_id = find_subject_id(s, services.blind_index, ward.id_number)
        linked = ward_id is not None and s.execute(
            select(Guardianship.id).where(  # type: ignore[call-overload]
                Guardianship.guardian_account_id == guardian.id,
                Guardianship.ward_subject_id == ward_id,
                Guardianship.ended_at.is_(None),  # type: ignore[union-attr]
            )
        ).first() is not None
    if not linked:
        if ward_id is None:
            summary.new_subjects += 1
        register_guardianship(services, actor=DEMO_ACTOR, guardian_account_id=guardian.id,
                              ward_id_number=ward.id_number, ward_name=ward.name, today=today)
    summary.logins.append(DemoLogin(GUARDIAN_LOGIN, "guardian", f"acts for a child aged {_age_today(ward, today)}"))
    advance(1)
    return accounts, ward_index


# --- records ------------------------------------------------------------------------------------


def _ward_record(ward: SubjectData, ordinal: int, seed: int, today: date) -> PlannedRecord:
    item = load_catalog()["volunteer_service"]
    rng = random.Random(f"creditgate-demo/{seed}/ward-record")
    planned = plan_record(item, ward, ordinal, 0, seed, today, rng, offset=60)
    return PlannedRecord(f"demo-{seed}-ward-0", planned.person, planned.provider, planned.request,
                         planned.registered_on)


def _load_records(
    services: Services, people: Sequence[SubjectData], ward_index: int | None, providers: dict[str, Provider],
    seed: int, today: date, advance: Callable[[int], None],
) -> int:
    plan = plan_records(people, seed, today)
    ward = people[ward_index] if ward_index is not None else EXTRA_WARD
    ward_record = _ward_record(ward, ward_index if ward_index is not None else len(people), seed, today)
    if ward_index is not None:
        plan[ward_index] = [*plan[ward_index], ward_record]
    recorder = RecordService(services)
    created = 0
    for start in range(0, len(plan), _CHUNK):
        persons = plan[start : start + _CHUNK]
        created += _register_batch(services, recorder, [r for person in persons for r in person], providers)
        advance(len(persons))
    if ward_index is None:
        created += _register_batch(services, recorder, [ward_record], providers)
    return created


def _register_batch(
    services: Services, recorder: RecordService, batch: Sequence[PlannedRecord], providers: dict[str, Provider],
) -> int:
    if not batch:
        return 0
    provider_ids = {providers[r.provider.key].id for r in batch}
    with services.session() as s:
        existing = set(s.execute(
            select(CreditRecord.idempotency_key).where(  # type: ignore[call-overload]
                CreditRecord.provider_id.in_(provider_ids),  # type: ignore[attr-defined]
                CreditRecord.idempotency_key.in_(  # type: ignore[union-attr]
                    [recorder.key_hash(providers[r.provider.key].id, r.key) for r in batch]),
            )
        ).scalars())
    todo = [r for r in batch if recorder.key_hash(providers[r.provider.key].id, r.key) not in existing]
    if not todo:
        return 0
    catalog = load_catalog()
    # Serious lists decided by notice go through the listing procedure, one story each.
    by_notice = [r for r in todo if catalog[r.request.item_code].listing == "notice"]
    for r in by_notice:
        list_by_notice(services, r.request, providers[r.provider.key], r.key)
    direct = [r for r in todo if r not in by_notice]
    if not direct:
        return len(todo)
    with services.write_session() as s, s.begin():
        events: list[AuditEvent] = []
        for r in direct:
            provider = providers[r.provider.key]
            prepared = prepare(r.request, parse_resident_id(r.request.id_number), provider.provider_type,
                               r.registered_on, provider_level=provider.level)
            registered_at = datetime.combine(r.registered_on, time(9, 0), CHINA_STANDARD_TIME) + timedelta(
                minutes=random.Random(r.key).randrange(0, 8 * 60))
            _, staged = recorder.stage(
                s, provider_id=provider.id, prepared=prepared, idempotency_key=r.key,
                digest=recorder.digest(r.request), now=registered_at, request_id=None, reason="demo_data",
            )
            events += staged
        services.writer.append_in(s.connection(), *events)
    return len(todo)


# --- consents -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scenario:
    institution: DemoInstitution
    state: str
    reason: str
    # Which of the person's stories with this institution it is (reasons are encrypted,
    # so an earlier run's story is recognised by how many requests already exist).
    ordinal: int = 0


def _institution_principal(inst: Institution) -> Principal:
    return Principal(role=Role.INSTITUTION, actor_id=inst.id, institution_id=inst.id, institution_type=inst.type,
                     permitted_purposes=frozenset(inst.permitted_purposes))


def _person_principal(account: Account, wards: frozenset[str] = frozenset()) -> Principal:
    role = Role(account.role)
    return Principal(role=role, actor_id=account.id, account_id=account.id, subject_id=account.subject_id,
                     wards=wards)


def _requested(services: Services, institution_id: str, index: bytes, ordinal: int) -> bool:
    with services.session() as s:
        count: int = s.execute(
            select(func.count()).select_from(ConsentRequest).where(
                col(ConsentRequest.institution_id) == institution_id,
                col(ConsentRequest.subject_index) == index,
            )
        ).scalar_one()
        return count > ordinal


def _run_scenario(
    services: Services, scenario: _Scenario, person: SubjectData, inst: Institution, decider: Principal | None,
    now: datetime,
) -> bool:
    """Play one consent story; False when it was already played by an earlier run."""
    consents = ConsentService(services)
    index = services.blind_index.compute(person.id_number)
    if _requested(services, inst.id, index, scenario.ordinal):
        return False
    purpose = load_purposes()[scenario.institution.main_purpose]
    valid_days = min(purpose.max_validity_days, 30)
    max_queries = 1 if scenario.state == "exhausted" else min(purpose.max_queries, 3)
    asked_days_ago = {"pending": 1, "active": 3, "exhausted": 2, "revoked": 6, "rejected": 4,
                      "expired": valid_days + 3, "lapsed": 12}[scenario.state]
    asked = now - timedelta(days=asked_days_ago, minutes=37)
    institution = _institution_principal(inst)
    req = consents.create_request(institution, NewRequest(
        id_number=person.id_number, purpose=purpose.code, categories=sorted(purpose.categories),
        valid_days=valid_days, valid_until=None, max_queries=max_queries, reason=scenario.reason,
    ), None, asked)
    if scenario.state in ("pending", "lapsed") or decider is None:
        return True
    decided = asked + timedelta(hours=2)
    if scenario.state == "rejected":
        consents.reject(decider, req.id, None, decided)
        return True
    consent = consents.grant(decider, req.id, Narrowing(), None, decided)
    if scenario.state == "revoked":
        consents.revoke(decider, consent.id, None, decided + timedelta(days=1))
    elif scenario.state in ("active", "exhausted") and (scenario.state == "exhausted" or max_queries > 1):
        _use(services, institution, consent, now - timedelta(hours=20))
    return True


def _use(services: Services, institution: Principal, consent: Consent, when: datetime) -> None:
    """One query under the consent, through the governed query path (audited like any other)."""
    QueryService(services).institution_query(institution, consent.id, consent.purpose, None, when)


def _load_consents(
    services: Services, people: Sequence[SubjectData], accounts: dict[int, Account],
    institutions: dict[str, Institution], ward_index: int | None, seed: int, now: datetime,
    advance: Callable[[int], None],
) -> int:
    created = 0
    today = china_today(now)
    ordered = list(INSTITUTIONS)
    for n, index in enumerate(sorted(accounts)):
        decider = _person_principal(accounts[index])
        rotated = ordered[n % len(ordered):] + ordered[: n % len(ordered)]
        for inst, state in zip(rotated, _SCENARIOS, strict=True):
            scenario = _Scenario(inst, state, f"{inst.reason}（示范数据 {state}）")
            created += _run_scenario(services, scenario, people[index], institutions[inst.key], decider, now)
    guardian = _find_account(services, GUARDIAN_LOGIN)
    ward = people[ward_index] if ward_index is not None else EXTRA_WARD
    with services.session() as s:
        ward_id = find_subject_id(s, services.blind_index, ward.id_number)
    if guardian is not None and ward_id is not None:
        gov = next(i for i in INSTITUTIONS if i.institution_type == "government")
        decider = _person_principal(guardian, frozenset({ward_id}))
        for ordinal, (state, reason) in enumerate((("pending", "未成年人参加商业演出许可审查（示范数据）"),
                                                    ("active", "未成年人专项补助资格审查（示范数据）"))):
            created += _run_scenario(services, _Scenario(gov, state, reason, ordinal), ward, institutions[gov.key],
                                     decider, now)
    for index, person in enumerate(people):
        if index not in accounts and index != ward_index and _age_today(person, today) >= 18:
            rng = random.Random(f"creditgate-demo/{seed}/consents/{index}")
            roll = rng.random()
            if roll < 0.11:
                inst = rng.choice(INSTITUTIONS)
                state = "pending" if roll < 0.08 else "lapsed"
                scenario = _Scenario(inst, state, f"{inst.reason}（示范数据）")
                created += _run_scenario(services, scenario, person, institutions[inst.key], None, now)
        advance(1)
    return created


# --- the bank's client --------------------------------------------------------------------------


def _bank_credentials(
    services: Services, bank: Institution, summary: DemoSummary, path: Path | None
) -> IssuedCredentials | None:
    """The bank's demo client: new this run, kept from an earlier run, or (with a file) reissued."""
    if path is None:
        return summary.bank_credentials
    creds = summary.bank_credentials
    if creds is None:
        creds = _stored_credentials(services, bank, path)
    if creds is None:
        creds = add_client(services, actor=DEMO_ACTOR, owner_type="institution", owner_id=bank.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"institution_id": bank.id, "client_id": creds.client_id, "client_secret": creds.client_secret,
                   "auth_method": creds.auth_method}, out, indent=2)
    return creds


def _stored_credentials(services: Services, bank: Institution, path: Path) -> IssuedCredentials | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        client_id, secret = str(data["client_id"]), str(data["client_secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with services.session() as s:
        client = s.get(OAuthClient, client_id)
    if (client is None or client.status != ACTIVE or client.owner_id != bank.id
            or not check_client_secret(client.secret_hash, secret)):
        return None
    return IssuedCredentials(client_id, client.auth_method, secret)


# --- summary ------------------------------------------------------------------------------------


def _count(
    services: Services, summary: DemoSummary, providers: dict[str, Provider], institutions: dict[str, Institution]
) -> None:
    provider_ids = [p.id for p in providers.values()]
    institution_ids = [i.id for i in institutions.values()]
    with services.session() as s:
        by_category = s.execute(
            select(CreditRecord.category, func.count())  # type: ignore[call-overload]
            .where(CreditRecord.provider_id.in_(provider_ids))  # type: ignore[attr-defined]
            .group_by(CreditRecord.category)
        ).all()
        consent_states = s.execute(
            select(Consent.state, func.count())  # type: ignore[call-overload]
            .where(Consent.institution_id.in_(institution_ids))  # type: ignore[attr-defined]
            .group_by(Consent.state)
        ).all()
        request_states = s.execute(
            select(ConsentRequest.state, func.count())  # type: ignore[call-overload]
            .where(ConsentRequest.institution_id.in_(institution_ids))  # type: ignore[attr-defined]
            .group_by(ConsentRequest.state)
        ).all()
    summary.records_by_category = {category: n for category, n in sorted(by_category)}
    summary.consent_states = {state: n for state, n in sorted(consent_states)}
    summary.request_states = {state: n for state, n in sorted(request_states)}
