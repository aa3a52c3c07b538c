"""The service refuses to start wrong: outdated schema, a port in use, a bad database URL.

Each case runs the real ``creditgate`` command in a subprocess and checks the
one-line message and exit status 2 an operator would see.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import text

from service.db.engine import make_engine
from service.db.migrate import alembic_config, head_revision, upgrade

CREDITGATE = [sys.executable, "-m", "service.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITGATE_")}
    env["CREDITGATE_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CREDITGATE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# Keyed by a name rather than passed as parameters: URL-shaped fixture values would be
# taken for test databases by the plaintext guard.
BAD_URLS = {
    "garbage": ("not a url", "is not a database URL"),
    "mysql": ("mysql" + "://user:hunter2@db.example/credit", "mysql is not supported"),
    "psycopg2": ("postgresql+psycopg2" + "://db.example/credit", "postgresql+psycopg2 is not supported"),
    "sqlite-memory": ("sqlite" + "://", "SQLite needs a file path"),
}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("db", "current"), ("keys", "status")])
def test_a_bad_database_url_is_one_line_naming_the_variable(
    tmp_path: Path, case: str, command: tuple[str, ...]
) -> None:
    url, expected = BAD_URLS[case]
    line = _one_line_error(_run(_env(tmp_path, CREDITGATE_DATABASE_URL=url), *command))
    assert "CREDITGATE_DATABASE_URL" in line and expected in line
    assert "sqlite:///PATH or postgresql://" in line
    assert "hunter2" not in line


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade")])
def test_an_unreachable_database_server_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    port = _free_port()  # nothing listens there
    url = f"postgresql://creditgate:hunter2@127.0.0.1:{port}/creditgate"
    env = _env(tmp_path, CREDITGATE_DATABASE_URL=url)
    assert _run(env, "keys", "init").returncode == 0
    line = _one_line_error(_run(env, *command))
    assert line.startswith("Error: CREDITGATE_DATABASE_URL: cannot connect to the PostgreSQL server at 127.0.0.1:")
    assert str(port) in line and "hunter2" not in line


def _outdated(url: str) -> None:
    """Leave the database at revision 0004, one behind head."""
    upgrade(url, "0004")  # a new file gets 0004; a migrated one is stepped back
    command.downgrade(alembic_config(url), "0004")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    engine.dispose()


def test_serve_refuses_a_configured_database_behind_head(tmp_path: Path, db_url: str) -> None:
    _outdated(db_url)
    env = _env(tmp_path, CREDITGATE_DATABASE_URL=db_url)
    assert _run(env, "keys", "init").returncode == 0
    line = _one_line_error(_run(env, "serve", "--port", str(_free_port())))
    assert "revision 0004" in line and "run: creditgate db upgrade" in line


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = _env(tmp_path)
    assert _run(env, "keys", "init").returncode == 0
    return env


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*CREDITGATE, "serve", "--port", str(port)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_ready(proc: subprocess.Popen[str], port: int) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer")


@pytest.fixture
def running(server_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    db = tmp_path / "data" / "creditgate.db"
    _outdated(f"sqlite:///{db}")
    port = _free_port()
    proc = _serve(server_env, port)
    try:
        yield proc, port
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_embedded_default_migrates_itself_and_says_so(running: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = running
    health = _wait_ready(proc, port)
    assert health.status_code == 200
    assert health.json()["schema"] == head_revision("sqlite://")
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert f"migrated the embedded database from revision 0004 to {head_revision('sqlite://')}" in out


def test_a_second_server_on_the_same_port_is_refused(
    running: tuple[subprocess.Popen[str], int], server_env: dict[str, str]
) -> None:
    proc, port = running
    assert _wait_ready(proc, port).status_code == 200
    line = _one_line_error(_run(server_env, "serve", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--port" in line and "CREDITGATE_ISSUER" in line
    assert proc.poll() is None  # the first server is untouched


def test_a_port_held_by_another_program_is_refused(server_env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = _one_line_error(_run(server_env, "serve", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is already in use" in line
