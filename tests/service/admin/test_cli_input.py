"""`creditgate accounts add` from a script: piped input, --password-stdin, --person-file.

Run as a real process with a real pipe, because the warnings this guards against
(``GetPassWarning``, "Password input may be echoed") only appear without a terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from service.config import Settings
from service.identity.models import Account
from service.runtime import build_services
from tests.service.identity.tokens import new_resident_id

PASSWORD = "a long enough password"


def _creditgate(env: Settings, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CREDITGATE_")}
    environ |= {"CREDITGATE_DATA_DIR": str(env.data_dir), "CREDITGATE_DATABASE_URL": env.database_url,
                "CREDITGATE_KEY_FILE": str(env.key_file)}
    return subprocess.run([sys.executable, "-m", "service.cli.main", *args], input=stdin, env=environ,
                          capture_output=True, text=True, timeout=120)


def _no_terminal_noise(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    for noise in ("GetPassWarning", "may be echoed", "Warning"):
        assert noise not in done.stderr


def _role_of(env: Settings, username: str) -> str:
    svc = build_services(env)
    try:
        with svc.session() as s:
            return s.scalars(select(Account.role).where(Account.username == username)).one()
    finally:
        svc.engine.dispose()


def test_piped_answers_are_read_without_warnings(env: Settings) -> None:
    number = new_resident_id(age=40)
    done = _creditgate(env, "accounts", "add", "--username", "piped.one", "--role", "subject",
                       stdin=f"{PASSWORD}\n{PASSWORD}\n{number}\n张三\n")
    _no_terminal_noise(done)
    assert number not in done.stdout + done.stderr and PASSWORD not in done.stdout + done.stderr
    assert _role_of(env, "piped.one") == "subject"


def test_password_stdin_and_person_file(env: Settings, tmp_path: Path) -> None:
    person = tmp_path / "person.json"
    person.write_text(json.dumps({"id_number": new_resident_id(age=35), "name": "李四"}), encoding="utf-8")
    done = _creditgate(env, "accounts", "add", "--username", "scripted.one", "--role", "subject",
                       "--password-stdin", "--person-file", str(person), stdin=f"{PASSWORD}\n")
    _no_terminal_noise(done)
    assert json.loads(done.stdout)["role"] == "subject"
    operator = _creditgate(env, "accounts", "add", "--username", "ops.two", "--role", "operator",
                           "--password-stdin", stdin=f"{PASSWORD}\n")
    _no_terminal_noise(operator)
    assert _role_of(env, "ops.two") == "operator"


def test_script_input_mistakes_are_clear(env: Settings, tmp_path: Path) -> None:
    person = tmp_path / "person.json"
    person.write_text(json.dumps({"id_number": new_resident_id(age=35), "name": "王五", "mobile": "13800138000"}))
    extra = _creditgate(env, "accounts", "add", "--username", "bad.one", "--role", "subject", "--password-stdin",
                        "--person-file", str(person), stdin=f"{PASSWORD}\n")
    assert extra.returncode != 0 and "must be a JSON object with only: id_number, name" in extra.stderr
    short = _creditgate(env, "accounts", "add", "--username", "bad.two", "--role", "subject",
                        stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert short.returncode == 2 and "standard input ended before the The person's resident ID number" in short.stderr
    mismatch = _creditgate(env, "accounts", "add", "--username", "bad.three", "--role", "auditor",
                           stdin=f"{PASSWORD}\nanother password!\n")
    assert mismatch.returncode == 2 and "do not match" in mismatch.stderr
    assert "Traceback" not in extra.stderr + short.stderr + mismatch.stderr
