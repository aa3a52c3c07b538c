"""Rules for registering and showing credit records.

Pure functions over plain values: the catalog item, the dates and the stored
state come in, a decision comes out. Dates are civil dates in China; the
caller decides what "today" is.

Disclosure window. A record decided on day D is shown and used from D up to
and including the last day of its period, counted in calendar months (a class
of dishonesty information under NDRC Order 36, or the item's own period): a
3-month period from 2025-05-31 ends on 2025-08-31, and from 2025-09-01 the
record is shown to no one and its effective state is ``expired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from policies.catalog import CatalogItem, Period, load_catalog, load_provider_levels, load_severities
from policies.periods import add_months

__all__ = [
    "INSTITUTION_VISIBLE_STATES",
    "PROCEDURES",
    "DisclosureWindow",
    "RecordRuleError",
    "RecordState",
    "RecordTerms",
    "check_listing_level",
    "check_registration",
    "classify_record",
    "disclosure_window",
    "effective_record_state",
    "green_channel",
    "in_window",
    "period_of",
    "publicly_listed",
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
    """Stored states of a record."""

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
class RecordTerms:
    """What registration settles about one record beyond its item: its class of dishonesty
    information (None for basic and positive items), whether it is sealed (a minor's
    record: never shared, never published), and whether it is published (公示)."""

    severity: str | None
    sealed: bool
    published: bool


def classify_record(
    item: CatalogItem,
    *,
    severity: str | None,
    published: bool | None,
    minor: bool,
    document_type: str,
    provider_level: str | None,
    via_notice: bool = False,
) -> RecordTerms:
    """The class, seal and publication of a record; raise RecordRuleError when they cannot be.

    Checks, in order:

    1. ``severity_not_applicable`` (400): a class stated for a basic or positive item.
    2. ``severity_not_allowed`` (400): a class the item does not admit.
    3. ``minor_not_listable`` (409): the person was a minor and the item refuses minors (a
       serious list never takes a minor; 法释〔2017〕7号 for dishonest judgment debtors).
    4. ``listing_requires_notice`` (409): a serious list item listed by prior notice, registered
       directly instead of through the notice procedure.
    5. ``provider_level_not_permitted`` (403): a serious listing by a provider that is not
       registered at county level or above.
    6. ``publication_not_allowed`` (400): publication asked for an item that is not published.

    A minor's record is sealed where the item seals minors and, whatever the item, when it is
    an administrative penalty (《预防未成年人犯罪法》第五十九条). A sealed record is never
    published. A published record of a class that is not published as a rule (light) is
    allowed only where the deciding department publishes it (``by_decision``).
    """
    if not item.negative:
        if severity is not None:
            raise RecordRuleError("severity_not_applicable", f"{item.code} is not dishonesty information")
        chosen: str | None = None
    else:
        chosen = item.default_severity if severity is None else severity
        if chosen not in item.severities:
            raise RecordRuleError(
                "severity_not_allowed", f"{item.code} records are of class {', '.join(item.severities)}"
            )
    if minor and item.minors == "refuse":
        raise RecordRuleError("minor_not_listable", f"a minor cannot be registered under {item.code}", 409)
    if item.nature == "serious":
        if item.listing == "notice" and not via_notice:
            raise RecordRuleError(
                "listing_requires_notice",
                "this serious list is decided after prior notice: use POST /v1/serious-list/notices",
                409,
            )
        check_listing_level(provider_level)
    sealed = minor and (item.minors == "seal" or document_type == "admin_penalty_decision")
    if item.disclosure == "public":
        shown = True
    elif item.disclosure == "by_decision":
        shown = bool(published)
    elif published:
        raise RecordRuleError("publication_not_allowed", f"{item.code} records are not published")
    else:
        shown = False
    return RecordTerms(severity=chosen, sealed=sealed, published=shown and not sealed)


def check_listing_level(provider_level: str | None) -> None:
    """``provider_level_not_permitted`` (403) unless the provider's registered level may decide
    a serious listing (county level or above; a provider with no level may not)."""
    level = load_provider_levels().get(provider_level or "")
    if level is None or not level.may_list:
        raise RecordRuleError(
            "provider_level_not_permitted",
            "only a provider registered at county level or above may decide a serious listing",
            403,
        )


def period_of(item: CatalogItem, severity: str | None) -> Period:
    """The disclosure period of a record of ``item`` in class ``severity``: the item's own
    period where a sector rule sets one, else its class's, else (basic and positive items)
    its display period with no minimum."""
    if item.period is not None:
        return item.period
    if item.negative:
        code = severity if severity in item.severities else item.default_severity
        return load_severities()[code or ""].period
    months = item.display_months or 0
    return Period(0, months, ())


@dataclass(frozen=True, slots=True)
class DisclosureWindow:
    """When a record is shown: on days ``starts <= d <= last_day`` (both included).

    ``repair_from`` is the first day on which credit repair may be applied for:
    the day after the minimum period ends, or the decision day itself when there
    is no minimum (light information: as soon as the obligations are fulfilled).
    """

    starts: date
    repair_from: date
    last_day: date


def disclosure_window(
    item: CatalogItem, decision_date: date, severity: str | None = None, suspended_days: int = 0
) -> DisclosureWindow:
    """The disclosure window of a record decided on ``decision_date``, in calendar months.

    A 3-month period from 2025-05-31 has its last day on 2025-08-31. ``suspended_days``
    is the time the record's measures were suspended by objections or complaints that
    were finally rejected; the end moves later by exactly that much.
    """
    period = period_of(item, severity)
    repair_from = (
        decision_date if period.min_months == 0 else add_months(decision_date, period.min_months) + timedelta(days=1)
    )
    last = add_months(decision_date, period.max_months) + timedelta(days=suspended_days)
    return DisclosureWindow(starts=decision_date, repair_from=repair_from, last_day=last)


def in_window(window: DisclosureWindow, today: date) -> bool:
    """Whether ``today`` is inside the window: ``starts <= today <= last_day``."""
    return window.starts <= today <= window.last_day


def _in_force(current: RecordState, window: DisclosureWindow, today: date) -> bool:
    # While an objection or complaint is open the measures' clock is stopped: a disputed
    # record cannot run out before the dispute is answered (its end then moves later).
    if current is RecordState.DISPUTED:
        return window.starts <= today
    return in_window(window, today)


def visible_to_institution(
    state: str, window: DisclosureWindow, today: date, item: CatalogItem, sealed: bool = False
) -> bool:
    """Whether an institution (under a valid consent) may see the record today.

    Only ``active`` and ``disputed`` records, inside their window, of an item that
    is shared at all, and never a sealed record (a minor's). Repaired, corrected,
    revoked and expired records are never shown to institutions. Raises ValueError
    for an unknown state.
    """
    current = RecordState(state)
    return (
        current in INSTITUTION_VISIBLE_STATES
        and _in_force(current, window, today)
        and item.sharing != "none"
        and not sealed
    )


def visible_to_subject(state: str, window: DisclosureWindow, today: date) -> bool:
    """Whether the subject sees the record (with its state) today.

    Every state but ``expired``, inside the window. Raises ValueError for an unknown state.
    """
    current = RecordState(state)
    return current is not RecordState.EXPIRED and _in_force(current, window, today)


def effective_record_state(stored_state: str, window: DisclosureWindow, today: date) -> RecordState:
    """The state a stored record is really in today.

    Stored states are brought up to date lazily: an ``active`` record after its
    window's last day is ``expired``. A ``disputed`` record does not expire while the
    dispute is open (its measures are suspended). ``repaired``, ``corrected`` and
    ``revoked`` were fixed by a decision and keep their state. Raises ValueError for
    an unknown state.
    """
    current = RecordState(stored_state)
    if current in _SETTLED_STATES or current is RecordState.EXPIRED:
        return current
    if not _in_force(current, window, today) and today > window.last_day:
        return RecordState.EXPIRED
    return current


def publicly_listed(
    item: CatalogItem, state: str, window: DisclosureWindow, today: date, *, sealed: bool, published: bool,
    leniency: Iterable[str] = (),
) -> bool:
    """Whether a record is on the public serious dishonesty list today (公示).

    A serious item the catalog makes public, a published record, in force (active or
    disputed) inside its window, never sealed and never about a minor. A repaired,
    corrected or revoked record has left the list; so has one whose period ended.
    """
    current = RecordState(state)
    return (
        item.nature == "serious"
        and item.disclosure == "public"
        and published
        and not sealed
        and "minor" not in leniency
        and current in INSTITUTION_VISIBLE_STATES
        and _in_force(current, window, today)
    )


def repair_allowed(item: CatalogItem, window: DisclosureWindow, today: date) -> RecordRuleError | None:
    """Whether credit repair may be applied for today; None if allowed, else the refusal.

    ``not_repairable`` (400) if the item is not repairable (a law says so, cited in the
    catalog, or it is not dishonesty information); ``minimum_period_not_reached`` (409)
    before ``window.repair_from`` (repair is allowed on that day and after).
    """
    if not item.repairable:
        return RecordRuleError("not_repairable", f"{item.code} records cannot be repaired")
    if today < window.repair_from:
        return RecordRuleError(
            "minimum_period_not_reached",
            "the minimum disclosure period of this record has not passed",
            409,
        )
    return None


def suspended_end(measures_last_day: date, suspended_from: date, resumed_on: date) -> date:
    """The new last day of punishment measures after a suspension.

    While an objection or complaint is open the measures are suspended; if it is
    finally rejected they resume on ``resumed_on`` and the end moves later by
    exactly the suspended time, ``resumed_on - suspended_from``. A suspension
    that starts after the last day suspends nothing and leaves the end
    unchanged. Example: measures run 2026-01-05 to 2027-01-05, suspended
    2026-03-02 to 2026-03-12 (10 days): they now end 2027-01-15.
    """
    if resumed_on < suspended_from:
        raise ValueError("resumed_on must not be earlier than suspended_from")
    if suspended_from > measures_last_day:
        return measures_last_day
    return measures_last_day + (resumed_on - suspended_from)


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
