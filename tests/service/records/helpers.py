"""Shared pieces of the record tests: a valid registration body per provider type, and readers."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from policies.access import CHINA_STANDARD_TIME
from service.audit_log.models import AuditEntryRow
from service.records.models import CreditRecord
from service.runtime import Services
from tests.service.identity.tokens import new_resident_id


def china_today() -> date:
    return datetime.now(CHINA_STANDARD_TIME).date()


def days_ago(n: int) -> str:
    return (china_today() - timedelta(days=n)).isoformat()


def court_body(**changes: Any) -> dict[str, Any]:
    """A valid court registration (dishonest judgment debtor); ``changes`` override top-level keys."""
    body: dict[str, Any] = {
        "id_number": new_resident_id(40),
        "name": "张三丰",
        "item_code": "court_dishonest_judgment_debtor",
        "document": {"type": "enforcement_ruling", "number": "（2026）京0105执4711号",
                     "authority": "示范市朝阳区人民法院", "date": days_ago(30)},
        "decision_date": days_ago(30),
        "facts": "被执行人有履行能力而拒不履行生效法律文书确定的给付义务，执行标的十二万元。",
        "procedure": "general",
        "first_violation_corrected": False,
        "leniency": [],
    }
    body.update(changes)
    return body


def market_body(**changes: Any) -> dict[str, Any]:
    """A valid market regulation penalty (general field)."""
    return court_body(**{
        "item_code": "admin_penalty_general",
        "document": {"type": "admin_penalty_decision", "number": "京朝市监罚〔2026〕318号",
                     "authority": "示范市朝阳区市场监督管理局", "date": days_ago(10)},
        "decision_date": days_ago(10),
        "facts": "当事人在经营活动中作引人误解的商业宣传，违法所得三千元。",
        **changes,
    })


def with_document(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, "document": {**body["document"], **changes}}


def record_count(services: Services) -> int:
    with services.session() as s:
        return int(s.execute(select(func.count()).select_from(CreditRecord)).scalar_one())


def audit_bodies(services: Services, action: str | None = None) -> list[dict[str, Any]]:
    with services.session() as s:
        rows = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[call-overload]
    entries = [json.loads(r) for r in rows]
    return [e for e in entries if action is None or e["action"] == action]
