"""The operator CLI end to end: keys, migrations, demo, rotation, audit export and offline verify."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CREDITGATE_DATA_DIR": str(tmp_path / "data"),
        "CREDITGATE_DATABASE_URL": db_url,
        "CREDITGATE_KEY_FILE": str(tmp_path / "data" / "keys.json"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _active_kek(status: str) -> str:
    match = re.search(r"(kek-[0-9a-f]{12})\s+data keys:\s+\d+\s+active", status)
    assert match, status
    return match.group(1)


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_every_command() -> None:
    out = _run("--help")
    for command in ("serve", "db", "keys", "audit", "demo"):
        assert command in out
    assert "rotate" in _run("keys", "--help") and "export" in _run("audit", "--help")


def test_operator_workflow(env: dict[str, str], tmp_path: Path) -> None:
    assert "created key file" in _run("keys", "init")
    assert "kept existing" in _run("keys", "init")
    _run("db", "upgrade")
    assert "20 new subjects" in _run("demo", "--subjects", "20")
    assert "0 new subjects" in _run("demo", "--subjects", "20")
    status = _run("keys", "status")
    # One data key per subject, and the shared text key of the consent requests' reasons.
    assert "data keys:       21  active" in status
    old_kek = _active_kek(status)
    rotated = _run("keys", "rotate")
    assert "rewrapped 21 data keys" in rotated and "0 remain" in rotated
    status = _run("keys", "status")
    assert f"{old_kek}  data keys:        0" in status
    assert "retired" in _run("keys", "retire", old_kek)
    assert old_kek not in _run("keys", "status")
    again = CliRunner().invoke(main, ["keys", "retire", old_kek])
    assert again.exit_code != 0 and "not in the key file" in again.output
    # The demo data is still readable after rotation and retirement: re-running finds every person.
    assert "0 new subjects" in _run("demo", "--subjects", "20")
    assert re.search(r"OK: \d+ entries", _run("audit", "verify"))
    out_file = tmp_path / "export.jsonl"
    info = json.loads(_run("audit", "export", "--out", str(out_file)).strip().splitlines()[-1])
    assert info["entries"] >= 20
    pub = Path(info["public_key"])
    assert "OK" in _run("audit", "verify", "--export", str(out_file), "--public-key", str(pub))
    # An auditor with only the audit package and the public key:
    offline = subprocess.run([sys.executable, "-m", "audit", "verify", str(out_file), "--public-key", str(pub)],
                             capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
    assert offline.returncode == 0, offline.stdout + offline.stderr
    lines = out_file.read_text().splitlines()
    entry_lines = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "entry"]
    doc = json.loads(lines[entry_lines[3]])
    doc["body"] = doc["body"].replace("demo_data", "demo_dat4")
    lines[entry_lines[3]] = json.dumps(doc, ensure_ascii=False)
    out_file.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([sys.executable, "-m", "audit", "verify", str(out_file), "--public-key", str(pub)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1


def test_keys_retire_refuses_a_kek_in_use(env: dict[str, str]) -> None:
    _run("keys", "init")
    _run("db", "upgrade")
    _run("demo", "--subjects", "3")
    kek = _active_kek(_run("keys", "status"))
    result = CliRunner().invoke(main, ["keys", "retire", kek])
    # Three generated adults, the demo guardian's ward (none of the three is a child) and the text key.
    assert result.exit_code != 0 and "still wraps 5 data keys" in result.output
