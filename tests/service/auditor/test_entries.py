"""GET /v1/audit/entries: every filter, time windows, cursor pages, strict parameters;
every call (and every refusal) recorded in the log."""

from __future__ import annotations

from typing import Any

import pytest

from service.audit_log.writer import AuditEvent
from tests.http_helpers import assert_problem
from tests.service.auditor.conftest import Desk

SUBJECTS = [f"{n:032x}" for n in (0xA1, 0xB2, 0xC3)]
CONSENTS = [f"{n:032x}" for n in (0x11, 0x22)]
INSTITUTIONS = [f"{n:032x}" for n in (0xE1, 0xE2)]


def _event(i: int) -> AuditEvent:
    denied = i % 4 == 3
    return AuditEvent(
        actor_type="institution" if i % 5 else "system", actor_id=INSTITUTIONS[i % 2] if i % 5 else "consent-expiry",
        action="query" if i % 5 else "consent.expire", decision="deny" if denied else ("allow" if i % 5 else "record"),
        reason="consent_revoked" if denied else "consent", subject=SUBJECTS[i % 3],
        purpose="loan_approval" if i % 2 else "rental_screening", consent_id=CONSENTS[i % 2] if i % 3 else None,
        details={"i": i},
    )


@pytest.fixture
def logged(desk: Desk) -> list[dict[str, Any]]:
    """40 entries of known shapes, after whatever the fixtures wrote; returns them as the API shows them."""
    for i in range(40):
        desk.services.writer.append(_event(i))
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = desk.entries(after=after, limit=1000, action="query")
        items += page["items"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    everything = desk.entries(limit=1000, after=0)["items"]
    return [e for e in everything if e["details"].get("i") is not None]


@pytest.mark.parametrize("name", ["actor_type", "actor_id", "action", "subject", "consent_id", "purpose",
                                  "decision", "reason"])
def test_each_filter_returns_exactly_the_matching_entries(desk: Desk, logged: list[dict[str, Any]],
                                                          name: str) -> None:
    ours = {e["seq"] for e in logged}
    values = sorted({e[name] for e in logged if e[name] is not None})
    assert len(values) >= 2
    for value in values:
        found = desk.entries(**{name: value}, limit=1000)["items"]
        assert all(e[name] == value for e in found)
        assert [e for e in found if e["seq"] in ours] == [e for e in logged if e[name] == value]


def _all(desk: Desk) -> list[dict[str, Any]]:
    return list(desk.entries(limit=1000)["items"])


def test_filters_combine_and_pages_follow_the_log_order(desk: Desk, logged: list[dict[str, Any]]) -> None:
    wanted = [e for e in logged if e["actor_id"] == INSTITUTIONS[1] and e["decision"] == "deny"]
    assert len(wanted) > 2
    assert desk.entries(actor_id=INSTITUTIONS[1], decision="deny", action="query")["items"] == wanted
    seen: list[int] = []
    after = 0
    while True:
        page = desk.entries(after=after, limit=7, purpose="loan_approval")
        assert len(page["items"]) <= 7
        seen += [e["seq"] for e in page["items"]]
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["items"][-1]["seq"]
        after = page["next_after"]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert seen == [e["seq"] for e in logged if e["purpose"] == "loan_approval"]


def test_a_time_window_is_a_range_of_the_log(desk: Desk, logged: list[dict[str, Any]]) -> None:
    times = sorted({e["ts"] for e in logged})
    assert len(times) > 2
    since, until = times[1], times[-1]
    everything = _all(desk)
    found = desk.entries(**{"from": since, "to": until, "limit": 1000})["items"]
    assert found and all(since <= e["ts"] < until for e in found)
    assert found == [e for e in everything if since <= e["ts"] < until]
    # Offsets name the same instants.
    shifted = since.replace("Z", "+00:00")
    assert desk.entries(**{"from": shifted, "to": until, "limit": 1000})["items"] == found
    assert desk.entries(**{"from": "2000-01-01T08:00:00+08:00", "to": "2000-01-02T00:00:00Z"})["items"] == []


def test_entries_are_shown_as_stored(desk: Desk, logged: list[dict[str, Any]]) -> None:
    entry = logged[5]
    keys = {"seq", "ts", "actor_type", "actor_id", "action", "subject", "purpose", "consent_id", "decision",
            "reason", "request_id", "details", "leaf_hash"}
    assert set(entry) == keys
    proof = desk.get("/v1/audit/proofs/inclusion", {"seq": entry["seq"]})
    if proof.status_code == 200:
        assert proof.json()["leaf_hash"] == entry["leaf_hash"]


def test_every_search_is_recorded(desk: Desk, logged: list[dict[str, Any]]) -> None:
    before = len(desk.recorded("audit.entries.search"))
    page = desk.entries(subject=SUBJECTS[0], limit=3)
    records = desk.recorded("audit.entries.search")
    assert len(records) == before + 1
    last = records[-1]
    assert (last["actor_type"], last["actor_id"], last["decision"]) == ("auditor", desk.auditor.actor_id, "allow")
    assert last["subject"] == SUBJECTS[0]  # so the person sees in their own log that an auditor looked
    assert last["details"] == {"filters": {"subject": SUBJECTS[0]}, "after": 0, "limit": 3,
                               "returned": len(page["items"])}


BAD = [
    ({"color": "red"}, "unknown_parameter", None),
    ({"limit": "0"}, "invalid_parameter", "limit"),
    ({"limit": "1001"}, "invalid_parameter", "limit"),
    ({"limit": "ten"}, "invalid_parameter", "limit"),
    ({"limit": "07"}, "invalid_parameter", "limit"),
    ({"after": "-1"}, "invalid_parameter", "after"),
    ({"subject": "not-a-pseudonym"}, "invalid_parameter", "subject"),
    ({"subject": "11010519491231002X"}, "invalid_parameter", "subject"),
    ({"actor_id": "11010519491231002x"}, "invalid_parameter", "actor_id"),
    ({"consent_id": "ABC"}, "invalid_parameter", "consent_id"),
    ({"decision": "maybe"}, "invalid_parameter", "decision"),
    ({"reason": "Consent Revoked"}, "invalid_parameter", "reason"),
    ({"purpose": "loan1"}, "invalid_parameter", "purpose"),
    ({"action": ""}, "invalid_parameter", "action"),
    ({"actor_type": "x" * 70}, "invalid_parameter", "actor_type"),
    ({"from": "yesterday"}, "invalid_parameter", "from"),
    ({"to": "2026-12-01T08:00:00"}, "invalid_parameter", "to"),
    ({"to": "2026-02-30T08:00:00Z"}, "invalid_parameter", "to"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "invalid_range", "from"),
]


@pytest.mark.parametrize(("params", "code", "parameter"), BAD)
def test_bad_parameters_are_refused_and_recorded(desk: Desk, params: dict[str, str], code: str,
                                                 parameter: str | None) -> None:
    before = len(desk.recorded("audit.entries.search"))
    resp = desk.get("/v1/audit/entries", params)
    body = assert_problem(resp, 400, code)
    assert body.get("parameter") == parameter
    # Neither an unknown name nor a refused value is repeated back.
    assert "color" not in resp.text and "11010519491231002" not in resp.text
    records = desk.recorded("audit.entries.search")
    assert len(records) == before + 1
    assert (records[-1]["decision"], records[-1]["reason"]) == ("deny", code)
    assert records[-1]["details"] == {"status": 400, **({"parameter": parameter} if parameter else {})}


def test_a_repeated_parameter_is_refused(desk: Desk) -> None:
    resp = desk.http.get("/v1/audit/entries?limit=5&limit=6", headers=desk.auditor.headers)
    assert assert_problem(resp, 400, "repeated_parameter")["parameter"] == "limit"
