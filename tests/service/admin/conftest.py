"""Fixtures shared by the registration tests: an HTTP client, an operator, the CLI's environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from policies import Role
from service.cli.main import main
from service.config import Settings
from service.http.app import create_app
from service.runtime import Services
from tests.service.identity.tokens import issue_token_for


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(services=services), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def op(services: Services) -> dict[str, str]:
    return issue_token_for(services, Role.OPERATOR).headers


@pytest.fixture
def env(tmp_path: Path, db_url: str, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The command line pointed at the test database and key file."""
    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CREDITGATE_DATABASE_URL", db_url)
    monkeypatch.setenv("CREDITGATE_KEY_FILE", str(key_file))
    return Settings.from_env()


def run_cli(*args: str, input: str | None = None, ok: bool = True) -> Any:
    """Run ``creditgate args…``; assert it succeeded (or, with ``ok=False``, failed)."""
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result
