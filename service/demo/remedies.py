"""Demo remedies: serious listings through the notice procedure, and one remedy in each state.

Everything goes through the remedies' own services, with past times where a
story needs them, so the demo leaves the audit trail real use would:

- serious-list items decided by notice are given notice 20 days before their
  decision and decided after the window (``ListingService``);
- ``demo.subject1`` has an open objection, ``demo.subject2`` a rejected objection
  with an open complaint, ``demo.subject3`` a repaired record, ``demo.subject4`` a
  listing notice still inside its objection window, and ``demo.subject5`` a
  published listing on the public list.

Each story is looked for before it is played, so a second run adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from policies import Role, load_catalog
from policies.access import CHINA_STANDARD_TIME
from service.db.types import china_today
from service.identity.models import Account, Provider
from service.identity.principal import Principal
from service.records.models import CreditRecord
from service.records.service import NewRecord, RecordDocument, RecordService
from service.remedies.complaints import ComplaintService, NewComplaint
from service.remedies.evidence import Attachment
from service.remedies.listing import ListingDecision, ListingService, NewNotice
from service.remedies.models import ListingNotice, Objection, Repair
from service.remedies.objections import Answer, NewObjection, ObjectionService
from service.remedies.repairs import NewRepair, RepairService
from service.runtime import Services
from service.subjects.repository import SubjectData, find_subject_id

#: Evidence of a payment, as a minimal PDF (demo data only).
RECEIPT = Attachment("application/pdf", "JVBERi0xLjQKJSDnpLrojIPmlbDmja7vvJrnvLTmrL7lh63or4EKJSVFT0YK")
NOTICE_LEAD = timedelta(days=20)  # notice this long before a demo listing decision


def provider_principal(provider: Provider) -> Principal:
    """The provider as its client would act."""
    return Principal(role=Role.PROVIDER, actor_id=provider.id, provider_id=provider.id)


def person_principal(account: Account) -> Principal:
    """A subject (or guardian) as their login would act."""
    return Principal(role=Role(account.role), actor_id=account.id, account_id=account.id,
                     subject_id=account.subject_id)


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), CHINA_STANDARD_TIME)


def listing_decision(new: NewRecord, provider: Provider) -> ListingDecision:
    """The decision that lists ``new``, stating everything a decision must."""
    item = load_catalog()[new.item_code]
    return ListingDecision(
        outcome="list", reasons=new.facts, id_number=new.id_number, name=new.name,
        document=RecordDocument(type=new.document.type, number=new.document.number, authority=provider.name,
                                date=new.document.date),
        decision_date=new.decision_date, basis="；".join(item.legal_basis[:2]),
        measures="依法实施联合惩戒措施（示范数据）。",
        removal="信用修复获准、公示期届满或异议成立时移出名单。",
        remedies="对决定不服的，可依法申请行政复议或者提起行政诉讼。",
    )


def list_by_notice(services: Services, new: NewRecord, provider: Provider, key: str) -> None:
    """Give notice ``NOTICE_LEAD`` before the decision date, then decide to list."""
    listing = ListingService(services)
    principal = provider_principal(provider)
    decided = _at(new.decision_date)
    item = load_catalog()[new.item_code]
    notice = listing.notify(principal, NewNotice(new.id_number, new.name, new.item_code, new.facts,
                                                 item.legal_basis[0]), None, decided - NOTICE_LEAD)
    listing.decide(principal, str(notice["id"]), listing_decision(new, provider), None, decided,
                   idempotency_key=key)


@dataclass(frozen=True)
class Story:
    """One remedy story of a demo login."""

    login: str
    note: str


def _record(services: Services, provider: Provider, person: SubjectData, key: str, item_code: str,
            decided: date, facts: str, number: str) -> str:
    """A demo record registered the ordinary way (found by its key on a later run)."""
    recorder = RecordService(services)
    hashed = recorder.key_hash(provider.id, key)
    with services.session() as s:
        found = s.execute(select(col(CreditRecord.id)).where(col(CreditRecord.idempotency_key) == hashed)).scalar()
    if found is not None:
        return str(found)
    new = NewRecord(id_number=person.id_number, name=person.name, item_code=item_code,
                    document=RecordDocument("admin_penalty_decision", number, provider.name, decided),
                    decision_date=decided, facts=facts, procedure="general", first_violation_corrected=False,
                    published=True)
    record, _ = recorder.register(provider.id, new, idempotency_key=key, request_id=None, now=_at(decided))
    return record.id


def load_stories(services: Services, logins: Sequence[tuple[SubjectData, Account]], providers: dict[str, Provider],
                 seed: int, now: datetime) -> list[Story]:
    """One remedy in each state, on the first five demo logins (idempotent)."""
    if len(logins) < 5:
        return []
    people = [person for person, _ in logins]
    accounts = [account for _, account in logins]
    today = china_today(now)
    market, tax = providers["market"], providers["tax"]
    objections, repairs = ObjectionService(services), RepairService(services)
    subjects = [person_principal(a) for a in accounts[:5]]
    stories: list[Story] = []

    # 1. An open objection: the record is disputed, its measures suspended.
    first = _record(services, market, people[0], f"demo-{seed}-remedy-1", "admin_penalty_general",
                    today - timedelta(days=40), "当事人在经营活动中作引人误解的商业宣传（示范数据）。", "京朝市监罚〔2026〕9001号")
    if not _exists(services, Objection, record_id=first):
        objections.file(subjects[0], NewObjection("处罚所认定的商业宣传并非本人所为（示范数据）。", record_id=first,
                                                  evidence=(RECEIPT,)), None, now - timedelta(hours=3))
    stories.append(Story(accounts[0].username, "an open objection (record disputed)"))

    # 2. A rejected objection and an open complaint about it.
    second = _record(services, market, people[1], f"demo-{seed}-remedy-2", "admin_penalty_general",
                     today - timedelta(days=60), "当事人未按规定办理变更登记（示范数据）。", "京朝市监罚〔2026〕9002号")
    if not _exists(services, Objection, record_id=second):
        filed = objections.file(subjects[1], NewObjection("变更登记已按期办理（示范数据）。", record_id=second), None,
                                now - timedelta(days=10))
        objections.decide(provider_principal(market), str(filed["id"]),
                          Answer("rejected", "经核查，登记系统无变更记录，维持原处罚（示范数据）。"), None,
                          now - timedelta(days=8))
        ComplaintService(services).file(subjects[1], str(filed["id"]),
                                        NewComplaint("答复未核对本人提交的受理回执（示范数据）。", (RECEIPT,)), None,
                                        now - timedelta(days=6))
    stories.append(Story(accounts[1].username, "a rejected objection and an open complaint"))

    # 3. A repaired record (ordinary information, past its 3-month minimum).
    third = _record(services, market, people[2], f"demo-{seed}-remedy-3", "admin_penalty_general",
                    today - timedelta(days=150), "当事人未取得许可擅自设置户外广告（示范数据）。", "京朝市监罚〔2026〕9003号")
    if not _exists(services, Repair, record_id=third):
        applied = repairs.file(subjects[2], NewRepair(third, "本人承诺所提交材料真实有效，已缴清罚款（示范数据）。",
                                                      (RECEIPT,)), None, now - timedelta(days=5))
        repairs.decide(provider_principal(market), str(applied["id"]), "approved",
                       "已核实罚款缴清，准予修复（示范数据）。", None, now - timedelta(days=3))
    stories.append(Story(accounts[2].username, "a repaired record"))

    # 4. A listing notice still inside its objection window.
    fourth = people[3]
    with services.session() as s:
        subject4 = find_subject_id(s, services.blind_index, fourth.id_number)
    if subject4 is None or not _exists(services, ListingNotice, subject_id=subject4, provider_id=tax.id):
        ListingService(services).notify(provider_principal(tax), NewNotice(
            fourth.id_number, fourth.name, "tax_major_violation", "当事人隐匿收入进行虚假纳税申报（示范数据）。",
            "《重大税收违法失信主体信息公布管理办法》"), None, now - timedelta(hours=2))
    stories.append(Story(accounts[3].username, "a serious-list notice in its objection window"))

    # 5. A published listing, decided after its notice (on the public list).
    fifth = people[4]
    key = f"demo-{seed}-remedy-5"
    with services.session() as s:
        listed = s.execute(select(CreditRecord.id).where(  # type: ignore[call-overload]
            CreditRecord.idempotency_key == RecordService(services).key_hash(tax.id, key))).first()
    if listed is None:
        decided = today - timedelta(days=10)
        new = NewRecord(id_number=fifth.id_number, name=fifth.name, item_code="tax_major_violation",
                        document=RecordDocument("admin_ruling", "京朝税决〔2026〕9005号", tax.name, decided),
                        decision_date=decided, facts="当事人虚开发票，少缴税款数额较大（示范数据）。",
                        procedure="general", first_violation_corrected=False)
        list_by_notice(services, new, tax, key)
    stories.append(Story(accounts[4].username, "a published serious listing (see /v1/public/serious-list)"))
    return stories


def _exists(services: Services, model: type, **where: str) -> bool:
    with services.session() as s:
        query: Any = select(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return s.execute(query.limit(1)).first() is not None
