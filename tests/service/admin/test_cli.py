"""`creditgate institutions|providers|accounts|guardianships|clients` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.config import Settings
from service.identity.credentials import hash_client_secret
from service.identity.models import Account, Guardianship, Institution, OAuthClient
from service.runtime import build_services
from service.subjects.repository import find_subject_id
from tests.service.admin.conftest import run_cli as _run
from tests.service.identity.tokens import new_client_key, new_resident_id, new_uscc


def _json(result: Any) -> dict[str, Any]:
    out = result.stdout
    return json.loads(out[out.index("{"):])  # type: ignore[no-any-return]


def test_registration_commands(env: Settings, tmp_path: Path) -> None:
    uscc = new_uscc()
    added = _run("institutions", "add", "--name", "测试银行", "--uscc", uscc, "--type", "bank",
                 "--purpose", "loan_approval", "--purpose", "post_loan_management")
    inst = _json(added)
    secret = inst["client"]["client_secret"]
    assert "not be shown again" in added.stderr
    svc = build_services(env)
    with svc.session() as s:
        row = s.get(Institution, inst["id"])
        client = s.get(OAuthClient, inst["client"]["client_id"])
        assert row is not None and row.permitted_purposes == ["loan_approval", "post_loan_management"]
        assert client is not None and client.secret_hash == hash_client_secret(secret)
    dup = _run("institutions", "add", "--name", "x", "--uscc", uscc, "--type", "bank", "--purpose",
               "loan_approval", ok=False)
    assert "institution_exists" in dup.output
    bad = _run("institutions", "add", "--name", "x", "--uscc", "91110105MA01ABCDE0", "--type", "bank",
               "--purpose", "loan_approval", ok=False)
    assert "uscc_checksum" in bad.output or "uscc_format" in bad.output
    assert _json(_run("institutions", "suspend", inst["id"]))["status"] == "suspended"
    assert _json(_run("institutions", "reactivate", inst["id"]))["status"] == "active"
    assert "institution_not_found" in _run("institutions", "suspend", "nope", ok=False).output

    jwk_file = tmp_path / "court.jwk"
    jwk_file.write_text(json.dumps(new_client_key().as_dict(private=False)))
    prov = _json(_run("providers", "add", "--name", "某区人民法院", "--uscc", new_uscc(), "--type", "court",
                      "--auth-method", "private_key_jwt", "--jwk-file", str(jwk_file)))
    assert prov["client"]["auth_method"] == "private_key_jwt" and "client_secret" not in prov["client"]

    number = new_resident_id(age=35)
    person = _run("accounts", "add", "--username", "wang.fang", "--role", "subject",
                  input=f"a long enough passphrase\na long enough passphrase\n{number}\n王芳\n")
    account = _json(person)
    assert number not in person.output and "王芳" not in person.output
    assert "a long enough passphrase" not in person.output
    parent = _json(_run("accounts", "add", "--username", "parent.li", "--role", "guardian",
                        input="another long passphrase\nanother long passphrase\n"))
    child = new_resident_id(age=6)
    link_out = _run("guardianships", "add", "--guardian", parent["id"], "--register-ward",
                    input=f"{child}\n李小宝\n")
    link = _json(link_out)
    assert child not in link_out.output and "李小宝" not in link_out.output
    too_old = _run("guardianships", "add", "--guardian", parent["id"], "--register-ward",
                   input=f"{new_resident_id(age=16)}\n某某\n", ok=False)
    assert "ward_not_minor" in too_old.output
    with svc.session() as s:
        stored = s.get(Account, account["id"])
        assert stored is not None and stored.subject_id == find_subject_id(s, svc.blind_index, number)
        assert s.get(Guardianship, link["id"]) is not None
        assert link["ward_subject_id"] == find_subject_id(s, svc.blind_index, child)
    assert _json(_run("accounts", "disable", parent["id"]))["status"] == "disabled"
    assert _json(_run("guardianships", "end", link["id"]))["ended_at"]

    auditor = _json(_run("accounts", "add", "--username", "auditor.chen", "--role", "auditor",
                         input="auditor passphrase 1\nauditor passphrase 1\n"))
    tool = _json(_run("clients", "add", "--owner-type", "auditor_tool", "--owner-id", auditor["id"]))
    assert tool["client_secret"]
    assert _json(_run("clients", "revoke", tool["client_id"]))["status"] == "revoked"
    svc.engine.dispose()
