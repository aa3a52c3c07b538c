"""Entry encoding: canonical bytes, round trips, and everything that must be refused."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import timeit
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.entry import AuditEntry, decode_entry, encode_entry, format_ts, now_ts
from tests.audit.logkit import entries, make_entry, text

TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def reference_bytes(entry: AuditEntry) -> bytes:
    """The canonical encoding exactly as the format defines it."""
    obj = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)}
    obj["details"] = dict(entry.details)
    obj["v"] = 1
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


# Fully hostile strings everywhere, on top of the mixed entries below.
hostile_entries = st.builds(
    AuditEntry,
    seq=st.integers(min_value=1, max_value=2**63),
    ts=st.just("2026-11-21T22:16:06.123456Z"),
    actor_type=text,
    actor_id=text,
    action=text,
    subject=st.none() | text,
    purpose=st.none() | text,
    consent_id=st.none() | text,
    decision=st.sampled_from(["allow", "deny", "record"]),
    reason=text,
    request_id=st.none() | text,
    details=st.dictionaries(text, st.none() | text | st.lists(text, max_size=3), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(entries | hostile_entries)
def test_encoding_is_the_defined_canonical_json_and_round_trips(entry: AuditEntry) -> None:
    body = encode_entry(entry)
    assert body == reference_bytes(entry)
    decoded = decode_entry(body)
    assert decoded == entry
    assert encode_entry(decoded) == body
    assert decode_entry(body, require_canonical=True) == entry


def test_encoding_of_a_typical_entry() -> None:
    entry = make_entry(7)
    body = encode_entry(entry)
    assert body.startswith(b'{"action":"query.report","actor_id":"inst_0000"')
    assert body.endswith(b'"ts":"2026-11-21T22:00:07.000007Z","v":1}')
    assert b" " not in body
    assert json.loads(body)["details"] == {"categories": ["penalty"], "record_ids": ["rec_7", "rec_8"]}


def test_details_key_order_and_mapping_type_do_not_matter() -> None:
    a = make_entry(3, details={"b": 1, "a": {"y": 2, "x": [True, None]}})
    b = make_entry(3, details=types.MappingProxyType({"a": {"x": [True, None], "y": 2}, "b": 1}))
    assert encode_entry(a) == encode_entry(b)
    assert b'"details":{"a":{"x":[true,null],"y":2},"b":1}' in encode_entry(a)


def test_tuples_encode_as_lists() -> None:
    entry = make_entry(3, details={"ids": ("a", "b")})
    assert decode_entry(encode_entry(entry)).details == {"ids": ["a", "b"]}


def test_enum_values_encode_as_their_values() -> None:
    class Decision(enum.StrEnum):
        ALLOW = "allow"

    class Count(enum.IntEnum):
        THREE = 3

    entry = make_entry(4, decision=Decision.ALLOW, details={"n": Count.THREE})
    plain = make_entry(4, decision="allow", details={"n": 3})
    assert encode_entry(entry) == encode_entry(plain)


@pytest.mark.parametrize(
    "details",
    [
        {"x": 1.0},
        {"x": 0.5},
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": [1, 2, 3.5]},
        {"x": {"y": {"z": -0.0}}},
        {"x": [{"y": [1e100]}]},
    ],
)
def test_floats_anywhere_in_details_are_rejected(details: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="float"):
        encode_entry(make_entry(1, details=details))


@pytest.mark.parametrize(
    "details",
    [
        {1: "int key"},
        {"x": {2: "nested int key"}},
        {"x": [{None: 1}]},
        {"x": {("a",): 1}},
    ],
)
def test_non_string_keys_are_rejected(details: dict[Any, Any]) -> None:
    with pytest.raises(ValueError, match="keys must be str"):
        encode_entry(make_entry(1, details=details))


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), datetime(2026, 1, 1), 1j])
def test_non_json_values_are_rejected(value: object) -> None:
    with pytest.raises(ValueError):
        encode_entry(make_entry(1, details={"x": value}))


def test_cyclic_details_are_rejected() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="deeply"):
        encode_entry(make_entry(1, details={"x": loop}))


@pytest.mark.parametrize("seq", [0, -1, True, False, 1.0, "1", None])
def test_bad_seq_is_rejected(seq: Any) -> None:
    with pytest.raises(ValueError, match="seq"):
        encode_entry(dataclasses.replace(make_entry(1), seq=seq))


@pytest.mark.parametrize(
    "changes",
    [
        {"decision": "maybe"},
        {"decision": None},
        {"actor_id": 5},
        {"action": None},
        {"reason": b"ok"},
        {"subject": 12},
        {"purpose": ["loan"]},
        {"consent_id": 1.5},
        {"request_id": b"r"},
        {"details": ["not", "a", "mapping"]},
        {"ts": "2026-11-21T22:16:06Z"},
        {"ts": "2026-11-21 22:16:06.123456Z"},
        {"ts": "2026-11-21T22:16:06.123456+00:00"},
        {"ts": "2026-13-21T22:16:06.123456Z"},
        {"ts": "２０２６-11-21T22:16:06.123456Z"},
        {"actor_id": "lone \ud800 surrogate"},
        {"details": {"x": "lone \udfff surrogate"}},
    ],
)
def test_bad_fields_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        encode_entry(make_entry(1, **changes))


def _body(**override: Any) -> bytes:
    obj = json.loads(encode_entry(make_entry(9)))
    obj.update(override)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'"a string"',
        b"\xff\xfe{}",
        encode_entry(make_entry(9))[:-1],
        encode_entry(make_entry(9)) + b"x",
        b" " + encode_entry(make_entry(9)),  # surrounding whitespace is refused outright
        encode_entry(make_entry(9)) + b"\n",
        _body(v=2),
        _body(v=True),
        _body(seq=True),
        _body(seq=0),
        _body(seq="9"),
        _body(decision="maybe"),
        _body(actor_id=None),
        _body(subject=5),
        _body(details=[]),
        _body(ts="yesterday"),
        _body(extra="field"),
        encode_entry(make_entry(9)).replace(b'"seq":9', b'"seq":9.0'),
        encode_entry(make_entry(9)).replace(b'"seq":9', b'"seq":9e0'),
        encode_entry(make_entry(9, details={"n": 1})).replace(b'"n":1', b'"n":NaN'),
        encode_entry(make_entry(9, details={"n": 1})).replace(b'"n":1', b'"n":-Infinity'),
        encode_entry(make_entry(9, details={"n": 1})).replace(b'"n":1', b'"n":1.5'),
        encode_entry(make_entry(9)).replace(b'"reason":"ok"', b'"reason":"o\x01k"'),
    ],
)
def test_decode_rejects_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_entry(body)


def test_decode_rejects_missing_keys_and_names_them() -> None:
    obj = json.loads(encode_entry(make_entry(9)))
    del obj["reason"]
    body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(ValueError, match="missing keys reason"):
        decode_entry(body)


def test_decode_errors_do_not_echo_body_content() -> None:
    obj = json.loads(encode_entry(make_entry(9)))
    obj["身份证号_110101199003077777"] = "x"
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with pytest.raises(ValueError) as info:
        decode_entry(body)
    assert "110101199003077777" not in str(info.value)


@pytest.mark.parametrize(
    "transform",
    [
        lambda b: b.replace(b'","', b'", "', 1),  # whitespace
        lambda b: b.replace(b'"reason":"ok"', b'"reason":"\\u006fk"'),  # needless escape
        lambda b: b.replace(b'"reason":"ok"', b'"reason":"ok\\/"'),
        lambda b: b.replace(b'"action":"query.report","actor_id"', b'"actor_id"', 1)
        .replace(b'"actor_type"', b'"action":"query.report","actor_type"', 1),  # key order
        lambda b: b.replace(b'"details":{', b'"details":{"z":1,"z":1,', 1),  # duplicate key
        lambda b: b.replace(b'"details":{', b'"details":{"n":-0,', 1),
    ],
)
def test_non_canonical_bodies_decode_but_are_detected(transform: Any) -> None:
    canonical = encode_entry(make_entry(10, reason="ok"))
    body = transform(canonical)
    assert body != canonical
    entry = decode_entry(body)
    assert encode_entry(entry) != body
    with pytest.raises(ValueError, match="canonical"):
        decode_entry(body, require_canonical=True)


def test_control_character_escapes_use_lowercase_hex() -> None:
    body = encode_entry(make_entry(2, reason="a\x1bb"))
    assert b'"reason":"a\\u001bb"' in body
    upper = body.replace(b"\\u001b", b"\\u001B")
    assert decode_entry(upper) == decode_entry(body)
    with pytest.raises(ValueError, match="canonical"):
        decode_entry(upper, require_canonical=True)


def test_now_ts_format() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ts = now_ts()
    assert TS_RE.fullmatch(ts)
    parsed = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= datetime.now(UTC) + timedelta(seconds=1)


def test_format_ts_converts_to_utc_and_needs_a_timezone() -> None:
    moment = datetime(2026, 11, 22, 6, 16, 6, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert format_ts(moment) == "2026-11-21T22:16:06.123456Z"
    with pytest.raises(ValueError):
        format_ts(datetime(2026, 11, 21))


def test_encode_is_fast_enough() -> None:
    entry = make_entry(123456)
    body = encode_entry(entry)
    assert 250 < len(body) < 450
    per_call = min(timeit.repeat(lambda: encode_entry(entry), number=2000, repeat=5)) / 2000
    # The design target is well under 5 us; this bound only catches gross
    # regressions on a slow or busy machine.
    assert per_call < 50e-6
