"""`creditgate audit verify` on a tampered database: exit 1 and name the first bad entry.

Every kind of tampering (modification, deletion, insertion, reordering) is done
directly on the database with the append-only triggers dropped, the way someone
with database access would. A careless tamperer leaves an entry that contradicts
itself, and verify names that entry; one who also recomputes seq numbers and
hashes is caught by the signed checkpoint after the change, and verify names the
stretch of entries between the last good checkpoint and that one.

Runs on SQLite and PostgreSQL; the clean log and the careless tampering also with
the parallel verifier (several worker processes, each verifying a part of the log).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Connection, Engine, text

from audit import AuditEntry, StoredEntry, decode_entry
from service.audit_log import parallel
from service.audit_log.models import AUDIT_COLUMNS
from service.audit_log.store import iter_entries, load_checkpoints
from service.audit_log.writer import AuditEvent, AuditWriter
from service.cli.main import main
from service.runtime import Services
from tests.audit.logkit import rewrite, stored
from tests.service.audit_log.test_tamper import _drop_triggers

N = 60
EVERY = 10
_SET_COLUMNS = ", ".join(f"{c} = :{c}" for c in AUDIT_COLUMNS)
_UPDATE = f"UPDATE audit_entries SET body = :body, leaf_hash = :leaf_hash, {_SET_COLUMNS} WHERE seq = :seq"
_INSERT = (
    f"INSERT INTO audit_entries (seq, body, leaf_hash, {', '.join(AUDIT_COLUMNS)}) "
    f"VALUES (:seq, :body, :leaf_hash, {', '.join(':' + c for c in AUDIT_COLUMNS)})"
)
FAILED = re.compile(r"FAILED: (\w+) at seq (\d+|None): (.*)")


@pytest.fixture(params=["serial", "parallel"])
def verify_args(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The verify command line; "parallel" splits even this small log over three processes."""
    if request.param == "serial":
        yield ["audit", "verify"]
        return
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ENTRIES", 10)
    splits: list[list[int]] = []
    split_points = parallel.split_points

    def recording(*args: Any) -> list[int]:
        splits.append(split_points(*args))
        return splits[-1]

    monkeypatch.setattr(parallel, "split_points", recording)
    yield ["audit", "verify", "--workers", "3"]
    assert splits and all(splits), f"the log was not split over worker processes: {splits}"


@pytest.fixture
def log(services: Services, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """N entries with a signed checkpoint every EVERY entries; the CLI pointed at them."""
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), checkpoint_every=EVERY,
                         checkpoint_seconds=3600)
    writer.start()
    for i in range(N):
        writer.append(AuditEvent(actor_type="institution", actor_id=f"inst-{i % 3}", action="query",
                                 decision="allow", reason="consent", subject=f"subj{i}", purpose="loan_approval",
                                 consent_id=f"cns-{i}", request_id=f"req-{i:04d}", details={"i": i}))
    writer.close()  # signs the tail
    sizes = [cp.tree_size for cp in load_checkpoints(services.engine)]
    assert sizes[-1] == N and len(sizes) >= N // EVERY
    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("CREDITGATE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CREDITGATE_KEY_FILE", str(services.settings.key_file))
    return services.engine


def _verify(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _rows(engine: Engine) -> dict[int, StoredEntry]:
    return {row.seq: row for row in iter_entries(engine)}


def _params(row: StoredEntry) -> dict[str, object]:
    assert row.columns is not None
    return {"seq": row.seq, "body": row.body, "leaf_hash": row.leaf_hash, **row.columns}


def _write(conn: Connection, row: StoredEntry) -> None:
    assert conn.execute(text(_UPDATE), _params(row)).rowcount == 1


def _shift_up(conn: Connection, rows: dict[int, StoredEntry], first: int) -> None:
    """Make room at ``first``: every entry from there on moves up one seq (bodies unchanged)."""
    for seq in sorted((s for s in rows if s >= first), reverse=True):
        conn.execute(text("UPDATE audit_entries SET seq = :n WHERE seq = :o"), {"n": seq + 1, "o": seq})


def _forged(seq: int) -> StoredEntry:
    """A well-formed entry nobody appended: canonical body, matching leaf hash and columns."""
    entry = AuditEntry(seq=seq, ts="2026-11-21T12:00:00.000000Z", actor_type="institution", actor_id="inst-0",
                       action="query", subject="subj-victim", purpose="loan_approval", consent_id="cns-forged",
                       decision="allow", reason="consent", request_id="req-forged", details={"i": -1})
    return stored(entry)


def _moved(row: StoredEntry, seq: int) -> StoredEntry:
    """``row`` placed at ``seq``, its body re-encoded to say so and its leaf hash recomputed."""
    return dataclasses.replace(rewrite(row, recompute_leaf=True, seq=seq), seq=seq)


def _changed(row: StoredEntry, *, recompute_leaf: bool) -> StoredEntry:
    """``row`` with one detail changed, still canonical and with matching columns."""
    return rewrite(row, recompute_leaf=recompute_leaf, details={"i": 999})


def modify_body(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    _write(conn, _changed(rows[17], recompute_leaf=False))


def modify_body_and_leaf_hash(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    _write(conn, _changed(rows[17], recompute_leaf=True))


def delete_entry(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq = 40"))


def delete_entry_and_renumber(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    # Close the gap: every later entry moves down one, its body re-encoded with the new seq.
    conn.execute(text("DELETE FROM audit_entries WHERE seq = 40"))
    for seq in range(41, N + 1):
        conn.execute(text("UPDATE audit_entries SET seq = :n WHERE seq = :o"), {"n": seq - 1, "o": seq})
        _write(conn, _moved(rows[seq], seq - 1))


def insert_entry(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    _shift_up(conn, rows, 45)
    conn.execute(text(_INSERT), _params(_forged(45)))


def insert_entry_and_renumber(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    _shift_up(conn, rows, 45)
    conn.execute(text(_INSERT), _params(_forged(45)))
    for seq in range(45, N + 1):
        _write(conn, _moved(rows[seq], seq + 1))


def swap_bodies(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    # Rows 25 and 26 exchange bodies (with their leaf hashes and columns): two accesses reordered.
    _write(conn, dataclasses.replace(rows[26], seq=25))
    _write(conn, dataclasses.replace(rows[25], seq=26))


def swap_bodies_and_renumber(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    # The same exchange, with each body's seq rewritten to its new place and hashes recomputed.
    _write(conn, _moved(rows[26], 25))
    _write(conn, _moved(rows[25], 26))


Tamper = Callable[[Connection, dict[int, StoredEntry]], None]


def _tamper(engine: Engine, how: Tamper) -> None:
    rows = _rows(engine)
    assert sorted(rows) == list(range(1, N + 1))
    _drop_triggers(engine)
    with engine.begin() as conn:
        how(conn, rows)


def test_untampered_log_verifies(log: Engine, verify_args: list[str]) -> None:
    result = _verify(verify_args)
    assert result.exit_code == 0, result.output
    checkpoints = len(load_checkpoints(log))
    assert f"OK: {N} entries, {checkpoints} checkpoints verified; tree size {N}" in result.output
    assert "0 entries after the last checkpoint" in result.output
    assert "FAILED" not in result.output


@pytest.mark.parametrize(
    ("how", "problem", "named"),
    [
        (modify_body, "leaf_hash_mismatch", 17),
        (delete_entry, "seq_gap", 40),
        # The forged entry at 45 is well-formed; the first entry that contradicts itself
        # is the displaced one now at 46, whose body says it is 45.
        (insert_entry, "body_seq_mismatch", 46),
        (swap_bodies, "body_seq_mismatch", 25),
    ],
    ids=["modified", "deleted", "inserted", "reordered"],
)
def test_tampering_is_reported_at_the_first_bad_entry(
    log: Engine, verify_args: list[str], how: Tamper, problem: str, named: int
) -> None:
    _tamper(log, how)
    result = _verify(verify_args)
    assert result.exit_code == 1, result.output
    assert "OK:" not in result.output
    match = FAILED.search(result.output)
    assert match, result.output
    assert (match.group(1), match.group(2)) == (problem, str(named)), result.output
    if how is insert_entry:
        assert "45" in match.group(3), result.output


def _signed_stretch(engine: Engine, changed: int) -> tuple[int, int]:
    """The entries between the last checkpoint before ``changed`` and the first at or after it."""
    sizes = [cp.tree_size for cp in load_checkpoints(engine)]
    return max([s for s in sizes if s < changed], default=0) + 1, min(s for s in sizes if s >= changed)


@pytest.mark.parametrize(
    ("how", "changed"),
    [
        (modify_body_and_leaf_hash, 17),
        (delete_entry_and_renumber, 40),
        (insert_entry_and_renumber, 45),
        (swap_bodies_and_renumber, 25),
    ],
    ids=["modified", "deleted", "inserted", "reordered"],
)
def test_consistent_tampering_is_caught_by_the_next_checkpoint(log: Engine, how: Tamper, changed: int) -> None:
    first, last = _signed_stretch(log, changed)
    _tamper(log, how)
    # Every row is self-consistent again: only the signatures give the change away.
    rows = list(iter_entries(log))
    assert [r.seq for r in rows] == [decode_entry(r.body).seq for r in rows] == list(range(1, len(rows) + 1))
    result = _verify(["audit", "verify"])
    assert result.exit_code == 1, result.output
    match = FAILED.search(result.output)
    assert match, result.output
    assert (match.group(1), match.group(2)) == ("checkpoint_root_mismatch", str(first)), result.output
    assert f"seq {first}..{last}" in match.group(3), result.output
