"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL server.

``scripts/test.sh`` starts a throwaway PostgreSQL cluster and sets
``CREDITGATE_TEST_PG_URL``; with ``CREDITGATE_REQUIRE_PG=1`` a missing server is
an error, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.config import Settings
from service.crypto.keys import init_key_file
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.runtime import Services, build_services

PG_URL = os.environ.get("CREDITGATE_TEST_PG_URL")
REQUIRE_PG = os.environ.get("CREDITGATE_REQUIRE_PG") == "1"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_admin() -> Engine:
    assert PG_URL
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def require_pg() -> None:
    """Skip without a PostgreSQL server, or fail when one is required."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("CREDITGATE_REQUIRE_PG=1 but CREDITGATE_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL server (set CREDITGATE_TEST_PG_URL)")


@contextmanager
def pg_database(prefix: str) -> Iterator[tuple[str, str]]:
    """A new, empty PostgreSQL database as (name, URL); dropped afterwards."""
    require_pg()
    assert PG_URL
    name = f"{prefix}_{_worker()}_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name, make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for per-test databases."""
    with pg_database("cg_tmpl") as (name, url):
        upgrade(url)
        yield name


def fresh_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of ``kind`` for one test; dropped afterwards."""
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "creditgate.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"cg_{_worker()}_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    assert PG_URL
    yield make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database; every test using it runs once per backend."""
    yield from fresh_database(request.param, request, tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the per-test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A fresh key file with one KEK, an index secret and signing keys."""
    path = tmp_path / "keys" / "keys.json"
    init_key_file(path)
    return path


@pytest.fixture
def settings(tmp_path: Path, db_url: str, key_file: Path) -> Settings:
    """Settings for the per-test database and key file; checkpoints kept frequent."""
    return Settings(data_dir=tmp_path, database_url=db_url, key_file=key_file)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """Started services (audit writer running) for the per-test database."""
    svc = build_services(settings)
    svc.start()
    yield svc
    svc.close()


@pytest.fixture
def http(services: Services) -> Iterator[Any]:
    """An in-process HTTP client on the app built around ``services``."""
    from litestar.testing import TestClient

    from service.http.app import create_app

    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        yield client


# Session-end scan of the databases and the log output for plaintext personal data (tests/plaintext_guard.py).
pytest_plugins = ["tests.plaintext_guard"]
