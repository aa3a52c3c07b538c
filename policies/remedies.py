"""Rules of the remedies: objections, complaints, credit repair, the serious list.

Pure functions over plain values, like :mod:`policies.records`: the stored
states, the dates and the catalog item come in; a refusal (a
:class:`~policies.records.RecordRuleError` with a stable code and HTTP status)
or nothing comes out. The numbers (answer periods, evidence limits, the bar
after a revoked repair) are policy data in ``data/remedies.toml``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from policies._data import (
    read_data_file,
    reject_unknown_keys,
    require_int,
    require_str,
    require_str_list,
    require_table,
    require_version,
)
from policies.catalog import AnswerPeriod, CatalogItem, parse_answer_period
from policies.errors import PolicyDataError
from policies.records import DisclosureWindow, RecordRuleError, RecordState, check_listing_level, repair_allowed

__all__ = [
    "OBJECTION_OUTCOMES",
    "EvidenceRules",
    "RemedyRules",
    "TextLimits",
    "check_complaint",
    "check_listing_notice",
    "check_notice_decision",
    "check_notice_objection",
    "check_objection",
    "check_repair",
    "load_remedy_rules",
    "objection_period",
    "parse_remedy_rules",
]

REMEDIES_FILE = "remedies.toml"

#: What a provider can answer to an objection; ``unconfirmed`` keeps the record and
#: shows the objection beside it (《征信业管理条例》第二十五条).
OBJECTION_OUTCOMES = frozenset({"upheld", "rejected", "unconfirmed"})

# A record in one of these states was set aside by a decision: nothing is left to contest or repair.
_SETTLED = frozenset({RecordState.REPAIRED, RecordState.CORRECTED, RecordState.REVOKED, RecordState.EXPIRED})
_DEADLINES = ("objection_answer", "repair_decision", "complaint_decision", "notice_objection")
_MEDIA_TYPE_SHAPE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789/.+-")


@dataclass(frozen=True, slots=True)
class EvidenceRules:
    """Attachments: how many, how large each (decoded bytes), which media types."""

    max_files: int
    max_bytes: int
    media_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class TextLimits:
    """Longest free texts, in characters."""

    reason_chars: int
    statement_chars: int
    commitment_chars: int
    decision_chars: int


@dataclass(frozen=True, slots=True)
class RemedyRules:
    """Everything in ``remedies.toml``."""

    objection_answer: AnswerPeriod
    repair_decision: AnswerPeriod
    complaint_decision: AnswerPeriod
    notice_objection: AnswerPeriod
    reapply_bar_months: int
    reapply_bar_basis: str
    listing_rights: str
    listing_removal: str
    evidence: EvidenceRules
    text: TextLimits

    def rights_until(self, window_closes: date) -> str:
        """The rights sentence of a listing notice whose objection window ends ``window_closes``."""
        return self.listing_rights.replace("{window_closes}", window_closes.isoformat())


def parse_remedy_rules(data: Mapping[str, Any], source: str) -> RemedyRules:
    """Validate parsed remedies TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    reject_unknown_keys(data, {"version", "deadlines", "repair", "listing", "evidence", "text"}, source, "")
    deadlines = require_table(data, "deadlines", source, "deadlines")
    reject_unknown_keys(deadlines, _DEADLINES, source, "deadlines")
    periods = {
        key: parse_answer_period(require_table(deadlines, key, source, f"deadlines.{key}"), source, f"deadlines.{key}")
        for key in _DEADLINES
    }
    repair = require_table(data, "repair", source, "repair")
    reject_unknown_keys(repair, {"reapply_bar_months", "reapply_bar_basis"}, source, "repair")
    listing = require_table(data, "listing", source, "listing")
    reject_unknown_keys(listing, {"rights", "removal"}, source, "listing")
    rights = require_str(listing, "rights", source, "listing.rights")
    if "{window_closes}" not in rights:
        raise PolicyDataError(source, "listing.rights", "must say until when: {window_closes}")
    evidence = require_table(data, "evidence", source, "evidence")
    reject_unknown_keys(evidence, {"max_files", "max_bytes", "media_types"}, source, "evidence")
    media_types = require_str_list(evidence, "media_types", source, "evidence.media_types")
    for index, media_type in enumerate(media_types):
        if "/" not in media_type or not set(media_type) <= _MEDIA_TYPE_SHAPE:
            raise PolicyDataError(source, f"evidence.media_types[{index}]", "must be a lowercase type/subtype")
    text = require_table(data, "text", source, "text")
    limits = ("reason_chars", "statement_chars", "commitment_chars", "decision_chars")
    reject_unknown_keys(text, limits, source, "text")
    return RemedyRules(
        **periods,
        reapply_bar_months=require_int(repair, "reapply_bar_months", source, "repair.reapply_bar_months", minimum=0),
        reapply_bar_basis=require_str(repair, "reapply_bar_basis", source, "repair.reapply_bar_basis"),
        listing_rights=rights,
        listing_removal=require_str(listing, "removal", source, "listing.removal"),
        evidence=EvidenceRules(
            max_files=require_int(evidence, "max_files", source, "evidence.max_files", minimum=0),
            max_bytes=require_int(evidence, "max_bytes", source, "evidence.max_bytes", minimum=1),
            media_types=frozenset(media_types),
        ),
        text=TextLimits(**{key: require_int(text, key, source, f"text.{key}", minimum=1) for key in limits}),
    )


@functools.cache
def load_remedy_rules() -> RemedyRules:
    """Load and validate the packaged remedies data (once per process)."""
    return parse_remedy_rules(read_data_file(REMEDIES_FILE), f"data/{REMEDIES_FILE}")


def objection_period(item: CatalogItem, rules: RemedyRules | None = None) -> AnswerPeriod:
    """How long the provider has to answer an objection to a record of ``item``."""
    return item.objection or (rules or load_remedy_rules()).objection_answer


def check_objection(state: RecordState, *, dispute_open: bool) -> None:
    """May the subject object to a record in ``state`` (its effective state today)?

    ``record_not_objectionable`` (409) for a record already repaired, corrected,
    revoked or expired; ``objection_open`` (409) while an objection or complaint
    about it is still open (one dispute at a time; a new one may follow the answer).
    """
    if state in _SETTLED:
        raise RecordRuleError("record_not_objectionable", f"the record is {state.value}", 409)
    if dispute_open:
        raise RecordRuleError("objection_open", "an objection or complaint about this record is still open", 409)


def check_complaint(objection_outcome: str | None, *, complaint_exists: bool) -> None:
    """A complaint follows a rejected objection, once (``objection_not_rejected``,
    ``complaint_exists``, both 409)."""
    if objection_outcome != "rejected":
        raise RecordRuleError("objection_not_rejected", "only a rejected objection can be complained about", 409)
    if complaint_exists:
        raise RecordRuleError("complaint_exists", "this objection has a complaint already", 409)


def check_repair(
    item: CatalogItem,
    window: DisclosureWindow,
    state: RecordState,
    today: date,
    *,
    repair_open: bool,
    barred_until: date | None,
) -> None:
    """May the subject apply for credit repair of this record today? Refusals, in order:

    ``not_repairable`` (400: the catalog cites the law that rules it out, or the record is
    not dishonesty information), ``record_not_active`` (409: repaired, corrected, revoked or
    expired already), ``repair_open`` (409: one application at a time), ``repair_barred``
    (409: a repair of it was revoked for false materials, until ``barred_until``),
    ``minimum_period_not_reached`` (409).
    """
    if not item.repairable:
        raise RecordRuleError("not_repairable", f"{item.code} records cannot be repaired")
    if state in _SETTLED:
        raise RecordRuleError("record_not_active", f"the record is {state.value}", 409)
    if repair_open:
        raise RecordRuleError("repair_open", "a repair application for this record is still open", 409)
    if barred_until is not None and today < barred_until:
        raise RecordRuleError("repair_barred", "a repair of this record was revoked; a new one is barred for now", 409)
    refusal = repair_allowed(item, window, today)
    if refusal is not None:
        raise refusal


def check_listing_notice(item: CatalogItem | None, provider_type: str, provider_level: str | None,
                         *, minor: bool) -> CatalogItem:
    """May this provider give notice of listing a person under ``item``? Refusals, in order:

    ``item_unknown`` (400), ``not_a_serious_list_item`` (400), ``listing_by_court_rules``
    (400: courts list under their own rules, by registering the ruling), ``provider_not_allowed``
    (403), ``provider_level_not_permitted`` (403: below county level, or no level registered),
    ``minor_not_listable`` (409: a serious list never takes a minor).
    """
    if item is None:
        raise RecordRuleError("item_unknown", "no such catalog item")
    if item.nature != "serious":
        raise RecordRuleError("not_a_serious_list_item", f"{item.code} is not a serious dishonesty list item")
    if item.listing != "notice":
        raise RecordRuleError("listing_by_court_rules", f"{item.code} is listed by a court under its own rules")
    if provider_type not in item.provider_types:
        raise RecordRuleError("provider_not_allowed", "this provider type may not list under this item", 403)
    check_listing_level(provider_level)
    if minor:
        raise RecordRuleError("minor_not_listable", "a minor is never put on a serious dishonesty list", 409)
    return item


def check_notice_objection(state: str, window_closes: date, today: date) -> None:
    """May the subject still object to a listing notice? ``notice_not_pending`` (409) once it
    is decided or withdrawn; ``notice_window_closed`` (409) after its window's last day."""
    if state != "notified":
        raise RecordRuleError("notice_not_pending", f"the notice is {state}", 409)
    if today > window_closes:
        raise RecordRuleError("notice_window_closed", "the objection window of this notice has closed", 409)


def check_notice_decision(state: str, window_closes: date, today: date, *, objection_open: bool) -> None:
    """May the provider decide a listing now? ``notice_not_pending`` (409) once decided or
    withdrawn; ``notice_window_open`` (409) up to and including the window's last day;
    ``objection_open`` (409) while the subject's objection to the notice is unanswered."""
    if state != "notified":
        raise RecordRuleError("notice_not_pending", f"the notice is {state}", 409)
    if today <= window_closes:
        raise RecordRuleError("notice_window_open", "the subject's objection window has not closed yet", 409)
    if objection_open:
        raise RecordRuleError("objection_open", "the subject's objection to this notice is still open", 409)
