"""JSON Lines export, offline verification, and the ``python -m audit`` command."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import (
    Checkpoint,
    StoredEntry,
    checkpoint_to_json,
    key_id_for,
    public_key_bytes,
    verify_export,
    verify_log,
    write_export,
)
from audit.__main__ import main
from audit.export import EXPORT_FORMAT, read_export_header_keys
from tests.audit.logkit import (
    ATTACKER_KEY,
    LOG_KEY,
    Log,
    build_log,
    checkpoints_for,
    rewrite,
    trusted,
)

KEYS = trusted()
Files = tuple[Path, Path, Path]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def log() -> Log:
    return build_log(345, every=100)


def export_text(rows: list[StoredEntry], cps: list[Checkpoint], keys=KEYS) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    count = write_export(buf, rows, cps, keys)
    assert count == len(rows)
    return buf.getvalue()


def lines_of(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines()]


def join(lines: list[dict]) -> str:  # type: ignore[type-arg]
    return "".join(json.dumps(obj) + "\n" for obj in lines)


def test_export_layout(log: Log) -> None:
    rows, cps = log
    lines = lines_of(export_text(rows, cps))
    header = lines[0]
    assert header["type"] == "header" and header["format"] == EXPORT_FORMAT
    assert header["public_keys"] == {
        key_id_for(LOG_KEY.public_key()): base64.b64encode(public_key_bytes(LOG_KEY.public_key())).decode()
    }
    assert [line["type"] for line in lines[1:4]] == ["checkpoint"] * 3
    assert lines[1] == {"type": "checkpoint", **checkpoint_to_json(cps[0])}
    entries = lines[4:]
    assert [e["seq"] for e in entries] == list(range(1, 346))
    assert all(e["type"] == "entry" for e in entries)
    assert entries[0]["body"].encode() == rows[0].body
    assert base64.b64decode(entries[0]["leaf_hash"]) == rows[0].leaf_hash
    assert export_text(rows, cps).isascii()


def test_round_trip_verifies_like_the_database(log: Log) -> None:
    rows, cps = log
    report = verify_export(io.StringIO(export_text(rows, cps)), KEYS)
    direct = verify_log(rows, cps, KEYS)
    assert report.ok, report.detail
    assert report == direct
    assert report.uncovered_entries == 45


def test_progress_of_export_and_verification() -> None:
    rows, cps = build_log(20_500, every=5000, with_columns=False)
    written: list[int] = []
    buf = io.StringIO()
    assert write_export(buf, rows, cps, KEYS, written.append) == 20_500
    assert written == [10_000, 10_000, 500]
    checked: list[int] = []
    buf.seek(0)
    assert verify_export(buf, KEYS, checked.append).ok
    assert sum(checked) == 20_500


def test_header_keys_are_used_only_when_no_trusted_keys_are_given(log: Log) -> None:
    rows, cps = log
    text = export_text(rows, cps)
    assert verify_export(io.StringIO(text)).ok
    assert set(read_export_header_keys(io.StringIO(text))) == set(KEYS)


def test_forger_with_own_key_in_the_header_fails_against_the_trusted_key(log: Log) -> None:
    rows, cps = log
    rows = list(rows)
    rows[150] = rewrite(rows[150], recompute_leaf=True, decision="allow", reason="forged")
    forged_cps = checkpoints_for(rows, [cp.tree_size for cp in cps], key=ATTACKER_KEY)
    text = export_text(rows, forged_cps, keys=trusted(ATTACKER_KEY))
    # Self-consistent with the key the forger wrote into the header ...
    assert verify_export(io.StringIO(text)).ok
    # ... but not with the auditor's own copy of the real key.
    report = verify_export(io.StringIO(text), KEYS)
    assert not report.ok
    assert report.problem == "checkpoint_unknown_key"


def test_forger_reusing_the_real_key_id_fails_both_ways(log: Log) -> None:
    rows, cps = log
    real_id = cps[0].key_id
    forged_cps = [
        dataclasses.replace(cp, key_id=real_id)
        for cp in checkpoints_for(rows, [cp.tree_size for cp in cps], key=ATTACKER_KEY)
    ]
    lines = lines_of(export_text(rows, forged_cps))
    lines[0]["public_keys"] = {
        real_id: base64.b64encode(public_key_bytes(ATTACKER_KEY.public_key())).decode()
    }
    text = join(lines)
    assert verify_export(io.StringIO(text), KEYS).problem == "checkpoint_signature_invalid"
    # The header itself is inconsistent: that key does not have that id.
    assert verify_export(io.StringIO(text)).problem == "export_malformed"


def test_tampered_export_entry_is_found(log: Log) -> None:
    rows, cps = log
    lines = lines_of(export_text(rows, cps))
    line = lines[3 + 77]
    assert line["seq"] == 77
    line["body"] = line["body"].replace('"decision":"', '"decision":"x', 1)
    report = verify_export(io.StringIO(join(lines)), KEYS)
    assert report.problem == "body_not_canonical" and report.first_bad_seq == 77


def test_removed_export_lines_are_found(log: Log) -> None:
    rows, cps = log
    lines = lines_of(export_text(rows, cps))
    middle = lines[:50] + lines[51:]
    assert verify_export(io.StringIO(join(middle)), KEYS).problem == "seq_gap"
    tail = lines[: 4 + 280]  # header, 3 checkpoints, seqs 1..280
    report = verify_export(io.StringIO(join(tail)), KEYS)
    assert report.problem == "checkpoint_beyond_log" and report.first_bad_seq == 281


def test_non_utf8_body_is_exported_byte_for_byte(log: Log) -> None:
    rows, cps = log
    rows = list(rows)
    rows[9] = dataclasses.replace(rows[9], body=rows[9].body + b"\xff")
    text = export_text(rows, cps)
    line = lines_of(text)[3 + 10]
    assert "body" not in line and base64.b64decode(line["body_b64"]) == rows[9].body
    report = verify_export(io.StringIO(text), KEYS)
    assert report.problem == "body_not_canonical" and report.first_bad_seq == 10


@pytest.mark.parametrize(
    "edit",
    [
        lambda lines: [],
        lambda lines: lines[1:],  # no header
        lambda lines: [{**lines[0], "format": "other/1"}, *lines[1:]],
        lambda lines: [lines[0], *lines[4:], lines[1]],  # checkpoint after entries
        lambda lines: [lines[0], {**lines[1], "root_hash": "!!"}, *lines[2:]],
        lambda lines: [*lines[:10], {"type": "note"}, *lines[10:]],
        lambda lines: [*lines[:10], {**lines[10], "seq": "7"}, *lines[11:]],
        lambda lines: [*lines[:10], {"type": "entry", "seq": 7}, *lines[11:]],
    ],
)
def test_malformed_exports(log: Log, edit) -> None:  # type: ignore[no-untyped-def]
    rows, cps = log
    text = join(edit(lines_of(export_text(rows, cps))))
    report = verify_export(io.StringIO(text), KEYS)
    assert not report.ok
    assert report.problem == "export_malformed"


def test_truncated_last_line(log: Log) -> None:
    rows, cps = log
    text = export_text(rows, cps)
    report = verify_export(io.StringIO(text[:-40]), KEYS)
    assert report.problem == "export_malformed"
    assert report.entries_checked == 344


def test_write_export_refuses_a_mislabelled_key(log: Log) -> None:
    rows, cps = log
    with pytest.raises(ValueError):
        write_export(io.StringIO(), rows, cps, {"0000000000000000": LOG_KEY.public_key()})


# --- command line -------------------------------------------------------------------------


@pytest.fixture()
def files(tmp_path: Path, log: Log) -> Files:
    rows, cps = log
    export = tmp_path / "audit.jsonl"
    export.write_text(export_text(rows, cps), encoding="utf-8")
    raw = tmp_path / "key.b64"
    raw.write_bytes(base64.b64encode(public_key_bytes(LOG_KEY.public_key())) + b"\n")
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        LOG_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return export, raw, pem


def test_cli_ok_with_base64_and_pem_keys(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    export, raw, pem = files
    assert main(["verify", str(export), "--public-key", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "entries checked:     345" in out and "WARNING" not in out
    assert main(["verify", str(export), "--public-key", str(pem), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["trusted_keys"] is True


def test_cli_reports_first_bad_seq_and_problem(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    export, raw, _ = files
    lines = lines_of(export.read_text(encoding="utf-8"))
    del lines[3 + 120]
    export.write_text(join(lines), encoding="utf-8")
    assert main(["verify", str(export), "--public-key", str(raw)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "seq_gap" in out and "first bad seq:       120" in out


def test_cli_with_the_wrong_key_fails(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, _, _ = files
    other = tmp_path / "other.b64"
    other.write_bytes(base64.b64encode(public_key_bytes(ATTACKER_KEY.public_key())))
    assert main(["verify", str(export), "--public-key", str(other)]) == 1
    assert "checkpoint_unknown_key" in capsys.readouterr().out


def test_cli_needs_a_key_or_an_explicit_opt_in(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    export, _, _ = files
    with pytest.raises(SystemExit) as info:
        main(["verify", str(export)])
    assert info.value.code == 2
    capsys.readouterr()
    assert main(["verify", str(export), "--trust-export-keys"]) == 0
    assert "WARNING" in capsys.readouterr().out


def test_cli_bad_key_file_or_missing_export(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, raw, _ = files
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    assert main(["verify", str(export), "--public-key", str(bad)]) == 2
    assert main(["verify", str(tmp_path / "missing.jsonl"), "--public-key", str(raw)]) == 2
    assert "error:" in capsys.readouterr().err


def test_python_dash_m_entry_point(files: Files) -> None:
    export, raw, _ = files
    result = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(export), "--public-key", str(raw)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "audit export verification: OK" in result.stdout
