"""verify_log: a clean log passes, and every kind of tampering is caught and located."""

from __future__ import annotations

import dataclasses
import json
import re
import tracemalloc
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit.verify
from audit import (
    AuditEntry,
    Checkpoint,
    StoredEntry,
    VerifyReport,
    decode_entry,
    encode_entry,
    leaf_hash,
    root_from_leaf_hashes,
    sign_checkpoint,
    verify_log,
)
from audit._canonical import FAST_BODY
from audit.merkle import EMPTY_ROOT, MerkleFrontier
from tests.audit.logkit import (
    ATTACKER_KEY,
    LOG_KEY,
    Log,
    build_log,
    checkpoints_for,
    columns_for,
    entries,
    generate,
    make_entry,
    replace_columns,
    rewrite,
    stored,
    trusted,
    with_body,
)

KEYS = trusted()


@pytest.fixture(scope="module")
def log250() -> Log:
    """250 entries, checkpoints at 50, 100, ..., 250."""
    return build_log(250, every=50)


def check(rows: list[StoredEntry], cps: list[Checkpoint]) -> VerifyReport:
    report = verify_log(rows, cps, KEYS)
    assert report.ok == (report.problem is None)
    if report.problem is not None:
        assert report.problem in audit.verify.PROBLEM_CODES
    return report


# --- clean logs -------------------------------------------------------------------------


def test_clean_log_passes_and_counts_uncovered_entries() -> None:
    rows, cps = build_log(3456, every=1000)
    report = check(rows, cps)
    assert report.ok, report.detail
    assert report.problem is None and report.first_bad_seq is None
    assert report.entries_checked == 3456
    assert report.checkpoints_checked == 3
    assert report.tree_size == 3456
    assert report.root_hash == root_from_leaf_hashes([leaf_hash(r.body) for r in rows])
    assert report.uncovered_entries == 456


def test_log_ending_exactly_at_a_checkpoint_has_nothing_uncovered(log250: Log) -> None:
    report = check(*log250)
    assert report.ok and report.uncovered_entries == 0 and report.checkpoints_checked == 5


def test_entries_without_stored_leaf_hashes_or_columns_pass() -> None:
    rows, cps = build_log(120, every=40, with_leaf=False, with_columns=False)
    assert check(rows, cps).ok


def test_empty_log() -> None:
    report = check([], [])
    assert report.ok and report.tree_size == 0 and report.root_hash == EMPTY_ROOT


def test_checkpoint_of_the_empty_tree() -> None:
    cp0 = sign_checkpoint(LOG_KEY, 0, EMPTY_ROOT, "2026-11-21T22:00:00.000000Z")
    rows, cps = build_log(10, every=5)
    report = check(rows, [cp0, *cps])
    assert report.ok and report.checkpoints_checked == 3
    wrong = sign_checkpoint(LOG_KEY, 0, leaf_hash(b"x"), "2026-11-21T22:00:00.000000Z")
    report = check(rows, [wrong, *cps])
    assert report.problem == "checkpoint_root_mismatch" and report.first_bad_seq is None


def test_progress_reports_every_interval_and_sums_to_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.verify, "PROGRESS_INTERVAL", 100)
    rows, cps = build_log(1234, every=100)
    calls: list[int] = []
    report = verify_log(rows, cps, KEYS, calls.append)
    assert report.ok
    assert calls == [100] * 12 + [34]


def test_default_progress_interval_is_ten_thousand() -> None:
    calls: list[int] = []
    n = 25_000
    rows = generate(n)
    cps = checkpoints_for(generate(n), [n])
    report = verify_log(rows, cps, KEYS, calls.append)
    assert report.ok
    assert calls == [10_000, 10_000, 5_000]


def test_verification_streams_in_bounded_memory() -> None:
    n = 6000
    cps = checkpoints_for(generate(n), range(1000, n + 1, 1000))
    tracemalloc.start()
    try:
        report = verify_log(generate(n), cps, KEYS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.entries_checked == n
    # Holding the rows would take several MB (each is ~1 KB with its columns).
    assert peak < 1_000_000, peak


def test_typical_bodies_take_the_fast_path() -> None:
    # The throughput target depends on ordinary entries never needing a full parse.
    for seq in (1, 2, 3, 5, 10, 99):
        assert FAST_BODY.fullmatch(encode_entry(make_entry(seq)).decode()) is not None


# --- modified entries ---------------------------------------------------------------------


def test_modified_body_is_found_at_its_exact_seq(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    rows[122] = rewrite(rows[122], recompute_leaf=False, action="query.nothing_to_see")
    report = check(rows, cps)
    assert not report.ok
    assert report.problem == "leaf_hash_mismatch"
    assert report.first_bad_seq == 123
    assert report.entries_checked == 122


def test_modified_body_with_recomputed_leaf_hash_is_located_within_the_checkpoint_range(
    log250: Log,
) -> None:
    rows, cps = log250
    rows = list(rows)
    rows[122] = rewrite(rows[122], recompute_leaf=True, decision="deny")
    report = check(rows, cps)
    assert report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq == 101
    assert "seq 101..150" in report.detail
    assert report.checkpoints_checked == 2


def test_modified_body_without_stored_leaf_hashes_is_caught_by_the_root() -> None:
    rows, cps = build_log(100, every=25, with_leaf=False)
    rows[30] = rewrite(rows[30], recompute_leaf=False, subject="sub_99999999")
    report = check(rows, cps)
    assert report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq == 26 and "seq 26..50" in report.detail


def test_change_in_the_first_entry_of_a_range_of_one() -> None:
    rows, cps = build_log(10, every=1)
    rows[6] = rewrite(rows[6], recompute_leaf=True, reason="changed")
    report = check(rows, cps)
    assert report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq == 7 and "seq 7" in report.detail


def test_changes_after_the_last_checkpoint_are_only_reported_as_uncovered() -> None:
    # Nothing signed covers these entries yet: that is what uncovered_entries says.
    rows, cps = build_log(260, every=50)
    rows[255] = rewrite(rows[255], recompute_leaf=True, decision="deny")
    report = check(rows, cps)
    assert report.ok and report.uncovered_entries == 10


@pytest.mark.parametrize(
    ("make_body", "what"),
    [
        (lambda b: b.replace(b'","', b'", "', 1), "canonical"),
        (lambda b: b.replace(b'"v":1', b'"v":1.0'), "not a valid entry"),
        (lambda b: b[:-1], "not a valid entry"),
        (lambda b: b"\xff" + b, "not a valid entry"),
        (lambda b: b.replace(b'"details":{', b'"details":{"x":1.5,', 1), "not a valid entry"),
        (lambda b: b.replace(b'"reason":"', b'"reason":"\\u0041', 1), "canonical"),
    ],
)
def test_non_canonical_or_invalid_body_is_found(log250: Log, make_body, what: str) -> None:  # type: ignore[no-untyped-def]
    rows, cps = log250
    rows = list(rows)
    rows[19] = with_body(rows[19], make_body(rows[19].body))
    report = check(rows, cps)
    assert report.problem == "body_not_canonical"
    assert report.first_bad_seq == 20
    assert what in report.detail


def test_body_of_another_seq_is_found(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    rows[19] = dataclasses.replace(rows[19], body=rows[20].body, leaf_hash=rows[20].leaf_hash)
    report = check(rows, cps)
    assert report.problem == "body_seq_mismatch"
    assert report.first_bad_seq == 20


def test_body_seq_mismatch_on_the_slow_path_too(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    entry = dataclasses.replace(decode_entry(rows[20].body), reason='needs "escaping"')
    rows[19] = with_body(rows[19], encode_entry(entry))
    report = check(rows, cps)
    assert report.problem == "body_seq_mismatch" and report.first_bad_seq == 20


# --- columns ----------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["actor_id", "subject", "ts", "decision", "consent_id"])
def test_column_that_disagrees_with_the_body(log250: Log, column: str) -> None:
    rows, cps = log250
    rows = list(rows)
    cols = dict(rows[32].columns or {})
    cols[column] = "sub_00000001" if cols[column] is not None else "cns_x"
    rows[32] = replace_columns(rows[32], cols)
    report = check(rows, cps)
    assert report.problem == "column_mismatch"
    assert report.first_bad_seq == 33
    assert column in report.detail
    assert "sub_00000001" not in report.detail


def test_null_column_against_a_value_in_the_body(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    cols = dict(rows[10].columns or {})
    assert cols["subject"] is not None
    cols["subject"] = None
    rows[10] = replace_columns(rows[10], cols)
    report = check(rows, cps)
    assert report.problem == "column_mismatch" and report.first_bad_seq == 11


def test_other_column_sets(log250: Log) -> None:
    rows, cps = log250
    first = [replace_columns(r, {"seq": r.seq, "action": decode_entry(r.body).action}) for r in rows]
    assert check(first, cps).ok
    single = [replace_columns(r, {"actor_id": decode_entry(r.body).actor_id}) for r in rows]
    assert check(single, cps).ok
    single[40] = replace_columns(single[40], {"actor_id": "someone else"})
    report = check(single, cps)
    assert report.problem == "column_mismatch" and report.first_bad_seq == 41
    bad_seq = list(first)
    bad_seq[7] = replace_columns(bad_seq[7], {"seq": 9, "action": decode_entry(bad_seq[7].body).action})
    report = check(bad_seq, cps)
    assert report.problem == "column_mismatch" and report.first_bad_seq == 8
    unknown = list(rows)
    unknown[3] = replace_columns(unknown[3], {**(unknown[3].columns or {}), "nickname": "x"})
    report = check(unknown, cps)
    assert report.problem == "column_mismatch" and report.first_bad_seq == 4
    assert "not an entry field" in report.detail


def test_columns_checked_for_bodies_on_the_slow_path() -> None:
    entry = make_entry(1, reason='quote " and backslash \\')
    row = stored(entry)
    assert FAST_BODY.fullmatch(row.body.decode()) is None
    cps = checkpoints_for([row], [1])
    assert check([row], cps).ok
    bad = replace_columns(row, {**columns_for(entry), "action": "other"})
    report = check([bad], cps)
    assert report.problem == "column_mismatch" and report.first_bad_seq == 1


# --- deletions, insertions, reordering ----------------------------------------------------


def test_deleted_entry_in_the_middle(log250: Log) -> None:
    rows, cps = log250
    report = check(rows[:76] + rows[77:], cps)
    assert report.problem == "seq_gap"
    assert report.first_bad_seq == 77
    assert "seq 77 missing" in report.detail
    report = check(rows[:76] + rows[79:], cps)
    assert report.problem == "seq_gap" and report.first_bad_seq == 77
    assert "77..79" in report.detail


def test_deleted_first_entry(log250: Log) -> None:
    rows, cps = log250
    report = check(rows[1:], cps)
    assert report.problem == "seq_gap" and report.first_bad_seq == 1


def test_deleted_entries_at_the_end_below_a_checkpoint(log250: Log) -> None:
    rows, cps = log250
    report = check(rows[:230], cps)
    assert report.problem == "checkpoint_beyond_log"
    assert report.first_bad_seq == 231
    assert "231..250" in report.detail
    assert report.entries_checked == 230
    assert report.checkpoints_checked == 4


def test_everything_deleted_but_checkpoints_remain(log250: Log) -> None:
    _, cps = log250
    report = check([], cps)
    assert report.problem == "checkpoint_beyond_log" and report.first_bad_seq == 1


def test_inserted_row_with_a_duplicate_seq(log250: Log) -> None:
    rows, cps = log250
    forged = rewrite(rows[59], recompute_leaf=True, decision="allow", reason="forged")
    report = check([*rows[:60], forged, *rows[60:]], cps)
    assert report.problem == "seq_duplicate_or_reordered"
    assert report.first_bad_seq == 60


def test_inserted_entry_with_the_rest_renumbered(log250: Log) -> None:
    rows, cps = log250
    inserted = stored(make_entry(60, actor_id="inst_intruder"))
    shifted = [rewrite(r, recompute_leaf=True, seq=r.seq + 1) for r in rows[59:]]
    shifted = [dataclasses.replace(r, seq=r.seq + 1) for r in shifted]
    tampered = [*rows[:59], inserted, *shifted]
    assert [r.seq for r in tampered] == list(range(1, 252))
    report = check(tampered, cps)
    assert report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq == 51 and "seq 51..100" in report.detail


def test_two_rows_out_of_order(log250: Log) -> None:
    rows, cps = log250
    tampered = [*rows[:41], rows[42], rows[41], *rows[43:]]
    report = check(tampered, cps)
    assert report.problem == "seq_duplicate_or_reordered"
    assert report.first_bad_seq == 42


def test_seq_going_backwards(log250: Log) -> None:
    rows, cps = log250
    report = check([*rows[:10], rows[3], *rows[10:]], cps)
    assert report.problem == "seq_duplicate_or_reordered" and report.first_bad_seq == 4


def test_two_bodies_swapped_between_rows(log250: Log) -> None:
    rows, cps = log250
    a, b = rows[41], rows[42]
    tampered = list(rows)
    tampered[41] = dataclasses.replace(a, body=b.body, leaf_hash=b.leaf_hash, columns=b.columns)
    tampered[42] = dataclasses.replace(b, body=a.body, leaf_hash=a.leaf_hash, columns=a.columns)
    report = check(tampered, cps)
    assert report.problem == "body_seq_mismatch" and report.first_bad_seq == 42


def test_two_entries_swapped_and_renumbered(log250: Log) -> None:
    rows, cps = log250
    tampered = list(rows)
    tampered[41] = rewrite(rows[42], recompute_leaf=True, seq=42)
    tampered[42] = rewrite(rows[41], recompute_leaf=True, seq=43)
    tampered[41] = dataclasses.replace(tampered[41], seq=42)
    tampered[42] = dataclasses.replace(tampered[42], seq=43)
    report = check(tampered, cps)
    assert report.problem == "checkpoint_root_mismatch"
    assert report.first_bad_seq == 1 and "seq 1..50" in report.detail


# --- checkpoints --------------------------------------------------------------------------


def test_forged_checkpoint_signature(log250: Log) -> None:
    rows, cps = log250
    sig = bytearray(cps[2].signature)
    sig[10] ^= 0x40
    tampered = [*cps[:2], dataclasses.replace(cps[2], signature=bytes(sig)), *cps[3:]]
    report = check(rows, tampered)
    assert report.problem == "checkpoint_signature_invalid"
    assert "150" in report.detail
    assert report.checkpoints_checked == 2


def test_checkpoint_with_a_rewritten_root_but_the_old_signature(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    rows[122] = rewrite(rows[122], recompute_leaf=True, decision="deny")
    new_root = root_from_leaf_hashes([leaf_hash(r.body) for r in rows[:150]])
    tampered = [*cps[:2], dataclasses.replace(cps[2], root_hash=new_root), *cps[3:]]
    report = check(rows, tampered)
    assert report.problem == "checkpoint_signature_invalid"


def test_checkpoints_signed_by_an_unknown_key(log250: Log) -> None:
    rows, cps = log250
    rows = list(rows)
    rows[122] = rewrite(rows[122], recompute_leaf=True, decision="deny")
    resigned = checkpoints_for(rows, [cp.tree_size for cp in cps], key=ATTACKER_KEY)
    report = check(rows, resigned)
    assert report.problem == "checkpoint_unknown_key"
    # The attacker's own key would accept the forgery: trust comes only from the key.
    assert verify_log(rows, resigned, trusted(ATTACKER_KEY)).ok


def test_attacker_key_claiming_the_trusted_key_id(log250: Log) -> None:
    rows, cps = log250
    resigned = checkpoints_for(rows, [cp.tree_size for cp in cps], key=ATTACKER_KEY)
    claimed = [dataclasses.replace(cp, key_id=cps[0].key_id) for cp in resigned]
    report = check(rows, claimed)
    assert report.problem == "checkpoint_signature_invalid"


def test_forged_checkpoint_beyond_the_log_is_a_signature_problem(log250: Log) -> None:
    rows, cps = log250
    fake = dataclasses.replace(cps[-1], tree_size=400)
    report = check(rows, [*cps, fake])
    assert report.problem == "checkpoint_signature_invalid"


def test_checkpoints_must_be_ordered_by_tree_size(log250: Log) -> None:
    rows, cps = log250
    report = check(rows, list(reversed(cps)))
    assert report.problem == "checkpoints_not_monotonic"
    assert report.entries_checked == 0


def test_rotated_keys_are_all_accepted_when_trusted() -> None:
    rows, _ = build_log(100, every=50)
    old = checkpoints_for(rows, [50])
    new = checkpoints_for(rows, [100], key=ATTACKER_KEY)
    assert verify_log(rows, old + new, trusted(LOG_KEY, ATTACKER_KEY)).ok
    assert verify_log(rows, old + new, trusted(LOG_KEY)).problem == "checkpoint_unknown_key"


def test_log_without_any_checkpoint() -> None:
    rows, _ = build_log(5, every=10)
    report = check(rows, [])
    assert not report.ok
    assert report.problem == "no_checkpoint"
    assert report.uncovered_entries == 5


def test_report_to_json(log250: Log) -> None:
    report = check(*log250)
    data = report.to_json()
    assert data["ok"] is True and data["tree_size"] == 250
    assert data["root_hash"] == report.root_hash.hex()
    json.dumps(data)


def test_problem_details_never_contain_body_content(log250: Log) -> None:
    rows, cps = log250
    secret = "sub_SECRETPSEUDONYM"
    rows = list(rows)
    rows[5] = rewrite(rows[5], recompute_leaf=False, subject=secret)
    rows[5] = with_body(rows[5], rows[5].body.replace(b'","', b'", "', 1))
    report = check(rows, cps)
    assert report.problem == "body_not_canonical"
    assert secret not in report.detail
    assert not re.search(r"[{}]", report.detail)


# --- the fast path never disagrees with the exact one -------------------------------------

_NEVER = re.compile(r"(?!)")


def _mutate(body: bytes, kind: int, pos: int, byte: int) -> bytes:
    if kind == 0 or not body:
        return body
    i = pos % len(body)
    if kind == 1:
        return body[:i] + bytes([byte]) + body[i + 1 :]
    if kind == 2:
        return body[:i] + bytes([byte]) + body[i:]
    return body[:i] + body[i + 1 :]


def _outcome(rows: list[StoredEntry]) -> tuple[bool, str | None, int | None]:
    report = verify_log(rows, [], KEYS)
    return report.ok, report.problem, report.first_bad_seq


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entry=entries,
    kind=st.integers(0, 3),
    pos=st.integers(0, 10_000),
    byte=st.sampled_from(b' "\\{}[],:0123456789-.eEnulltrueabc\x00\x1f\x7f\xc3\xa9\xff'),
    columns=st.booleans(),
)
def test_fast_path_agrees_with_the_exact_path(
    entry: AuditEntry, kind: int, pos: int, byte: int, columns: bool
) -> None:
    entry = dataclasses.replace(entry, seq=1)
    body = _mutate(encode_entry(entry), kind, pos, byte)
    row = StoredEntry(
        seq=1, body=body, leaf_hash=None, columns=columns_for(entry) if columns else None
    )
    fast = _outcome([row])
    with mock.patch.object(audit.verify, "FAST_BODY", _NEVER):
        exact = _outcome([row])
    assert fast == exact
    if kind == 0:
        assert fast == (False, "no_checkpoint", None)


def _prefix_frontier(rows: list[StoredEntry], n: int) -> MerkleFrontier:
    frontier = MerkleFrontier()
    for row in rows[:n]:
        frontier.append(leaf_hash(row.body))
    return frontier


def test_split_verification_matches_the_whole() -> None:
    """Two verifiers sharing a log at a checkpoint boundary agree with one verifier."""
    rows, cps = build_log(3000, 500)
    keys = trusted(LOG_KEY)
    whole = verify_log(rows, cps, keys)
    assert whole.ok
    first = verify_log(rows[:1500], [c for c in cps if c.tree_size <= 1500], keys)
    second = verify_log(rows[1500:], cps, keys, start=_prefix_frontier(rows, 1500))
    assert first.ok and second.ok
    assert (first.entries_checked, second.entries_checked) == (1500, 1500)
    assert second.root_hash == whole.root_hash and second.tree_size == whole.tree_size
    assert first.checkpoints_checked + second.checkpoints_checked == whole.checkpoints_checked


def test_split_verification_still_finds_tampering_in_its_part() -> None:
    rows, cps = build_log(2000, 500)
    keys = trusted(LOG_KEY)
    start = _prefix_frontier(rows, 1000)
    part = list(rows[1000:])
    part[200] = with_body(part[200], part[200].body.replace(b'"reason":"', b'"reason":"x'))
    report = verify_log(part, cps, keys, start=start)
    assert not report.ok and report.first_bad_seq is not None and 1001 <= report.first_bad_seq <= 1201
    gap = verify_log(rows[1001:], cps, keys, start=start)
    assert not gap.ok and gap.problem == "seq_gap" and gap.first_bad_seq == 1001
