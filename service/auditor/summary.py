"""The auditors' summary: what each institution did, per purpose, and who jumped.

For the China calendar days ``first``..``last`` (both included), per institution
and purpose: queries allowed, queries denied by reason, distinct subjects of
the allowed queries, consents granted and revoked. Then the institutions whose
daily query count or denial rate jumped against their own history
(:mod:`policies.anomaly`; the numbers are in ``policies/data/anomaly.toml``).

It is computed from the audit log alone, plus the consents table to name the
institution a consent entry belongs to (those entries name the person who
acted). A day is a China calendar day (UTC+8), like every date in the service.
Entry times never go backwards, so a time range is a seq range found by binary
search; the three aggregate queries then scan only that range.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from audit import format_ts
from policies.access import CHINA_STANDARD_TIME
from policies.anomaly import AnomalySettings, judge_day
from service.auditor.queries import first_seq_from, log_size
from service.db.raw import RawConnection

#: The longest report, in days (each day is judged against its own history).
MAX_REPORT_DAYS = 366

# Per institution: its queries on one day (a seq range), allowed and not.
_DAILY = (
    "SELECT actor_id, decision, COUNT(*) FROM audit_entries "
    "WHERE seq >= ? AND seq < ? AND action = 'query' AND actor_type = 'institution' GROUP BY actor_id, decision"
)
_COUNTS = (
    "SELECT actor_id, purpose, decision, reason, COUNT(*) FROM audit_entries "
    "WHERE seq >= ? AND seq < ? AND action = 'query' AND actor_type = 'institution' "
    "GROUP BY actor_id, purpose, decision, reason"
)
_SUBJECTS = (
    "SELECT actor_id, purpose, COUNT(DISTINCT subject) FROM audit_entries "
    "WHERE seq >= ? AND seq < ? AND action = 'query' AND actor_type = 'institution' AND decision = 'allow' "
    "GROUP BY actor_id, purpose"
)
_CONSENTS = (
    "SELECT c.institution_id, e.purpose, e.action, COUNT(*) FROM audit_entries e "
    "JOIN consents c ON c.id = e.consent_id "
    "WHERE e.seq >= ? AND e.seq < ? AND e.action IN ('consent.grant', 'consent.revoke') "
    "GROUP BY c.institution_id, e.purpose, e.action"
)


@dataclass
class PurposeSummary:
    """One institution's activity for one purpose over the report's days."""

    institution_id: str
    purpose: str | None
    queries_allowed: int = 0
    queries_denied: int = 0
    denied_by_reason: dict[str, int] = field(default_factory=dict)
    distinct_subjects: int = 0
    consents_granted: int = 0
    consents_revoked: int = 0


def day_start(day: date) -> str:
    """The entry timestamp at which ``day`` (China calendar) begins."""
    return format_ts(datetime.combine(day, time(0), CHINA_STANDARD_TIME).astimezone(UTC))


def _days(first: date, last: date) -> Iterable[date]:
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


def summarize(db: RawConnection, first: date, last: date, settings: AnomalySettings) -> dict[str, Any]:
    """The summary of days ``first``..``last`` (China calendar) as a JSON-ready dict."""
    size = log_size(db)
    # Where each day begins in the log, from the history's first day to the day after
    # the report: one binary search each, each starting where the previous day began.
    days = list(_days(first - timedelta(days=settings.history_days), last + timedelta(days=1)))
    starts: list[int] = []
    for day in days:
        starts.append(first_seq_from(db, day_start(day), size, starts[-1] if starts else 1))
    seq_first, seq_end = starts[settings.history_days], starts[-1]

    per_day: dict[tuple[str, date], tuple[int, int]] = {}  # queries, denied
    for day, lo, hi in zip(days, starts, starts[1:], strict=False):
        for institution, decision, count in db.all(_DAILY, (lo, hi)):
            queries, denied = per_day.get((institution, day), (0, 0))
            per_day[(institution, day)] = (queries + count, denied + (count if decision != "allow" else 0))

    rows: dict[tuple[str, str | None], PurposeSummary] = {}

    def row(institution: str, purpose: str | None) -> PurposeSummary:
        found = rows.get((institution, purpose))
        if found is None:
            found = rows[(institution, purpose)] = PurposeSummary(institution, purpose)
        return found

    for institution, purpose, decision, reason, count in db.all(_COUNTS, (seq_first, seq_end)):
        summary = row(institution, purpose)
        if decision == "allow":
            summary.queries_allowed += count
        else:
            summary.queries_denied += count
            summary.denied_by_reason[reason] = summary.denied_by_reason.get(reason, 0) + count
    for institution, purpose, count in db.all(_SUBJECTS, (seq_first, seq_end)):
        row(institution, purpose).distinct_subjects = int(count)
    for institution, purpose, action, count in db.all(_CONSENTS, (seq_first, seq_end)):
        summary = row(institution, purpose)
        if action == "consent.grant":
            summary.consents_granted += int(count)
        else:
            summary.consents_revoked += int(count)

    flags: list[dict[str, Any]] = []
    institutions = sorted({inst for inst, day in per_day if first <= day <= last})
    for institution in institutions:
        for day in _days(first, last):
            queries, denied = per_day.get((institution, day), (0, 0))
            if not queries:
                continue
            history = [per_day.get((institution, day - timedelta(days=k)), (0, 0))
                       for k in range(settings.history_days, 0, -1)]
            for jump in judge_day(queries, denied, [h[0] for h in history], [h[1] for h in history], settings):
                shown = {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(jump).items()}
                flags.append({"institution_id": institution, "day": day.isoformat(), **shown})
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": "UTC+08:00",
        "entries": {"first_seq": seq_first, "end_seq": seq_end, "log_size": size},
        "institutions": [asdict(rows[k]) for k in sorted(rows, key=lambda k: (k[0], k[1] or ""))],
        "flagged": flags,
        "method": {
            "score": "modified z-score 0.6745 * (x - median) / max(MAD, floor) over the institution's own "
                     "previous days (policies/anomaly.py)",
            **asdict(settings),
        },
    }


_CSV_FIELDS = ("kind", "institution_id", "purpose", "day", "measure", "value", "median", "mad", "robust_z",
               "history_days")
# A spreadsheet runs a cell that starts like a formula; ids and codes never do, but be sure.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def summary_csv(summary: dict[str, Any]) -> str:
    """The summary as CSV in long form, one measure per line: ``kind`` is ``count`` for
    the per-institution and purpose numbers (measure ``queries_allowed``,
    ``denied:<reason>``, ...) and ``flag`` for a jump (with median, MAD and score)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_FIELDS)
    for item in summary["institutions"]:
        measures = [(name, item[name]) for name in ("queries_allowed", "queries_denied", "distinct_subjects",
                                                    "consents_granted", "consents_revoked")]
        measures += [(f"denied:{reason}", n) for reason, n in sorted(item["denied_by_reason"].items())]
        for name, value in measures:
            writer.writerow([_cell(v) for v in ("count", item["institution_id"], item["purpose"], None, name,
                                                 value, None, None, None, None)])
    for flag in summary["flagged"]:
        writer.writerow([_cell(v) for v in ("flag", flag["institution_id"], None, flag["day"], flag["measure"],
                                             flag["value"], flag["median"], flag["mad"], flag["robust_z"],
                                             flag["history_days"])])
    return out.getvalue()
