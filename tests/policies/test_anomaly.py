"""Flagging jumps against an institution's own history (policies/anomaly.py)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.anomaly import AnomalySettings, judge_day, load_anomaly_settings, parse_anomaly_settings, robust_z
from policies.errors import PolicyDataError

SETTINGS = AnomalySettings(history_days=30, min_history_days=7, min_day_queries=20, z_threshold=3.5,
                           min_mad_queries=2.0, min_mad_denial_rate=0.02)


def test_packaged_settings_load() -> None:
    assert load_anomaly_settings() == SETTINGS


def test_robust_z_uses_median_and_mad() -> None:
    centre, mad, z = robust_z(40, [10, 12, 11, 13, 9, 100], min_mad=0.1)
    assert (centre, mad) == (11.5, 1.5)
    assert z == pytest.approx(0.6745 * 28.5 / 1.5)
    # One wild day in the history moves neither the median nor the MAD much.
    assert robust_z(40, [10, 12, 11, 13, 9, 10_000], min_mad=0.1)[:2] == (11.5, 1.5)
    assert robust_z(11, [11] * 10, min_mad=2.0) == (11, 0, 0.0)
    with pytest.raises(ValueError):
        robust_z(1, [], min_mad=1.0)


def _judge(day: int, denied: int, history: list[int], history_denied: list[int] | None = None) -> set[str]:
    jumps = judge_day(day, denied, history, history_denied or [0] * len(history), SETTINGS)
    return {j.measure for j in jumps}


def test_a_jump_in_queries_or_denials_is_flagged() -> None:
    steady = [30, 28, 31, 29, 30, 32, 30, 27, 30, 31] * 3
    assert _judge(31, 0, steady) == set()
    assert _judge(120, 0, steady) == {"daily_queries"}
    assert _judge(30, 15, steady, [1] * 30) == {"denial_rate"}
    assert _judge(120, 60, steady, [1] * 30) == {"daily_queries", "denial_rate"}
    # Going down is not a jump.
    assert _judge(20, 0, steady, [10] * 30) == set()


def test_small_days_and_short_histories_are_not_judged() -> None:
    assert _judge(19, 19, [1] * 30) == set()  # too few queries that day
    assert _judge(500, 0, [0] * 24 + [30] * 6) == set()  # six busy days only
    assert _judge(500, 0, [0] * 23 + [30] * 7) == {"daily_queries"}


def test_the_history_starts_with_the_first_query() -> None:
    # Active for the last 10 days at 30 a day: a day of 30 is ordinary, not a jump from 0.
    assert _judge(30, 0, [0] * 20 + [30] * 10) == set()
    # A quiet day after the start counts as 0 though.
    weekdays = ([30] * 5 + [0] * 2) * 4 + [30, 30]
    assert _judge(30, 0, weekdays) == set()
    assert judge_day(30, 0, weekdays, [0] * 30, SETTINGS) == []


def test_a_steady_history_needs_more_than_a_small_change() -> None:
    assert _judge(32, 0, [30] * 30) == set()  # within the MAD floor of two queries
    assert _judge(45, 0, [30] * 30) == {"daily_queries"}
    assert _judge(30, 1, [30] * 30, [0] * 30) == set()  # 3% against 0%: under the floor
    assert _judge(30, 3, [30] * 30, [0] * 30) == set()  # 10%: z 3.37
    assert _judge(30, 4, [30] * 30, [0] * 30) == {"denial_rate"}


def test_mismatched_histories_are_refused() -> None:
    with pytest.raises(ValueError):
        judge_day(30, 0, [1, 2], [0], SETTINGS)


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"version": 1, "history_days": 30, "min_history_days": 7, "min_day_queries": 20,
                            "z_threshold": 3.5, "min_mad_queries": 2.0, "min_mad_denial_rate": 0.02}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(("changes", "key"), [
    ({"z_threshold": "high"}, "z_threshold"),
    ({"z_threshold": True}, "z_threshold"),
    ({"z_threshold": float("nan")}, "z_threshold"),
    ({"min_mad_queries": 0}, "min_mad_queries"),
    ({"history_days": None}, "history_days"),
    ({"min_history_days": 31}, "min_history_days"),
    ({"extra": 1}, "extra"),
])
def test_bad_settings_name_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyDataError) as err:
        parse_anomaly_settings(_data(**changes), "data/anomaly.toml")
    assert err.value.key == key
    assert parse_anomaly_settings(_data(), "data/anomaly.toml") == SETTINGS
