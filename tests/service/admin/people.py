"""Registering people through ``POST /v1/admin/*`` for HTTP tests, and the values they carry.

Everything here goes through the real routes (operator token, JSON body, problem
responses); tokens for the accounts are then signed as the token endpoint would
(:func:`tests.service.identity.tokens.token_for_account`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from policies import Role
from service.runtime import Services
from tests.service.identity.tokens import DEFAULT_PASSWORD, Caller, TestAccount, new_username, token_for_account


def luhn_complete(body: str) -> str:
    """``body`` followed by its Luhn check digit (computed here, independently of the service)."""
    total = 0
    for i, char in enumerate(reversed(body)):
        n = int(char)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return body + str((10 - total % 10) % 10)


def luhn_broken(body: str) -> str:
    """``body`` followed by a wrong check digit."""
    good = luhn_complete(body)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def years_before(day: date, years: int) -> date:
    """The same month and day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def register_person(
    http: Any, operator: dict[str, str], *, id_number: str, name: str, role: str = "subject", **contact: Any,
) -> dict[str, Any]:
    """POST /v1/admin/accounts for a subject (with optional mobile/address/bank_card); the 201 body."""
    body = {"username": new_username(role), "password": DEFAULT_PASSWORD, "role": role, "id_number": id_number,
            "name": name, **contact}
    resp = http.post("/v1/admin/accounts", headers=operator, json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    out["_username"] = body["username"]
    return out


def register_guardian(http: Any, operator: dict[str, str]) -> dict[str, Any]:
    """POST /v1/admin/accounts for a guardian; the 201 body."""
    username = new_username("guardian")
    resp = http.post("/v1/admin/accounts", headers=operator,
                     json={"username": username, "password": DEFAULT_PASSWORD, "role": "guardian"})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    out["_username"] = username
    return out


def link_ward(http: Any, operator: dict[str, str], guardian_id: str, ward_id_number: str) -> dict[str, Any]:
    """POST /v1/admin/guardianships for an already registered ward; the 201 body."""
    resp = http.post("/v1/admin/guardianships", headers=operator,
                     json={"guardian_account_id": guardian_id, "ward_id_number": ward_id_number})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def caller(services: Services, account: dict[str, Any], id_number: str | None = None) -> Caller:
    """A token for an account registered over HTTP."""
    role = Role(account["role"])
    return token_for_account(services, TestAccount(account["id"], account["_username"], DEFAULT_PASSWORD, role,
                                                   account.get("subject_id"), id_number))
