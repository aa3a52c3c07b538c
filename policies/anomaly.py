"""Which institutions' query behaviour jumped against their own history (policy data:
``data/anomaly.toml``).

For one institution and one day, two measures are judged against the same
institution's previous ``history_days`` days:

- ``daily_queries``: the number of queries it made that day. The history
  starts at the institution's first query within it (days before that are not
  its history, whether it did not exist yet or not use the service); from there
  on a day without a query counts as 0. At least ``min_history_days`` days of
  the history must have ``min_day_queries`` queries or more;
- ``denial_rate``: the share of that day's queries that were denied, against
  the rates of the history days with ``min_day_queries`` queries or more (at
  least ``min_history_days`` of them).

A day with fewer than ``min_day_queries`` queries is not judged. A measure is
flagged when its modified z-score ``0.6745 * (x - median) / MAD`` reaches
``z_threshold``; MAD is at least the measure's floor, so a perfectly steady
history does not turn the smallest change into a jump. Only increases are
flagged: fewer queries or fewer denials are not what auditors look for.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from policies._data import read_data_file, reject_unknown_keys, require_int, require_number, require_version
from policies.errors import PolicyDataError

__all__ = [
    "MAD_TO_Z",
    "AnomalySettings",
    "Jump",
    "judge_day",
    "load_anomaly_settings",
    "parse_anomaly_settings",
    "robust_z",
]

ANOMALY_FILE = "anomaly.toml"
#: 0.6745 is the 75th percentile of the standard normal distribution: it scales a MAD
#: so that, for normal data, the modified z-score reads like an ordinary z-score.
MAD_TO_Z = 0.6745


@dataclass(frozen=True, slots=True)
class AnomalySettings:
    """The method's numbers (see the module docstring and ``data/anomaly.toml``)."""

    history_days: int
    min_history_days: int
    min_day_queries: int
    z_threshold: float
    min_mad_queries: float
    min_mad_denial_rate: float


@dataclass(frozen=True, slots=True)
class Jump:
    """One flagged measure of one day: its value, the history's median and MAD, the score."""

    measure: str
    value: float
    median: float
    mad: float
    robust_z: float
    history_days: int


def parse_anomaly_settings(data: Mapping[str, Any], source: str) -> AnomalySettings:
    """Validate parsed anomaly settings TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    keys = ("history_days", "min_history_days", "min_day_queries", "z_threshold", "min_mad_queries",
            "min_mad_denial_rate")
    reject_unknown_keys(data, {"version", *keys}, source, "")
    settings = AnomalySettings(
        history_days=require_int(data, "history_days", source, "history_days", minimum=1),
        min_history_days=require_int(data, "min_history_days", source, "min_history_days", minimum=1),
        min_day_queries=require_int(data, "min_day_queries", source, "min_day_queries", minimum=1),
        z_threshold=require_number(data, "z_threshold", source, "z_threshold", minimum=0.0),
        min_mad_queries=require_number(data, "min_mad_queries", source, "min_mad_queries", minimum=1e-9),
        min_mad_denial_rate=require_number(data, "min_mad_denial_rate", source, "min_mad_denial_rate",
                                           minimum=1e-9),
    )
    if settings.min_history_days > settings.history_days:
        raise PolicyDataError(source, "min_history_days", "must not exceed history_days")
    return settings


@functools.cache
def load_anomaly_settings() -> AnomalySettings:
    """Load and validate the packaged anomaly settings (once per process)."""
    return parse_anomaly_settings(read_data_file(ANOMALY_FILE), f"data/{ANOMALY_FILE}")


def robust_z(value: float, history: Sequence[float], min_mad: float) -> tuple[float, float, float]:
    """``(median, MAD, modified z-score)`` of ``value`` against a non-empty ``history``;
    the MAD used for the score is at least ``min_mad``."""
    if not history:
        raise ValueError("robust_z needs a history")
    centre = median(history)
    mad = median(abs(x - centre) for x in history)
    return centre, mad, MAD_TO_Z * (value - centre) / max(mad, min_mad)


def judge_day(
    day_queries: int,
    day_denied: int,
    history_queries: Sequence[int],
    history_denied: Sequence[int],
    settings: AnomalySettings,
) -> list[Jump]:
    """The measures of one day that jumped. ``history_*`` are the previous days, one value
    per day (0 for a day without queries), oldest first; only the last
    ``settings.history_days`` are used."""
    if len(history_queries) != len(history_denied):
        raise ValueError("history_queries and history_denied must cover the same days")
    if day_queries < settings.min_day_queries:
        return []
    keep = settings.history_days
    queries = list(history_queries)[-keep:]
    denied = list(history_denied)[-keep:]
    start = next((i for i, n in enumerate(queries) if n), len(queries))
    queries, denied = queries[start:], denied[start:]
    busy = [i for i, n in enumerate(queries) if n >= settings.min_day_queries]
    if len(busy) < settings.min_history_days:
        return []
    jumps: list[Jump] = []
    centre, mad, z = robust_z(day_queries, queries, settings.min_mad_queries)
    if z >= settings.z_threshold:
        jumps.append(Jump("daily_queries", float(day_queries), centre, mad, z, len(queries)))
    rates = [denied[i] / queries[i] for i in busy]
    rate = day_denied / day_queries
    centre, mad, z = robust_z(rate, rates, settings.min_mad_denial_rate)
    if z >= settings.z_threshold:
        jumps.append(Jump("denial_rate", rate, centre, mad, z, len(rates)))
    return jumps
