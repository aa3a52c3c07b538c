"""A subject's mobile, address and bank card, registered over HTTP and from the CLI.

Valid values are stored only encrypted and come back (through the gate) exactly
as given; each kind of invalid value is refused with its own code, changes
nothing and is never echoed; a person the service already holds is never
changed by account registration; the database holds none of the values in clear.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from policies import make_resident_id
from service.audit_log.models import AuditEntryRow
from service.cli.main import main
from service.config import Settings
from service.http.app import create_app
from service.identity.models import Account
from service.runtime import Services, build_services
from service.subjects.models import Subject
from tests.http_helpers import assert_problem
from tests.service.admin.conftest import run_cli as _run
from tests.service.admin.people import (
    caller,
    luhn_broken,
    luhn_complete,
    register_guardian,
    register_person,
    years_before,
)
from tests.service.identity.tokens import DEFAULT_PASSWORD, new_resident_id, new_username

MOBILE = "13912345678"
CARD_16 = luhn_complete("621700123456789")  # 16 digits
CARD_19 = luhn_complete("622588765432109876")  # 19 digits
CARD_12 = luhn_complete("60110000001")  # 12 digits, the shortest accepted
ADDRESS = "北京市海淀区中关村南大街5号院"




def _audit(services: Services) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        bodies = conn.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[arg-type,call-overload]
    return [json.loads(bytes(b)) for b in bodies]




def _counts(services: Services) -> tuple[int, int]:
    with services.session() as s:
        return (s.execute(select(func.count()).select_from(Account)).scalar_one(),
                s.execute(select(func.count()).select_from(Subject)).scalar_one())


def _subject_row(services: Services, subject_id: str) -> tuple[Any, ...]:
    with services.session() as s:
        row = s.get(Subject, subject_id)
        assert row is not None
        return (bytes(row.id_number_ct), bytes(row.name_ct), row.mobile_ct and bytes(row.mobile_ct),
                row.address_ct and bytes(row.address_ct), row.bank_card_ct and bytes(row.bank_card_ct))


def _own_subject_fields(http: Any, services: Services, account: dict[str, Any]) -> dict[str, Any]:
    """The personal fields of the account's own report, read back through the gate."""
    resp = http.get("/v1/me/report", headers=caller(services, account).headers)
    assert resp.status_code == 200, resp.text
    fields: dict[str, Any] = resp.json()["report"]["subject"]
    return fields


def _stored_bytes(services: Services) -> bytes:
    """Everything the database holds: the SQLite files, or a COPY of every PostgreSQL table."""
    services.writer.checkpoint_now()
    url = make_url(services.settings.database_url)
    if services.settings.is_sqlite:
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal"),
                                                   path.with_name(path.name + "-shm")) if p.exists())
    chunks: list[bytes] = []
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        for table in inspect(services.engine).get_table_names():
            with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                chunks.extend(bytes(data) for data in copy)
    return b"".join(chunks)


def _forms(value: str) -> list[bytes]:
    raw = value.encode("utf-8")
    escaped = json.dumps(value)[1:-1].encode()  # \\uXXXX, as JSON with ensure_ascii would store it
    return [raw, raw.hex().encode(), escaped]


# --- valid values -------------------------------------------------------------------------------


def test_contact_fields_are_stored_encrypted_and_read_back_exactly(
    client: TestClient[Any], services: Services, op: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    number = new_resident_id(age=33)
    account = register_person(client, op, id_number=number, name="诸葛亮", mobile=MOBILE,
                              address=f"  {ADDRESS[:6]} \t {ADDRESS[6:]}  ", bank_card=CARD_19)
    assert account["role"] == "subject" and account["subject_id"]
    assert set(account) == {"id", "username", "role", "status", "subject_id", "created_at", "_username"}
    # The subject sees their own mobile and address in full, the card as first 6 + last 4.
    assert _own_subject_fields(client, services, account) == {
        "id_number": number[:6] + "********" + number[-4:],
        "name": "诸葛亮",
        "mobile": "13912345678",
        "address": f"{ADDRESS[:6]} {ADDRESS[6:]}",  # whitespace collapsed, nothing else changed
        "bank_card": CARD_19[:6] + "*********" + CARD_19[-4:],
    }
    # Each field is its own ciphertext, none of them the value.
    _, _, mobile_ct, address_ct, card_ct = _subject_row(services, account["subject_id"])
    assert mobile_ct and address_ct and card_ct
    assert MOBILE.encode() not in mobile_ct and CARD_19.encode() not in card_ct
    assert ADDRESS[:6].encode() not in address_ct
    # The audit entry names which fields were stored, never their values.
    entry = [e for e in _audit(services) if e["action"] == "admin.account.register"][-1]
    assert entry["subject"] == account["subject_id"]
    assert entry["details"] == {"account_id": account["id"], "role": "subject",
                                "contact_fields": ["mobile", "address", "bank_card"]}
    audit = json.dumps(_audit(services), ensure_ascii=False)
    logs = capsys.readouterr()
    for value in (MOBILE, CARD_19, ADDRESS[:6], ADDRESS[6:], number, "诸葛亮"):
        assert value not in audit
        assert value not in logs.out + logs.err


def test_edge_values_are_accepted_and_fields_are_optional(
    client: TestClient[Any], services: Services, op: dict[str, str],
) -> None:
    shortest = register_person(client, op, id_number=new_resident_id(age=25), name="李娜", mobile="10000000000",
                               address="北京", bank_card=CARD_12)
    fields = _own_subject_fields(client, services, shortest)
    assert (fields["mobile"], fields["address"]) == ("10000000000", "北京")
    assert fields["bank_card"] == CARD_12[:6] + "**" + CARD_12[-4:]
    longest = register_person(client, op, id_number=new_resident_id(age=26), name="王芳", address="路" * 200,
                              bank_card=CARD_16)
    fields = _own_subject_fields(client, services, longest)
    assert fields["address"] == "路" * 200 and "mobile" not in fields
    assert fields["bank_card"] == CARD_16[:6] + "******" + CARD_16[-4:]
    # Nothing given: nothing stored, nothing shown.
    bare = register_person(client, op, id_number=new_resident_id(age=27), name="赵六")
    assert set(_own_subject_fields(client, services, bare)) == {"id_number", "name"}
    assert _subject_row(services, bare["subject_id"])[2:] == (None, None, None)
    entry = [e for e in _audit(services) if e["action"] == "admin.account.register"][-1]
    assert entry["details"]["contact_fields"] == []


# --- invalid values -----------------------------------------------------------------------------


INVALID: list[tuple[str, Any, str]] = [
    ("mobile", "23912345678", "mobile_invalid"),  # does not start with 1
    ("mobile", "1391234567", "mobile_invalid"),  # 10 digits
    ("mobile", "139123456789", "mobile_invalid"),  # 12 digits
    ("mobile", "139 1234 5678", "mobile_invalid"),
    ("mobile", "139-1234-5678", "mobile_invalid"),
    ("mobile", "+8613912345678", "mobile_invalid"),
    ("mobile", "1391234567x", "mobile_invalid"),
    ("mobile", "１３９１２３４５６７８", "mobile_invalid"),  # full-width digits
    ("mobile", "", "mobile_invalid"),
    ("bank_card", luhn_broken("621700123456789"), "bank_card_invalid"),  # wrong check digit
    ("bank_card", luhn_complete("6217001234"), "bank_card_invalid"),  # 11 digits
    ("bank_card", luhn_complete("6217001234567890123"), "bank_card_invalid"),  # 20 digits
    ("bank_card", CARD_16[:4] + " " + CARD_16[4:], "bank_card_invalid"),
    ("bank_card", CARD_16[:-1] + "X", "bank_card_invalid"),
    ("bank_card", "٤١١١١١١١١١١١١١١١", "bank_card_invalid"),  # Arabic-Indic digits (Luhn-valid as ASCII)
    ("bank_card", "", "bank_card_invalid"),
    ("address", "", "address_invalid"),
    ("address", "北", "address_invalid"),
    ("address", "   北   ", "address_invalid"),  # one character once trimmed
    ("address", "路" * 201, "address_invalid"),
    ("address", "北京市\x00朝阳区", "address_invalid"),
    ("address", "北京市\u200b朝阳区", "address_invalid"),  # an invisible format character
    ("mobile", 13912345678, "validation_error"),  # not a string
    ("bank_card", "6" * 33, "validation_error"),  # over the body's hard limit
    ("address", "路" * 1001, "validation_error"),
    ("phone", MOBILE, "validation_error"),  # unknown fields are still refused
]


@pytest.mark.parametrize(("field", "value", "code"), INVALID, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(INVALID)])
def test_each_invalid_kind_is_refused_changes_nothing_and_is_not_echoed(
    client: TestClient[Any], services: Services, op: dict[str, str], capsys: pytest.CaptureFixture[str],
    field: str, value: Any, code: str,
) -> None:
    number = new_resident_id(age=40)
    before = _counts(services)
    entries = len(_audit(services))
    body = {"username": new_username("subject"), "password": DEFAULT_PASSWORD, "role": "subject",
            "id_number": number, "name": "欧阳娜娜", "mobile": MOBILE, "address": ADDRESS, "bank_card": CARD_16,
            field: value}
    resp = client.post("/v1/admin/accounts", headers=op, json=body)
    assert_problem(resp, 400, code)
    assert _counts(services) == before  # no account, no subject
    # Nothing but the refusal itself is recorded, under its code.
    assert [(e["action"], e["reason"]) for e in _audit(services)[entries:]] == [("request.refused", code)]
    logs = capsys.readouterr()
    for plain in {str(value), MOBILE, ADDRESS, CARD_16, number, "欧阳娜娜"} - {""}:
        assert plain not in resp.text
        assert plain not in logs.out + logs.err


def test_contact_fields_only_for_subjects(client: TestClient[Any], services: Services, op: dict[str, str]) -> None:
    for role in ("guardian", "auditor", "operator"):
        for extra in ({"mobile": MOBILE}, {"address": ADDRESS}, {"bank_card": CARD_16}):
            resp = client.post("/v1/admin/accounts", headers=op, json={
                "username": new_username(role), "password": DEFAULT_PASSWORD, "role": role, **extra})
            assert_problem(resp, 400, "unexpected_subject_identity")
            assert next(iter(extra.values())) not in resp.text
    assert _counts(services) == (1, 0)  # the fixture's operator only


def test_an_id_number_born_after_today_is_refused(client: TestClient[Any], services: Services,
                                                  op: dict[str, str]) -> None:
    """The registry passes China's date to the ID number check itself (policies read no clock)."""
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    unborn = make_resident_id("110105", tomorrow, 3, "female")
    resp = client.post("/v1/admin/accounts", headers=op, json={
        "username": new_username("subject"), "password": DEFAULT_PASSWORD, "role": "subject",
        "id_number": unborn, "name": "未出生", "mobile": MOBILE})
    assert_problem(resp, 400, "id_number_birth_date")
    parent = register_guardian(client, op)
    ward = client.post("/v1/admin/guardianships", headers=op, json={
        "guardian_account_id": parent["id"], "ward_id_number": unborn, "ward_name": "未出生"})
    assert_problem(ward, 400, "id_number_birth_date")
    assert unborn not in resp.text + ward.text
    assert _counts(services) == (2, 0)  # the operator and the guardian; no person


# --- a person already registered ----------------------------------------------------------------


def test_an_existing_person_is_never_changed_by_account_registration(
    client: TestClient[Any], services: Services, op: dict[str, str],
) -> None:
    # The person is known without an account: registered as a ward (as a provider's record would).
    child = new_resident_id(age=12)
    parent = register_guardian(client, op)
    linked = client.post("/v1/admin/guardianships", headers=op, json={
        "guardian_account_id": parent["id"], "ward_id_number": child, "ward_name": "王小明"})
    assert linked.status_code == 201, linked.text
    ward = linked.json()["ward_subject_id"]
    stored = _subject_row(services, ward)
    assert stored[2:] == (None, None, None)
    before = _counts(services)
    entries = len(_audit(services))
    for contact in ({"mobile": MOBILE}, {"address": ADDRESS}, {"bank_card": CARD_16},
                    {"mobile": MOBILE, "address": ADDRESS, "bank_card": CARD_16}):
        resp = client.post("/v1/admin/accounts", headers=op, json={
            "username": new_username("subject"), "password": DEFAULT_PASSWORD, "role": "subject",
            "id_number": child, "name": "王小明", **contact})
        assert_problem(resp, 409, "subject_exists_contact_not_stored")
        for value in (*contact.values(), child, "王小明"):
            assert value not in resp.text
    assert _subject_row(services, ward) == stored  # not a byte changed
    assert _counts(services) == before  # and no account either
    assert {(e["action"], e["reason"]) for e in _audit(services)[entries:]} == {
        ("request.refused", "subject_exists_contact_not_stored")}
    # Without contact fields the account is linked to the person as before; still nothing stored.
    account = register_person(client, op, id_number=child, name="王小明")
    assert account["subject_id"] == ward
    assert _subject_row(services, ward) == stored
    assert set(_own_subject_fields(client, services, account)) == {"id_number", "name"}
    # A person who has an account: that conflict is reported, whatever else is given.
    again = client.post("/v1/admin/accounts", headers=op, json={
        "username": new_username("subject"), "password": DEFAULT_PASSWORD, "role": "subject",
        "id_number": child, "name": "王小明", "mobile": MOBILE})
    assert_problem(again, 409, "subject_has_account")
    assert _subject_row(services, ward) == stored


def test_a_person_with_contact_fields_keeps_them(client: TestClient[Any], services: Services,
                                                 op: dict[str, str]) -> None:
    number = new_resident_id(age=45)
    first = register_person(client, op, id_number=number, name="钱七", mobile=MOBILE, bank_card=CARD_16)
    stored = _subject_row(services, first["subject_id"])
    other_card = luhn_complete("622848000011112")
    dup = client.post("/v1/admin/accounts", headers=op, json={
        "username": new_username("subject"), "password": DEFAULT_PASSWORD, "role": "subject",
        "id_number": number, "name": "钱七", "mobile": "13700001111", "bank_card": other_card})
    assert_problem(dup, 409, "subject_has_account")
    assert "13700001111" not in dup.text and other_card not in dup.text
    assert _subject_row(services, first["subject_id"]) == stored
    fields = _own_subject_fields(client, services, first)
    assert (fields["mobile"], fields["bank_card"]) == (MOBILE, CARD_16[:6] + "******" + CARD_16[-4:])


# --- nothing in clear in the database -----------------------------------------------------------


def test_the_database_holds_no_contact_field_in_clear(
    client: TestClient[Any], services: Services, op: dict[str, str],
) -> None:
    people = [
        (new_resident_id(age=31), "欧阳娜娜", "13812349876", "广州市天河区体育西路103号维多利广场", CARD_19),
        (new_resident_id(age=52), "孙悟空", "15011112222", "四川省成都市锦江区春熙路88号", CARD_16),
    ]
    for number, name, mobile, address, card in people:
        register_person(client, op, id_number=number, name=name, mobile=mobile, address=address, bank_card=card)
    stored = _stored_bytes(services)
    assert b"admin.account.register" in stored or b"admin.account.register".hex().encode() in stored  # scan sees
    for number, name, mobile, address, card in people:
        for value in (number, number[:14], name, mobile, address, address[:8], card, card[:10]):
            for form in _forms(value):
                assert form not in stored, f"plaintext {value[:2]}… in the database"


# --- the command line ---------------------------------------------------------------------------





def _cli_json(result: Any) -> dict[str, Any]:
    out = result.stdout
    data: dict[str, Any] = json.loads(out[out.index("{"):])
    return data


def test_cli_reads_contact_fields_from_piped_answers(env: Settings) -> None:
    pw = "a long enough passphrase"
    number = make_resident_id("310101", years_ago(38), 7, "male")
    address = "上海市黄浦区南京东路100号"
    done = _run("accounts", "add", "--username", "sun.li", "--role", "subject", "--with-contact",
                input=f"{pw}\n{pw}\n{number}\n孙立\n{MOBILE}\n{address}\n{CARD_16}\n")
    account = _cli_json(done)
    for value in (number, "孙立", MOBILE, address, CARD_16, pw):
        assert value not in done.output
    # Empty answers store nothing.
    bare_number = make_resident_id("310101", years_ago(39), 8, "female")
    bare = _cli_json(_run("accounts", "add", "--username", "zhou.li", "--role", "subject", "--with-contact",
                          input=f"{pw}\n{pw}\n{bare_number}\n周丽\n\n\n\n"))
    # Invalid values: the registry's codes, no value in the message, nothing written.
    bad_mobile = _run("accounts", "add", "--username", "wu.li", "--role", "subject", "--with-contact",
                      input=f"{pw}\n{pw}\n{new_resident_id(age=30)}\n吴丽\n1391234567\n\n\n", ok=False)
    assert "mobile_invalid" in bad_mobile.output and "1391234567" not in bad_mobile.output
    bad_card = luhn_broken("621700123456789")
    refused = _run("accounts", "add", "--username", "wu.li", "--role", "subject", "--with-contact",
                   input=f"{pw}\n{pw}\n{new_resident_id(age=30)}\n吴丽\n\n\n{bad_card}\n", ok=False)
    assert "bank_card_invalid" in refused.output and bad_card not in refused.output
    # A person already held (here a ward registered with a guardianship) is not changed.
    parent = _cli_json(_run("accounts", "add", "--username", "parent.sun", "--role", "guardian",
                            input=f"{pw}\n{pw}\n"))
    child = new_resident_id(age=8)
    _run("guardianships", "add", "--guardian", parent["id"], "--register-ward", input=f"{child}\n孙小宝\n")
    existing = _run("accounts", "add", "--username", "sun.xiaobao", "--role", "subject", "--with-contact",
                    input=f"{pw}\n{pw}\n{child}\n孙小宝\n{MOBILE}\n\n\n", ok=False)
    assert "subject_exists_contact_not_stored" in existing.output
    assert child not in existing.output and MOBILE not in existing.output
    # Only subjects.
    usage = CliRunner().invoke(main, ["accounts", "add", "--username", "g.li", "--role", "guardian",
                                      "--with-contact"], input=f"{pw}\n{pw}\n")
    assert usage.exit_code == 2 and "--with-contact is only for subject accounts" in usage.output

    svc = build_services(env)
    svc.start()
    try:
        with svc.session() as s:
            for refused_name in ("wu.li", "sun.xiaobao"):
                assert s.execute(select(func.count()).select_from(Account).where(
                    Account.username == refused_name)).scalar_one() == 0  # type: ignore[arg-type]
            ward = s.execute(select(Subject)).scalars().all()
            assert [w.mobile_ct for w in ward if w.id not in {account["subject_id"], bare["subject_id"]}] == [None]
        with TestClient(create_app(services=svc), raise_server_exceptions=False) as http:
            fields = _own_subject_fields(http, svc, {**account, "_username": "sun.li"})
            assert fields == {"id_number": number[:6] + "********" + number[-4:], "name": "孙立",
                              "mobile": MOBILE, "address": address,
                              "bank_card": CARD_16[:6] + "******" + CARD_16[-4:]}
            assert set(_own_subject_fields(http, svc, {**bare, "_username": "zhou.li"})) == {"id_number", "name"}
    finally:
        svc.close()


def years_ago(years: int) -> date:
    """The first day of the month, ``years`` before today in China."""
    return years_before(datetime.now(ZoneInfo("Asia/Shanghai")).date(), years).replace(day=1)
