"""An administrative change commits together with its audit entry, or not at all.

The audit append is made to fail for real (a trigger in the database refuses new
entries); every kind of change must then leave nothing behind, on both databases.
The last active operator cannot be disabled.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, func, select

from policies import Role
from service.admin.registry import Actor, Conflict, set_account_status
from service.audit_log.models import AuditEntryRow
from service.identity.models import Account, Institution, OAuthClient
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for, make_account, make_institution, new_uscc

_FAIL = {
    "sqlite": ["CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'down'); END"],
    "postgresql": [
        "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down'; END $$",
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_down()",
    ],
}
_MEND = {"sqlite": ["DROP TRIGGER audit_down"],
         "postgresql": ["DROP TRIGGER audit_down ON audit_entries", "DROP FUNCTION audit_down()"]}


def _run(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _entries(services: Services) -> int:
    with services.session() as s:
        return int(s.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one())


def test_no_change_stays_when_its_audit_entry_cannot_be_written(http: TestClient[Any], services: Services) -> None:
    operator = issue_token_for(services, Role.OPERATOR)
    bank = make_institution(services)
    person = make_account(services, Role.AUDITOR)
    before = _entries(services)
    _run(services.engine, _FAIL[services.engine.dialect.name])
    try:
        attempts = [
            (f"/v1/admin/institutions/{bank.id}/suspend", None),
            (f"/v1/admin/accounts/{person.id}/disable", None),
            (f"/v1/admin/clients/{bank.client_id}/revoke", None),
            ("/v1/admin/institutions", {"name": "新银行", "uscc": new_uscc(), "type": "bank",
                                         "permitted_purposes": ["loan_approval"]}),
            ("/v1/admin/accounts", {"username": "new-auditor", "password": "a long enough password",
                                     "role": "auditor"}),
        ]
        for path, body in attempts:
            assert_problem(http.post(path, headers=operator.headers, json=body), 503, "audit_unavailable")
    finally:
        _run(services.engine, _MEND[services.engine.dialect.name])
    with services.session() as s:
        assert s.get(Institution, bank.id).status == "active"  # type: ignore[union-attr]
        assert s.get(Account, person.id).status == "active"  # type: ignore[union-attr]
        assert s.get(OAuthClient, bank.client_id).status == "active"  # type: ignore[union-attr]
        assert s.execute(select(func.count()).select_from(Institution)).scalar_one() == 1
        assert s.execute(select(Account.id).where(Account.username == "new-auditor")).first() is None  # type: ignore[arg-type,call-overload]
    assert _entries(services) == before
    # With the log back, the same change goes through, with its entry.
    assert http.post(f"/v1/admin/institutions/{bank.id}/suspend", headers=operator.headers).status_code == 200
    assert _entries(services) == before + 1


def test_the_last_active_operator_cannot_be_disabled(http: TestClient[Any], services: Services) -> None:
    first = issue_token_for(services, Role.OPERATOR)
    second = make_account(services, Role.OPERATOR)
    # Two operators: one may disable the other...
    assert http.post(f"/v1/admin/accounts/{second.id}/disable", headers=first.headers).status_code == 200
    # ...but not the last one standing, not even itself.
    assert_problem(http.post(f"/v1/admin/accounts/{first.actor_id}/disable", headers=first.headers), 409,
                   "last_operator")
    with pytest.raises(Conflict) as refused:
        set_account_status(services, actor=Actor.cli(), account_id=first.actor_id, status="disabled")
    assert refused.value.code == "last_operator"
    with services.session() as s:
        assert s.get(Account, first.actor_id).status == "active"  # type: ignore[union-attr]
    # Other roles are unaffected by the rule, and an operator comes back with enable.
    assert http.post(f"/v1/admin/accounts/{second.id}/enable", headers=first.headers).status_code == 200
    assert http.post(f"/v1/admin/accounts/{first.actor_id}/disable", headers=first.headers).status_code == 200
