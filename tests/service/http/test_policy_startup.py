"""A broken policy file stops the service at start, with a message naming the file and the key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import policies.catalog
from policies import PolicyDataError
from service.cli.main import main
from service.http.app import create_app
from service.runtime import Services


@pytest.fixture
def broken_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = policies.catalog.read_data_file

    def read(name: str) -> dict[str, Any]:
        data = real(name)
        if name == policies.catalog.CATALOG_FILE:
            del data["items"][0]["legal_basis"]  # every item must cite its legal basis
        return data

    monkeypatch.setattr(policies.catalog, "read_data_file", read)
    policies.catalog.load_catalog.cache_clear()
    policies.catalog.load_provider_types.cache_clear()
    yield
    monkeypatch.undo()
    policies.catalog.load_catalog.cache_clear()
    policies.catalog.load_provider_types.cache_clear()


def test_the_app_refuses_to_start_on_a_broken_catalog(broken_catalog: None, services: Services) -> None:
    with pytest.raises(PolicyDataError) as info:
        create_app(services=services)
    assert info.value.source == "data/catalog.toml"
    assert info.value.key.endswith(".legal_basis") and info.value.problem == "missing"


def test_serve_says_why_and_exits_non_zero(broken_catalog: None, tmp_path: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "init"]).exit_code == 0
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "policy data is invalid" in result.output and "data/catalog.toml" in result.output
    assert "legal_basis: missing" in result.output
    assert "Traceback" not in result.output
    # The rest of the command line still works, so an operator can inspect and repair.
    assert runner.invoke(main, ["--help"]).exit_code == 0
    assert runner.invoke(main, ["keys", "status"]).exit_code == 0


def test_the_command_line_loads_no_policy_data_on_import() -> None:
    # A broken catalog must not take `creditgate --help` (or `keys`, `audit verify`) down with it.
    import subprocess
    import sys

    code = ("import policies.catalog as c, service.cli.main; "
            "print(c.load_catalog.cache_info().currsize, c.load_provider_types.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "0"]
