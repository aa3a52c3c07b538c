"""The embedded database, its WAL and the log file are readable by their owner only,
like the key file, whatever the process's umask would have given."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from service.db.engine import make_engine
from service.observability.logging import open_log_file


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # files would be world-readable by default
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_are_created_mode_0600(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "fresh" / "creditgate.db"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        sides = [Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(p.exists() for p in sides)
        assert {p.name: _mode(p) for p in (path, *sides)} == dict.fromkeys((path.name, *(p.name for p in sides)),
                                                                          0o600)
        assert _mode(path.parent) == 0o700
    finally:
        engine.dispose()


def test_the_log_file_is_created_mode_0600(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "logs" / "creditgate.log"
    with open_log_file(path) as log:
        log.write('{"event": "start"}\n')
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    with open_log_file(path) as log:  # appends, and keeps the mode
        log.write('{"event": "again"}\n')
    assert path.read_text().count("event") == 2 and _mode(path) == 0o600
