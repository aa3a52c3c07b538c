"""The public serious dishonesty list (公示), as anyone may read it.

Only records the rules put on the list today (``policies.records.publicly_listed``):
serious items the catalog makes public, published, in force inside their window,
never repaired, corrected or revoked, never sealed, never about a minor. Names
and ID numbers are masked for the public (surname only; first and last
character of the ID number) and opened by the access gate, which writes one
audit entry for each page served. The list can be filtered by item and by the
first characters of a masked name, and by nothing else: there is no lookup by
full name or ID number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from policies import CatalogItem, load_catalog
from policies.records import disclosure_window, publicly_listed
from service.db.raw import as_date, as_json
from service.documents.signing import sha256_hex
from service.runtime import Services

_CANDIDATES = (
    "SELECT id, subject_id, item_code, state, decision_date, severity, sealed, published, leniency, "
    "suspended_days, document_authority FROM credit_records "
    "WHERE nature = 'serious' AND published = TRUE AND sealed = FALSE AND state IN ('active', 'disputed')"
)
#: Longest name prefix accepted: a masked name shows one character, the rest are ``*``.
MAX_PREFIX = 4
MAX_PER_PAGE = 50


@dataclass(frozen=True)
class ListedRecord:
    """One record on the list today, with what the public may see of it (names come later)."""

    id: str
    subject_id: str
    item_code: str
    decision_date: date
    last_day: date
    disputed: bool
    authority: str


def listable_items() -> frozenset[str]:
    """Item codes that can appear on the public list."""
    return frozenset(code for code, item in load_catalog().items()
                     if item.nature == "serious" and item.disclosure == "public")


def listed_records(services: Services, today: date, item_code: str | None) -> list[ListedRecord]:
    """Every record on the list today, newest decision first."""
    catalog = load_catalog()
    out = []
    with services.reads() as db:
        rows = db.all(_CANDIDATES)
    for (record_id, subject_id, code, state, decided, severity, sealed, published, leniency, suspended,
         authority) in rows:
        item = catalog.get(code)
        if item is None or (item_code is not None and code != item_code):
            continue
        window = disclosure_window(item, as_date(decided), severity, int(suspended or 0))
        if publicly_listed(item, state, window, today, sealed=bool(sealed), published=bool(published),
                           leniency=tuple(as_json(leniency))):
            out.append(ListedRecord(record_id, subject_id, code, as_date(decided), window.last_day,
                                    state == "disputed", authority))
    out.sort(key=lambda r: (r.decision_date, r.id), reverse=True)
    return out


def public_page(services: Services, today: date, *, item_code: str | None, name_prefix: str | None, page: int,
                per_page: int, request_id: str | None) -> dict[str, Any]:
    """One page of the list, masked for the public; the page is audited before it is returned.

    Without a name filter only the page's people are opened; with one, every listed
    person's masked name is needed to filter, and the page is cut from the matches.
    """
    catalog = load_catalog()
    records = listed_records(services, today, item_code)
    if name_prefix is None:
        to_open = [r.subject_id for r in records[(page - 1) * per_page:page * per_page]]
    else:
        to_open = [r.subject_id for r in records]
    cut: dict[str, Any] = {}

    def describe(masked: Mapping[str, Mapping[str, str | None]]) -> Mapping[str, Any]:
        matching = records if name_prefix is None else [
            r for r in records if (masked.get(r.subject_id, {}).get("name") or "").startswith(name_prefix)]
        chosen = matching[(page - 1) * per_page:page * per_page]
        cut.update(total=len(matching), chosen=chosen)
        body = [_item(catalog, r, masked.get(r.subject_id, {})) for r in chosen]
        cut["items"] = body
        return {"item_code": item_code, "name_prefix_chars": len(name_prefix or ""), "page": page,
                "per_page": per_page, "records": [r.id for r in chosen], "response_sha256": sha256_hex(body)}

    with services.reads() as db:
        shown = services.gate.read_public_list(db, to_open, request_id=request_id, describe=describe)
    total = int(cut["total"])
    return {"items": cut["items"], "page": page, "per_page": per_page, "total": total,
            "pages": (total + per_page - 1) // per_page, "audit_seq": shown.audit_seq}


def _item(catalog: Mapping[str, CatalogItem], r: ListedRecord, person: Mapping[str, str | None]) -> dict[str, Any]:
    item = catalog[r.item_code]
    return {
        "record_id": r.id,
        "name": person.get("name"),
        "id_number": person.get("id_number"),
        "item_code": r.item_code,
        "item_name": item.name_zh,
        "serious_list_field": item.serious_list_field,
        "authority": r.authority,
        "decision_date": r.decision_date.isoformat(),
        "listed_until": r.last_day.isoformat(),
        "disputed": r.disputed,
    }
