"""The session-end plaintext scan (tests/plaintext_guard.py) sees planted personal data.

The scanning functions are tested directly on files and log text this module
plants; the session hook itself is not exercised here. This module is in the
plugin's ALLOWED_OWNERS, so the files it plants do not fail the session.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from policies import make_resident_id
from tests.plaintext_guard import (
    _MARK,
    WELL_KNOWN,
    Finding,
    Scanner,
    ValueRegistry,
    is_allowed,
    scan_bytes,
    scan_log_text,
    scan_sqlite_file,
    short_hash,
)

NAME = "欧阳测试甲"
MOBILE = "13912345678"
OWNER = "tests/service/example/test_leaky.py::test_one[sqlite]"


def _id_ending_in_x() -> str:
    for sequence in range(1000):
        number = make_resident_id("320102", date(1988, 2, 29), sequence, "male")
        if number.endswith("X"):
            return number
    raise AssertionError("no ID number with check character X")


ID_NUMBER = _id_ending_in_x()


def _scanner() -> Scanner:
    registry = ValueRegistry()
    registry.add("name", NAME)
    registry.add("id_number", ID_NUMBER)
    registry.add("mobile", MOBILE)
    return Scanner(registry.snapshot())


def _kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def test_a_planted_value_in_a_sqlite_file_is_found(tmp_path: Path) -> None:
    path = tmp_path / "planted.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (label TEXT, note TEXT, blob BLOB)")
    conn.execute("INSERT INTO people VALUES (?, ?, ?)", ("masked: 欧***甲", f"holder {NAME}", ID_NUMBER.encode()))
    conn.commit()
    conn.close()
    findings = scan_sqlite_file(_scanner(), path, OWNER)
    assert _kinds(findings) == {"name", "id_number"}
    assert all(f.owner == OWNER and f.target == f"SQLite file {path}" for f in findings)


def test_a_value_only_in_the_wal_file_is_found(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("INSERT INTO t VALUES (?)", (MOBILE,))
    conn.commit()
    try:  # still open: the row lives in the -wal file only
        assert MOBILE.encode() not in path.read_bytes()
        findings = scan_sqlite_file(_scanner(), path)
    finally:
        conn.close()
    assert [(f.kind, f.target) for f in findings] == [("mobile", f"SQLite file {path}-wal")]


def test_json_escaped_and_lowercase_x_forms_are_found(tmp_path: Path) -> None:
    path = tmp_path / "json.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (doc TEXT)")
    # SQLAlchemy's JSON columns write ensure_ascii JSON: the name appears only as \\uXXXX escapes.
    conn.execute("INSERT INTO t VALUES (?)", (json.dumps({"who": NAME, "id": ID_NUMBER.lower()}),))
    conn.commit()
    conn.close()
    assert NAME.encode() not in path.read_bytes()
    assert _kinds(scan_sqlite_file(_scanner(), path)) == {"name", "id_number"}


def test_postgres_copy_output_with_bytea_hex_is_scanned() -> None:
    copy_line = f"row1\t\\\\x{MOBILE.encode().hex()}\t{{}}\n".encode()
    findings = scan_bytes(_scanner(), copy_line, "PostgreSQL table db.public.t", OWNER)
    assert [f.kind for f in findings] == ["mobile"]


def test_a_planted_value_in_a_log_line_is_found_and_attributed_to_its_test() -> None:
    clean = json.dumps({"event": "request", "status": 201, "name": "[redacted]", "masked": "欧***甲"})
    leaky = json.dumps({"event": "got body", "note": f"id {ID_NUMBER.lower()} for {NAME}"}, ensure_ascii=False)
    text = f"{clean}\n{_MARK}tests/a.py::test_clean\n{clean}\n{_MARK}{OWNER}\n{leaky}\n{clean}\n"
    findings = scan_log_text(_scanner(), text)
    assert {(f.kind, f.owner, f.target) for f in findings} == {
        ("name", OWNER, "log output"), ("id_number", OWNER, "log output")}


def test_masked_and_absent_values_are_not_findings() -> None:
    text = f"欧***甲 {ID_NUMBER[:3]}{'*' * 11}{ID_NUMBER[-4:]} {MOBILE[:3]}****{MOBILE[-4:]} 欧阳测试乙\n"
    assert scan_log_text(_scanner(), text) == []


def test_allowed_owners_are_skipped_in_the_log() -> None:
    text = f"{_MARK}tests/test_plaintext_guard.py::test_x\n{NAME}\n"
    assert is_allowed("tests/test_plaintext_guard.py::test_x")
    assert not is_allowed("tests/test_plaintext_guard_other.py::test_x")
    assert scan_log_text(_scanner(), text) == []


def test_overlapping_values_are_all_found() -> None:
    registry = ValueRegistry()
    for name in ("张三", "张三丰", "三丰路"):
        registry.add("name", name)
    found = Scanner(registry.snapshot()).hits("住在张三丰路".encode())
    assert set(found) == {"张三", "张三丰", "三丰路"}


@pytest.mark.parametrize(
    ("kind", "value", "kept"),
    [
        ("name", "李", None),  # one character: would match by accident
        ("name", "  李  四 ", "李 四"),
        ("id_number", "110105194912310021", None),  # bad checksum: not an ID number
        ("id_number", " 11010519491231002x ", "11010519491231002X"),
        ("mobile", "138", None),
        ("facts", None, None),
    ],
    ids=["short-name", "spaced-name", "bad-checksum", "lowercase-x", "short-mobile", "none"],  # no values in test ids
)
def test_what_the_registry_keeps(kind: str, value: str | None, kept: str | None) -> None:
    registry = ValueRegistry()
    registry.add(kind, value)
    assert registry.snapshot() == ({kept: kind} if kept else {})


def test_a_report_carries_a_hash_never_the_value(tmp_path: Path) -> None:
    registry = ValueRegistry()
    for kind, value in WELL_KNOWN:
        registry.add(kind, value)
    path = tmp_path / "well-known.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for _, v in WELL_KNOWN])
    conn.commit()
    conn.close()
    findings = scan_sqlite_file(Scanner(registry.snapshot()), path, OWNER)
    assert sorted(f.kind for f in findings) == sorted(k for k, _ in WELL_KNOWN)
    rendered = "\n".join(f.render() for f in findings)
    for _, value in WELL_KNOWN:
        assert value not in rendered and value.lower() not in rendered
        assert short_hash(value) in rendered


def test_values_in_test_ids_and_paths_are_redacted_in_reports() -> None:
    # pytest puts parameters into node ids and tmp_path names; a report must not repeat them.
    findings = scan_bytes(_scanner(), NAME.encode(), f"SQLite file /tmp/test_x_{NAME}_0/creditgate.db",
                          f"tests/a.py::test_x[{ID_NUMBER.lower()}]")
    assert len(findings) == 1
    rendered = findings[0].render()
    assert NAME not in rendered and ID_NUMBER.lower() not in rendered and ID_NUMBER not in rendered
    assert f"<name {short_hash(NAME)}>" in rendered and f"<id_number {short_hash(ID_NUMBER)}>" in rendered
