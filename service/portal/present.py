"""Turning API answers into what a page shows: times in China, days left, the chart.

Nothing here adds data: each function reads a value the API returned, or the
public policy data (names of purposes, categories and catalog items).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from policies import load_categories, load_purposes
from policies.access import CHINA_STANDARD_TIME
from policies.catalog import load_catalog


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time from the API (``…Z``), or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def china_time(value: str | None) -> str:
    """``2026-12-03 14:05``: the moment in China Standard Time, the service's civil time."""
    moment = parse_time(value)
    return "" if moment is None else moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def china_date(value: str | None) -> str:
    """``2026-12-03``: the date in China of a moment from the API."""
    moment = parse_time(value)
    return "" if moment is None else moment.astimezone(CHINA_STANDARD_TIME).date().isoformat()


def short_id(value: str | None) -> str:
    """The first eight characters of an id, enough to tell items apart on a page."""
    return (value or "")[:8]


@dataclass(frozen=True)
class CategoryInfo:
    """What a page says about a record category: its name and the catalog items it holds."""

    code: str
    name: str
    items: tuple[str, ...]


def category_info(code: str) -> CategoryInfo:
    """A category's Chinese name and the names of the catalog items that fall in it."""
    categories = load_categories()
    name = categories[code].name_zh if code in categories else code
    items = tuple(item.name_zh for item in load_catalog().values() if item.category == code)
    return CategoryInfo(code, name, items)


def purpose_name(code: str | None) -> str:
    """The purpose's Chinese name (the code if the policy no longer has it)."""
    purposes = load_purposes()
    return purposes[code].name_zh if code and code in purposes else (code or "")


def uses_left(consent: Mapping[str, Any]) -> int:
    """Queries an institution may still make under a consent."""
    if consent.get("state") != "active":
        return 0
    return max(0, int(consent["max_uses"]) - int(consent["uses"]))


# --- the chart of accesses ------------------------------------------------------------------------

CHART_DAYS = 30
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 600, 180, 28, 22, 10


@dataclass(frozen=True)
class Bar:
    """One day's column: institution reads allowed and refused, as SVG geometry."""

    day: date
    allowed: int
    refused: int
    x: float
    width: float
    allowed_y: float
    allowed_h: float
    refused_y: float
    refused_h: float


@dataclass(frozen=True)
class Chart:
    """Accesses by institutions per day over the last :data:`CHART_DAYS` days in China."""

    bars: tuple[Bar, ...]
    peak: int
    first: date
    last: date
    allowed: int
    refused: int
    width: int = _WIDTH
    height: int = _HEIGHT
    left: int = _LEFT
    baseline: int = _HEIGHT - _BOTTOM
    top: int = _TOP

    @property
    def empty(self) -> bool:
        """No institution read anything in the period."""
        return self.allowed + self.refused == 0


def access_chart(entries: Iterable[Mapping[str, Any]], today: date, days: int = CHART_DAYS) -> Chart:
    """Institution reads (``query`` entries) per day in China, allowed and refused, for the
    ``days`` days ending ``today``; from the entries the access log returned."""
    first = today - timedelta(days=days - 1)
    allowed: Counter[date] = Counter()
    refused: Counter[date] = Counter()
    for e in entries:
        if e.get("actor_type") != "institution" or e.get("action") != "query":
            continue
        moment = parse_time(e.get("at"))
        if moment is None:
            continue
        day = moment.astimezone(CHINA_STANDARD_TIME).date()
        if first <= day <= today:
            (allowed if e.get("decision") == "allow" else refused)[day] += 1
    peak = max([allowed[d] + refused[d] for d in allowed | refused] or [0])
    scale = max(peak, 1)
    plot_h = _HEIGHT - _BOTTOM - _TOP
    step = (_WIDTH - _LEFT) / days
    bars = []
    for i in range(days):
        day = first + timedelta(days=i)
        a, r = allowed[day], refused[day]
        ah, rh = plot_h * a / scale, plot_h * r / scale
        base = _HEIGHT - _BOTTOM
        bars.append(Bar(day, a, r, round(_LEFT + i * step + step * 0.15, 2), round(step * 0.7, 2),
                        round(base - ah, 2), round(ah, 2), round(base - ah - rh, 2), round(rh, 2)))
    return Chart(tuple(bars), peak, first, today, sum(allowed.values()), sum(refused.values()))


def by_day(entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Entries grouped under their date in China, in the order given (newest first)."""
    groups: list[tuple[str, list[Mapping[str, Any]]]] = []
    for e in entries:
        day = china_date(e.get("at"))
        if not groups or groups[-1][0] != day:
            groups.append((day, []))
        groups[-1][1].append(e)
    return groups
