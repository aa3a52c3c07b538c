"""A provider's administrative level and an institution's public contact details, over HTTP
and from the command line, on both databases."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from service.config import Settings
from tests.http_helpers import assert_problem
from tests.service.admin.conftest import run_cli
from tests.service.identity.tokens import new_uscc


def _provider(client: TestClient[Any], op: dict[str, str], **extra: Any) -> Any:
    return client.post("/v1/admin/providers", headers=op,
                       json={"name": "示范县市场监督管理局", "uscc": new_uscc(), "provider_type": "market_regulation",
                             **extra})


def _institution(client: TestClient[Any], op: dict[str, str], **extra: Any) -> Any:
    return client.post("/v1/admin/institutions", headers=op,
                       json={"name": "示范银行", "uscc": new_uscc(), "type": "bank",
                             "permitted_purposes": ["loan_approval"], **extra})


def test_provider_levels(client: TestClient[Any], op: dict[str, str]) -> None:
    county = _provider(client, op, level="county")
    assert county.status_code == 201, county.text
    assert county.json()["level"] == "county"
    assert _provider(client, op).json()["level"] is None  # not stated: it cannot list
    assert_problem(_provider(client, op, level="village"), 400, "provider_level_unknown")


def test_institution_contacts(client: TestClient[Any], op: dict[str, str]) -> None:
    made = _institution(client, op, contact="客服热线 95500；示范市金融街1号")
    assert made.status_code == 201, made.text
    assert made.json()["contact"] == "客服热线 95500；示范市金融街1号"
    # Shown publicly: never a person's mobile or ID number.
    problem = assert_problem(_institution(client, op, contact="联系人手机 13912345678"), 400,
                             "personal_identifier_not_allowed")
    assert "13912345678" not in json.dumps(problem)
    assert_problem(_institution(client, op, contact="  "), 400, "contact_invalid")
    assert_problem(_institution(client, op, contact="热线\u202e"), 400, "contact_invalid")


def test_the_command_line_takes_both(env: Settings) -> None:
    prov = run_cli("providers", "add", "--name", "示范县人民法院", "--uscc", new_uscc(), "--type", "court",
                   "--level", "county")
    assert '"level": "county"' in prov.stdout
    inst = run_cli("institutions", "add", "--name", "示范银行", "--uscc", new_uscc(), "--type", "bank",
                   "--purpose", "loan_approval", "--contact", "客服热线 95500")
    assert '"contact": "客服热线 95500"' in inst.stdout
    bad = run_cli("providers", "add", "--name", "x", "--uscc", new_uscc(), "--type", "court", "--level", "galaxy",
                  ok=False)
    assert "provider_level_unknown" in bad.output
