"""Rules for registering and showing credit records (DESIGN §6, §7).

Pure functions over plain values: the catalog item, the dates and the stored
state come in, a decision comes out. Dates are civil dates in China; the
caller decides what "today" is.

Disclosure window. A record decided on day D under an item with maximum
disclosure period M is shown and used on every day d with ``D <= d < D + M``
days. The end day ``D + M`` itself is outside the window: on that day the
record is no longer shown to anyone and its effective state is ``expired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from policies.catalog import CatalogItem, load_catalog

__all__ = [
    "INSTITUTION_VISIBLE_STATES",
    "PROCEDURES",
    "DisclosureWindow",
    "RecordRuleError",
    "RecordState",
    "check_registration",
    "disclosure_window",
    "effective_record_state",
    "green_channel",
    "in_window",
    "repair_allowed",
    "suspended_end",
    "visible_to_institution",
    "visible_to_subject",
]

# 一般程序 and 简易程序 of the Administrative Penalty Law.
PROCEDURES = frozenset({"general", "simplified"})

GREEN_CHANNEL_YEARS = 3


class RecordRuleError(ValueError):
    """A record rule refused the input. ``code`` is stable; ``status`` is the HTTP status it maps to.

    Messages name rules and codes only, never personal data.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RecordState(StrEnum):
    """Stored states of a record (DESIGN §6)."""

    ACTIVE = "active"
    DISPUTED = "disputed"  # objection or complaint open; measures suspended
    REPAIRED = "repaired"  # credit repair approved
    CORRECTED = "corrected"  # objection upheld: record corrected
    REVOKED = "revoked"  # objection upheld: record withdrawn
    EXPIRED = "expired"  # past the disclosure window


INSTITUTION_VISIBLE_STATES = frozenset({RecordState.ACTIVE, RecordState.DISPUTED})
# States that a decision fixed; reaching the end of the window does not turn them into ``expired``.
_SETTLED_STATES = frozenset({RecordState.REPAIRED, RecordState.CORRECTED, RecordState.REVOKED})


def check_registration(
    *,
    item_code: str,
    provider_type: str,
    document_type: str,
    procedure: str,
    first_violation_corrected: bool,
    decision_date: date,
    today: date,
    catalog: Mapping[str, CatalogItem] | None = None,
) -> CatalogItem:
    """Check that a provider may register a record under ``item_code``; return the item or raise RecordRuleError.

    Checks run in this order, and the first failure is reported:

    1. ``item_unknown`` (400): the item is not in the catalog.
    2. ``provider_not_allowed`` (403): the provider's type may not register this item.
    3. ``procedure_unknown`` (400): ``procedure`` is not ``general`` or ``simplified``.
    4. ``document_type_not_accepted`` (400): the item cannot be grounded on this document.
    5. ``decision_date_in_future`` (400): the decision is dated after ``today``.
    6. ``simplified_procedure_excluded`` (400): the document is an administrative penalty
       decision made under the simplified procedure (简易程序); such penalties are not
       recorded. A court's simplified procedure is a different thing and is not affected.
    7. ``minor_first_violation_exempt`` (400): the item applies the 初次违法且危害后果轻微
       并及时改正 rule and the provider states the violation was such a one.
    """
    table = catalog if catalog is not None else load_catalog()
    item = table.get(item_code)
    if item is None:
        raise RecordRuleError("item_unknown", "no such catalog item")
    if provider_type not in item.provider_types:
        raise RecordRuleError("provider_not_allowed", "this provider type may not register this catalog item", 403)
    if procedure not in PROCEDURES:
        raise RecordRuleError("procedure_unknown", "procedure must be 'general' or 'simplified'")
    if document_type not in item.document_types:
        raise RecordRuleError(
            "document_type_not_accepted",
            f"{item.code} is grounded only on: {', '.join(sorted(item.document_types))}",
        )
    if decision_date > today:
        raise RecordRuleError("decision_date_in_future", "the decision date is later than today")
    if document_type == "admin_penalty_decision" and procedure == "simplified":
        raise RecordRuleError(
            "simplified_procedure_excluded", "penalties decided under the simplified procedure are not recorded"
        )
    if item.minor_violation_exempt and first_violation_corrected:
        raise RecordRuleError(
            "minor_first_violation_exempt",
            "a minor first violation whose harm was promptly corrected is not recorded",
        )
    return item


@dataclass(frozen=True, slots=True)
class DisclosureWindow:
    """When a record is shown: on days ``starts <= d < ends``.

    ``min_ends`` is the first day on which credit repair may be applied for.
    """

    starts: date
    min_ends: date
    ends: date


def disclosure_window(item: CatalogItem, decision_date: date) -> DisclosureWindow:
    """The disclosure window of a record decided on ``decision_date``, counted in whole days."""
    return DisclosureWindow(
        starts=decision_date,
        min_ends=decision_date + timedelta(days=item.min_disclosure_days),
        ends=decision_date + timedelta(days=item.max_disclosure_days),
    )


def in_window(window: DisclosureWindow, today: date) -> bool:
    """Whether ``today`` is inside the window: ``starts <= today < ends`` (the end day is outside)."""
    return window.starts <= today < window.ends


def visible_to_institution(state: str, window: DisclosureWindow, today: date, item: CatalogItem) -> bool:
    """Whether an institution (under a valid consent) may see the record today.

    Only ``active`` and ``disputed`` records, inside their window, of an item that
    is shared at all. Repaired, corrected, revoked and expired records are never
    shown to institutions. Raises ValueError for an unknown state.
    """
    current = RecordState(state)
    return current in INSTITUTION_VISIBLE_STATES and in_window(window, today) and item.sharing != "none"


def visible_to_subject(state: str, window: DisclosureWindow, today: date) -> bool:
    """Whether the subject sees the record (with its state) today.

    Every state but ``expired``, inside the window. Raises ValueError for an unknown state.
    """
    return RecordState(state) is not RecordState.EXPIRED and in_window(window, today)


def effective_record_state(stored_state: str, window: DisclosureWindow, today: date) -> RecordState:
    """The state a stored record is really in today.

    Stored states are brought up to date lazily: an ``active`` or ``disputed``
    record on or after its window's end day is ``expired``. ``repaired``,
    ``corrected`` and ``revoked`` were fixed by a decision and keep their state.
    Raises ValueError for an unknown state.
    """
    current = RecordState(stored_state)
    if current in _SETTLED_STATES or current is RecordState.EXPIRED:
        return current
    if today >= window.ends:
        return RecordState.EXPIRED
    return current


def repair_allowed(item: CatalogItem, window: DisclosureWindow, today: date) -> RecordRuleError | None:
    """Whether credit repair may be applied for today; None if allowed, else the refusal.

    ``not_repairable`` (400) if the item is not repairable; ``minimum_period_not_reached``
    (409) before ``window.min_ends`` (repair is allowed on that day and after).
    """
    if not item.repairable:
        return RecordRuleError("not_repairable", f"{item.code} records cannot be repaired")
    if today < window.min_ends:
        return RecordRuleError(
            "minimum_period_not_reached",
            "the minimum disclosure period of this record has not passed",
            409,
        )
    return None


def suspended_end(measures_end: date, suspended_from: date, resumed_on: date) -> date:
    """The new end of punishment measures after a suspension (DESIGN §7).

    While an objection or complaint is open the measures are suspended; if it is
    finally rejected they resume on ``resumed_on`` and the end moves later by
    exactly the suspended time, ``resumed_on - suspended_from``. A suspension
    that starts on or after ``measures_end`` suspends nothing and leaves the end
    unchanged. Example: measures end 2027-01-05, suspended 2026-03-02 to
    2026-03-12 (10 days): they now end 2027-01-15.
    """
    if resumed_on < suspended_from:
        raise ValueError("resumed_on must not be earlier than suspended_from")
    if suspended_from >= measures_end:
        return measures_end
    return measures_end + (resumed_on - suspended_from)


def _years_before(day: date, years: int) -> date:
    """The same month and day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def green_channel(negative_decision_dates: Iterable[date], today: date) -> bool:
    """No negative record in the last three years (连续三年无不良信用记录).

    "Three years" is calendar-based: the cutoff is the same month and day three
    years before ``today`` (29 February maps to 28 February). A negative record
    decided on the cutoff day is exactly three years old and no longer counts;
    one decided after it counts. A decision dated after ``today`` also counts, so
    bad data fails closed (no green channel).
    """
    cutoff = _years_before(today, GREEN_CHANNEL_YEARS)
    return all(decided <= cutoff for decided in negative_decision_dates)
