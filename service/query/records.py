"""Which records a viewer may see, by the catalog and the disclosure rules (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from policies import Decision
from policies.catalog import NEGATIVE_NATURES, CatalogItem, load_catalog
from policies.records import (
    DisclosureWindow,
    disclosure_window,
    effective_record_state,
    green_channel,
    visible_to_institution,
    visible_to_subject,
)
from service.db.raw import RawConnection, as_bytes, as_date, as_json
from service.gate.access import OpenedRecord

_COLUMNS = (
    "id, item_code, category, nature, state, decision_date, document_type, document_authority, document_date, "
    "leniency, document_number_ct, facts_ct"
)
_SELECT = f"SELECT {_COLUMNS} FROM credit_records WHERE subject_id = ?"  # noqa: S608 (constant columns)
_ORDER = " ORDER BY decision_date DESC, id"


@dataclass(frozen=True, slots=True)
class RecordRow:
    """What a report shows of a record, and its sealed details (opened only by the gate).
    ``item`` and ``window`` come from the catalog in force; a record whose item left the
    catalog is never loaded."""

    id: str
    item_code: str
    category: str
    nature: str
    state: str
    decision_date: date
    document_type: str
    document_authority: str
    document_date: date
    leniency: tuple[str, ...]
    document_number_ct: bytes | None
    facts_ct: bytes | None
    item: CatalogItem
    window: DisclosureWindow


def subject_records(
    db: RawConnection, subject_id: str, categories: frozenset[str] | None = None
) -> list[RecordRow]:
    """Every record of a subject (optionally in some categories), newest decision first."""
    if categories is None:
        rows = db.all(_SELECT + _ORDER, (subject_id,))
    elif not categories:
        return []
    else:
        wanted = sorted(categories)
        marks = ", ".join("?" * len(wanted))
        rows = db.all(f"{_SELECT} AND category IN ({marks}){_ORDER}", (subject_id, *wanted))
    catalog = load_catalog()
    out = []
    for r in rows:
        item = catalog.get(r[1])
        if item is None:
            continue
        decided = as_date(r[5])
        out.append(RecordRow(
            r[0], r[1], r[2], r[3], r[4], decided, r[6], r[7], as_date(r[8]), tuple(as_json(r[9])),
            as_bytes(r[10]), as_bytes(r[11]), item, disclosure_window(item, decided),
        ))
    return out


def for_institution(db: RawConnection, subject_id: str, decision: Decision, today: date) -> Sequence[RecordRow]:
    """Records an institution may see under ``decision``: the allowed categories only,
    shareable items only, ``active`` or ``disputed``, inside the disclosure window."""
    return [
        r for r in subject_records(db, subject_id, decision.categories)
        if visible_to_institution(r.state, r.window, today, r.item)
    ]


def for_subject(records: Sequence[RecordRow], today: date) -> Sequence[RecordRow]:
    """Everything the person may see about themselves: all but expired records."""
    return [r for r in records if visible_to_subject(r.state, r.window, today)]


def record_view(opened: OpenedRecord, today: date) -> dict[str, Any]:
    """A record as it appears in a report; the state is the one in force today."""
    r: RecordRow = opened.record
    item, window = r.item, r.window
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


def flags(records: Sequence[RecordRow], today: date) -> dict[str, bool]:
    """On the serious dishonesty list; no negative record in the last three years.

    Only records in force count: an expired record is no longer used for anything,
    and a repaired, corrected or revoked one has been set aside by a decision.
    """
    live = [r for r in records if effective_record_state(r.state, r.window, today).value in {"active", "disputed"}]
    serious = any(r.nature == "serious" for r in live)
    negative_dates = [r.decision_date for r in live if r.nature in NEGATIVE_NATURES]
    return {"on_serious_list": serious, "no_negative_record_in_three_years": green_channel(negative_dates, today)}
