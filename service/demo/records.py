"""Planned demo records: which person gets which catalog item, when, on which document.

The plan is deterministic per person (seeded by the demo seed and the person's
position), so a larger run extends a smaller one and a re-run finds every
record by its idempotency key. Decision dates are counted back from the day of
loading so that the set always shows records well inside their disclosure
window, recently registered ones, expired ones, and ones on the edge: on
their last visible day, expiring today, or just reaching the point where
credit repair may be applied for.

The facts are invented and hold no personal data (they are still encrypted,
like every record's facts).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from policies import CatalogItem, add_months, age_on, load_catalog, parse_resident_id
from policies.records import period_of
from service.demo.organisations import PROVIDERS, DemoProvider
from service.records.service import NewRecord, RecordDocument
from service.subjects.repository import SubjectData

_COURT_DOCUMENTS = frozenset({"court_judgment", "enforcement_ruling", "arbitral_award"})

FACTS: Mapping[str, tuple[str, ...]] = {
    "admin_penalty_general": (
        "当事人未按规定办理变更登记，擅自变更经营场所，经责令改正后逾期未改正。",
        "当事人在经营活动中作引人误解的商业宣传，违法所得{amount}元。",
        "当事人未取得许可擅自占用城市道路设置户外广告设施。",
    ),
    "admin_penalty_food": (
        "当事人经营超过保质期的预包装食品，货值金额{amount}元。",
        "当事人未按规定查验供货者许可证和食品合格证明文件，经营的食品货值金额{amount}元。",
    ),
    "admin_penalty_drug": (
        "当事人销售未经检验的药品，货值金额{amount}元。",
        "当事人未凭处方销售处方药，经查共计{n}次。",
    ),
    "admin_penalty_special_equipment": (
        "当事人使用未经定期检验的电梯{n}台，经责令停止使用后继续使用。",
        "当事人未取得特种设备作业人员证书从事锅炉作业。",
    ),
    "admin_penalty_work_safety": (
        "当事人作为生产经营单位主要负责人，未履行安全生产管理职责，导致一般生产安全事故。",
        "当事人未按规定对从业人员进行安全生产教育和培训。",
    ),
    "admin_penalty_fire_safety": (
        "当事人经营场所占用、堵塞疏散通道和安全出口，经责令改正拒不改正。",
        "当事人擅自停用消防设施、器材。",
    ),
    "market_serious_violation_list": (
        "当事人因销售假冒伪劣商品被处以较重行政处罚，情节严重，列入严重违法失信名单。",
    ),
    "court_dishonest_judgment_debtor": (
        "被执行人有履行能力而拒不履行生效法律文书确定的给付义务，执行标的{amount}元。",
        "被执行人以虚假诉讼、虚假仲裁或者隐匿、转移财产等方法规避执行。",
    ),
    "tax_major_violation": (
        "当事人采取隐匿收入等手段进行虚假纳税申报，少缴个人所得税{amount}元。",
    ),
    "tax_credit_a_level": (
        "当事人年度纳税信用评价为A级。",
    ),
    "social_insurance_arrears": (
        "当事人作为用人单位经营者未按时足额缴纳社会保险费，欠缴{amount}元，经责令限期缴纳后逾期仍未缴纳。",
    ),
    "social_insurance_fraud": (
        "当事人以隐瞒就业事实的手段骗取失业保险待遇{amount}元。",
    ),
    "wage_arrears_dishonesty_list": (
        "当事人作为用人单位负责人克扣、无故拖欠劳动者劳动报酬，数额达到认定拒不支付劳动报酬罪的数额标准。",
    ),
    "labor_inspection_penalty": (
        "当事人作为用人单位经营者安排劳动者延长工作时间超过法定上限，涉及劳动者{n}人。",
    ),
    "exam_cheating": (
        "当事人在国家教育考试中携带具有发送或者接收信息功能的设备进入考场。",
        "当事人在国家教育考试中由他人代替参加考试。",
    ),
    "student_loan_default": (
        "当事人国家助学贷款逾期未还款超过一年，欠款本息{amount}元。",
    ),
    "admin_license": (
        "当事人取得食品经营许可证，许可经营项目：预包装食品销售。",
        "当事人取得建筑施工特种作业操作资格证书。",
    ),
    "honours_commendation": (
        "当事人被评为区级优秀志愿者并予以表彰。",
        "当事人见义勇为，受到区人民政府表彰。",
    ),
    "volunteer_service": (
        "当事人累计志愿服务时长{n}小时，获评星级志愿者。",
    ),
}


@dataclass(frozen=True, slots=True)
class PlannedRecord:
    """One demo record: who registers it, the request, and the day it was registered."""

    key: str
    person: int
    provider: DemoProvider
    request: NewRecord
    registered_on: date


def catalog_items() -> list[CatalogItem]:
    """The catalog items in a stable order (by code)."""
    return sorted(load_catalog().values(), key=lambda item: item.code)


def _facts(item: CatalogItem, rng: random.Random) -> str:
    templates = FACTS.get(item.code, ("当事人的相关信息由认定部门依法登记。",))
    return rng.choice(templates).format(amount=f"{rng.randrange(2, 900) * 100:,}", n=rng.randrange(2, 300))


def _document_number(doc_type: str, provider: DemoProvider, year: int, rng: random.Random) -> str:
    n = rng.randrange(1, 9999)
    if doc_type == "court_judgment":
        return f"（{year}）{provider.abbreviation}民初{n}号"
    if doc_type == "enforcement_ruling":
        return f"（{year}）{provider.abbreviation}执{n}号"
    if doc_type == "arbitral_award":
        return f"{provider.abbreviation}仲裁字〔{year}〕第{n}号"
    if doc_type == "admin_penalty_decision":
        return f"{provider.abbreviation}罚〔{year}〕{n}号"
    if doc_type == "admin_ruling":
        return f"{provider.abbreviation}决〔{year}〕{n}号"
    return f"{provider.abbreviation}字〔{year}〕第{n}号"


def _months_back(today: date, months: int) -> int:
    """How many days back a decision was made whose ``months``-month period ends today."""
    return (today - add_months(today, -months)).days


def _offset_days(item: CatalogItem, severity: str | None, today: date, rng: random.Random) -> int:
    """How many days before today the decision was made."""
    period = period_of(item, severity)
    longest = _months_back(today, period.max_months)
    roll = rng.random()
    if roll < 0.55 and longest > 40:  # well inside the window
        return rng.randrange(10, longest - 10)
    if roll < 0.75:  # expired
        return rng.randrange(longest + 1, longest + 500)
    if roll < 0.9:  # on an edge
        edges = [longest, longest + 1, max(longest - 7, 0)]  # last visible day, gone today, a week left
        if item.repairable and period.min_months:
            shortest = _months_back(today, period.min_months)
            edges += [shortest + 1, shortest]  # repair opens today / tomorrow
        return rng.choice(edges)
    return rng.randrange(0, min(30, longest))  # registered recently


def _severity(item: CatalogItem, rng: random.Random) -> str | None:
    """Mostly the item's default class; sometimes a lighter or a heavier one it admits."""
    if not item.negative:
        return None
    roll = rng.random()
    if roll < 0.15 and "light" in item.severities:
        return "light"
    if roll > 0.85 and "severe" in item.severities:
        return "severe"
    return item.default_severity


def _leniency(item: CatalogItem, rng: random.Random) -> tuple[str, ...]:
    if item.nature not in ("dishonest", "serious"):
        return ()
    roll = rng.random()
    if roll < 0.10:
        return ("slight",)
    if roll < 0.16:
        return ("not_intentional",)
    if roll < 0.18:
        return ("force_majeure",)
    return ()


def plan_record(
    item: CatalogItem, person: SubjectData, ordinal: int, k: int, seed: int, today: date, rng: random.Random,
    *, offset: int | None = None,
) -> PlannedRecord:
    """One record of ``item`` about ``person`` (their ``k``-th in the plan)."""
    providers = [p for p in PROVIDERS if p.provider_type in item.provider_types]
    provider = rng.choice(providers)
    docs = sorted(item.document_types)
    preferred = [d for d in docs if (d in _COURT_DOCUMENTS) == (provider.provider_type == "court")]
    doc_type = rng.choice(preferred or docs)
    birth = parse_resident_id(person.id_number).birth_date
    severity = _severity(item, rng)
    days = _offset_days(item, severity, today, rng) if offset is None else offset
    decision = today - timedelta(days=days)
    # Nobody is listed as a minor; other records may be about a 16-year-old (and sealed if penalties).
    earliest = _years_after(birth, 18 if item.minors == "refuse" else 16)
    if decision < earliest:
        decision = min(today, earliest + timedelta(days=rng.randrange(0, 200)))
    document_date = decision - timedelta(days=15 if doc_type == "court_judgment" else rng.randrange(0, 3))
    registered_on = min(today, decision + timedelta(days=rng.randrange(0, 21)))
    request = NewRecord(
        id_number=person.id_number,
        name=person.name,
        item_code=item.code,
        document=RecordDocument(
            type=doc_type,
            number=_document_number(doc_type, provider, document_date.year, rng),
            authority=provider.name,
            date=document_date,
        ),
        decision_date=decision,
        facts=_facts(item, rng),
        procedure="general",
        first_violation_corrected=False,
        leniency=_leniency(item, rng),
        severity=severity,
        published=rng.random() < 0.4 if item.disclosure == "by_decision" else None,
    )
    return PlannedRecord(f"demo-{seed}-{ordinal}-{k}", ordinal, provider, request, registered_on)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def plan_records(
    people: Sequence[SubjectData], seed: int, today: date, *, minor_age: int = 18
) -> list[list[PlannedRecord]]:
    """The records of each person, in the order of ``people`` (an empty list for most minors).

    The first ``2 × len(catalog)`` adults each get one record of every catalog
    item in turn, so even a small demo covers the whole catalog; after that
    about half of the adults have one to three records.
    """
    items = catalog_items()
    plan: list[list[PlannedRecord]] = []
    adults = 0
    for ordinal, person in enumerate(people):
        rng = random.Random(f"creditgate-demo/{seed}/records/{ordinal}")
        birth = parse_resident_id(person.id_number).birth_date
        if age_on(birth, today) < minor_age:
            plan.append([])
            continue
        chosen: list[CatalogItem] = []
        if adults < 2 * len(items):
            chosen.append(items[adults % len(items)])
        elif rng.random() < 0.5:
            chosen.append(rng.choice(items))
        if chosen:
            chosen += [rng.choice(items) for _ in range(int(rng.random() < 0.35) + int(rng.random() < 0.1))]
        adults += 1
        plan.append([plan_record(item, person, ordinal, k, seed, today, rng) for k, item in enumerate(chosen)])
    return plan


def facts_texts(people: Sequence[SubjectData], seed: int, today: date) -> list[str]:
    """Every planned record's facts and document number (for plaintext scans in tests)."""
    return [
        text
        for records in plan_records(people, seed, today)
        for r in records
        for text in (r.request.facts, r.request.document.number)
    ]
