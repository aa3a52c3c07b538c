"""Which records a viewer may see, by the catalog and the disclosure rules (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import Decision
from policies.catalog import NEGATIVE_NATURES, load_catalog
from policies.records import (
    disclosure_window,
    effective_record_state,
    green_channel,
    visible_to_institution,
    visible_to_subject,
)
from service.gate.access import OpenedRecord
from service.records.models import CreditRecord


def subject_records(
    session: Session, subject_id: str, categories: frozenset[str] | None = None
) -> list[CreditRecord]:
    """Every record of a subject (optionally in some categories), newest decision first."""
    stmt = select(CreditRecord).where(CreditRecord.subject_id == subject_id)  # type: ignore[arg-type]
    if categories is not None:
        stmt = stmt.where(CreditRecord.category.in_(sorted(categories)))  # type: ignore[attr-defined]
    return list(session.execute(stmt.order_by(CreditRecord.decision_date.desc(), CreditRecord.id)).scalars())  # type: ignore[attr-defined]


def for_institution(session: Session, subject_id: str, decision: Decision, today: date) -> Sequence[CreditRecord]:
    """Records an institution may see under ``decision``: the allowed categories only,
    shareable items only, ``active`` or ``disputed``, inside the disclosure window."""
    catalog = load_catalog()
    out = []
    for record in subject_records(session, subject_id, decision.categories):
        item = catalog.get(record.item_code)
        if item is not None and visible_to_institution(
            record.state, disclosure_window(item, record.decision_date), today, item
        ):
            out.append(record)
    return out


def for_subject(session: Session, subject_id: str, today: date) -> Sequence[CreditRecord]:
    """Everything the person may see about themselves: all but expired records."""
    catalog = load_catalog()
    out = []
    for record in subject_records(session, subject_id, None):
        item = catalog.get(record.item_code)
        if item is not None and visible_to_subject(record.state, disclosure_window(item, record.decision_date), today):
            out.append(record)
    return out


def record_view(opened: OpenedRecord, today: date) -> dict[str, Any]:
    """A record as it appears in a report; the state is the one in force today."""
    r = opened.record
    item = load_catalog()[r.item_code]
    window = disclosure_window(item, r.decision_date)
    state = effective_record_state(r.state, window, today).value
    return {
        "id": r.id,
        "item_code": r.item_code,
        "item_name": item.name_zh,
        "category": r.category,
        "nature": r.nature,
        "state": state,
        "disputed": state == "disputed",
        "decision_date": r.decision_date.isoformat(),
        "disclosure_ends": window.ends.isoformat(),
        "legal_basis": list(item.legal_basis),
        "document": {
            "type": r.document_type,
            "number": opened.details.get("document_number"),
            "authority": r.document_authority,
            "date": r.document_date.isoformat(),
        },
        "facts": opened.details.get("facts"),
        "leniency": list(r.leniency),
    }


def flags(records: Sequence[CreditRecord], today: date) -> dict[str, bool]:
    """On the serious dishonesty list; no negative record in the last three years."""
    catalog = load_catalog()
    live = []
    for r in records:
        item = catalog.get(r.item_code)
        if item is None:
            continue
        state = effective_record_state(r.state, disclosure_window(item, r.decision_date), today).value
        live.append((r, state))
    serious = any(r.nature == "serious" and state in {"active", "disputed"} for r, state in live)
    negative_dates = [r.decision_date for r, state in live
                      if r.nature in NEGATIVE_NATURES and state in {"active", "disputed", "expired"}]
    return {"on_serious_list": serious, "no_negative_record_in_three_years": green_channel(negative_dates, today)}
