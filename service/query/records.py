"""Which records a viewer may see, by the catalog and the disclosure rules,
and what each shows: its state, class, dispute mark, the subject's statement and the
objections kept beside it (《征信业管理条例》第十六条、第二十五条)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from policies import Decision
from policies.catalog import NEGATIVE_NATURES, CatalogItem, load_catalog, load_severities
from policies.records import (
    DisclosureWindow,
    disclosure_window,
    effective_record_state,
    green_channel,
    visible_to_institution,
    visible_to_subject,
)
from service.crypto.vault import FieldPlace
from service.db.raw import RawConnection, as_bytes, as_date, as_datetime, as_json
from service.db.types import iso_z
from service.gate.access import OpenedRecord
from service.records.models import STATEMENT_COLUMN

_COLUMNS = (
    "id, item_code, category, nature, state, decision_date, document_type, document_authority, document_date, "
    "leniency, document_number_ct, facts_ct, severity, sealed, published, suspended_days, suspended_since, "
    "statement_ct, statement_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM credit_records WHERE subject_id = ?"  # noqa: S608 (constant columns)
_ORDER = " ORDER BY decision_date DESC, id"
# Objections the provider could neither confirm nor refute stay beside the record.
_NOTES = (
    "SELECT id, record_id, reason_ct, decided_on FROM remedy_objections "
    "WHERE subject_id = ? AND state = 'unconfirmed' AND record_id IS NOT NULL ORDER BY decided_on, id"
)
NOTE_PREFIX = "objection:"


@dataclass(frozen=True, slots=True)
class ObjectionNote:
    """An unconfirmed objection kept beside its record: shown to whoever sees the record."""

    id: str
    decided_on: date
    reason_ct: bytes


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
    severity: str | None = None
    sealed: bool = False
    published: bool = False
    suspended_since: date | None = None
    statement_ct: bytes | None = None
    statement_at: datetime | None = None
    notes: tuple[ObjectionNote, ...] = ()

    @property
    def sealed_extras(self) -> list[tuple[str, FieldPlace, bytes | None]]:
        """The statement and kept objections, opened by the gate with the record's details."""
        parts: list[tuple[str, FieldPlace, bytes | None]] = [
            ("statement", FieldPlace("credit_records", STATEMENT_COLUMN, self.id), self.statement_ct)
        ]
        parts += [(f"{NOTE_PREFIX}{n.id}", FieldPlace("remedy_objections", "reason_ct", n.id), n.reason_ct)
                  for n in self.notes]
        return parts


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
    notes: dict[str, list[ObjectionNote]] = {}
    if rows:
        for note_id, record_id, reason_ct, decided_on in db.all(_NOTES, (subject_id,)):
            notes.setdefault(record_id, []).append(ObjectionNote(note_id, as_date(decided_on), as_bytes(reason_ct)
                                                                 or b""))
    out = []
    for r in rows:
        item = catalog.get(r[1])
        if item is None:
            continue
        decided = as_date(r[5])
        severity, suspended_days = r[12], int(r[15] or 0)
        out.append(RecordRow(
            r[0], r[1], r[2], r[3], r[4], decided, r[6], r[7], as_date(r[8]), tuple(as_json(r[9])),
            as_bytes(r[10]), as_bytes(r[11]), item, disclosure_window(item, decided, severity, suspended_days),
            severity=severity or item.default_severity, sealed=bool(r[13]), published=bool(r[14]),
            suspended_since=as_date(r[16]) if r[16] is not None else None, statement_ct=as_bytes(r[17]),
            statement_at=as_datetime(r[18]) if r[18] is not None else None, notes=tuple(notes.get(r[0], ())),
        ))
    return out


def for_institution(db: RawConnection, subject_id: str, decision: Decision, today: date) -> Sequence[RecordRow]:
    """Records an institution may see under ``decision``: the allowed categories only,
    shareable items only, ``active`` or ``disputed``, inside the disclosure window."""
    return [
        r for r in subject_records(db, subject_id, decision.categories)
        if visible_to_institution(r.state, r.window, today, r.item, r.sealed)
    ]


def for_subject(records: Sequence[RecordRow], today: date) -> Sequence[RecordRow]:
    """Everything the person may see about themselves: all but expired records."""
    return [r for r in records if visible_to_subject(r.state, r.window, today)]


def record_view(opened: OpenedRecord, today: date) -> dict[str, Any]:
    """A record as it appears in a report; the state is the one in force today.

    ``disclosure_ends`` is the last day it is shown, moved later by suspensions that
    ended in a rejection; while ``disputed`` its measures are suspended and the end is
    not final. ``statement`` is the subject's own, ``objections_kept`` the objections
    the provider could neither confirm nor refute.
    """
    r: RecordRow = opened.record
    item, window = r.item, r.window
    state = effective_record_state(r.state, window, today).value
    severity = load_severities().get(r.severity or "")
    notes = [
        {"objection_id": n.id, "decided_on": n.decided_on.isoformat(),
         "reason": opened.details.get(f"{NOTE_PREFIX}{n.id}")}
        for n in r.notes
    ]
    return {
        "id": r.id,
        "item_code": r.item_code,
        "item_name": item.name_zh,
        "category": r.category,
        "nature": r.nature,
        "severity": r.severity if item.negative else None,
        "severity_name": severity.name_zh if severity is not None and item.negative else None,
        "state": state,
        "disputed": state == "disputed",
        "measures_suspended": state == "disputed",
        "disputed_since": r.suspended_since.isoformat() if state == "disputed" and r.suspended_since else None,
        "repaired": state == "repaired",
        "sealed": r.sealed,
        "published": r.published,
        "decision_date": r.decision_date.isoformat(),
        "disclosure_ends": window.last_day.isoformat(),
        "legal_basis": list(item.legal_basis),
        "document": {
            "type": r.document_type,
            "number": opened.details.get("document_number"),
            "authority": r.document_authority,
            "date": r.document_date.isoformat(),
        },
        "facts": opened.details.get("facts"),
        "leniency": list(r.leniency),
        "statement": opened.details.get("statement"),
        "statement_at": iso_z(r.statement_at) if r.statement_at is not None else None,
        "objections_kept": notes,
    }


def flags(records: Sequence[RecordRow], today: date) -> dict[str, bool]:
    """On the serious dishonesty list; no negative record in the last three years.

    Only records in force count: an expired record is no longer used for anything,
    and a repaired, corrected or revoked one has been set aside by a decision.
    """
    live = [r for r in records if effective_record_state(r.state, r.window, today).value in {"active", "disputed"}]
    serious = any(r.nature == "serious" and not r.sealed for r in live)
    negative_dates = [r.decision_date for r in live if r.nature in NEGATIVE_NATURES]
    return {"on_serious_list": serious, "no_negative_record_in_three_years": green_channel(negative_dates, today)}
