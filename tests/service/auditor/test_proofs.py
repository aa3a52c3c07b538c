"""Checkpoints and RFC 9162 proofs over HTTP, checked with the tests' own verifier against
checkpoints whose signatures are checked with the key published in /oauth/jwks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from service.admin.registry import Actor, add_client
from service.audit_log.writer import AuditEvent
from tests.http_helpers import assert_problem
from tests.rfc9162 import consistency_ok, inclusion_ok
from tests.service.auditor.conftest import Desk
from tests.service.identity.tokens import client_credentials_token, make_account


def _b(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


@pytest.fixture
def sizes(desk: Desk) -> list[int]:
    """A checkpoint after each of 24 more entries; their sizes."""
    found = []
    for i in range(24):
        desk.services.writer.append(AuditEvent(actor_type="institution", actor_id=f"{i:032x}", action="query",
                                               decision="allow", reason="consent", subject=f"{i:032x}"))
        cp = desk.services.writer.checkpoint_now()
        assert cp is not None
        found.append(cp.tree_size)
    return found


def test_checkpoints_are_signed_with_the_published_key(desk: Desk, sizes: list[int]) -> None:
    desk.checkpoint_key()
    earlier = len(desk.recorded("audit.checkpoint.read"))
    latest = desk.get("/v1/audit/checkpoints/latest")
    assert latest.status_code == 200
    cp = desk.signed(latest.json())
    assert cp.tree_size >= sizes[-1]
    again = desk.get(f"/v1/audit/checkpoints/{sizes[3]}").json()
    assert desk.signed(again).tree_size == sizes[3]
    assert_problem(desk.get("/v1/audit/checkpoints/99999999"), 404, "checkpoint_not_found")
    assert assert_problem(desk.get("/v1/audit/checkpoints/abc"), 400, "invalid_parameter")["parameter"] == "size"
    assert_problem(desk.get("/v1/audit/checkpoints/latest", {"x": "1"}), 400, "unknown_parameter")
    reads = desk.recorded("audit.checkpoint.read")[earlier:]
    assert [(r["decision"], r["reason"]) for r in reads] == [
        ("allow", "auditor"), ("allow", "auditor"), ("deny", "checkpoint_not_found"),
        ("deny", "invalid_parameter"), ("deny", "unknown_parameter")]


def test_inclusion_and_consistency_proofs_verify(desk: Desk, sizes: list[int]) -> None:
    roots = {}
    for size in sizes:
        roots[size] = desk.signed(desk.get(f"/v1/audit/checkpoints/{size}").json()).root_hash
    for size in [*sizes[::5], sizes[-1]]:
        for seq in range(1, size + 1):
            resp = desk.get("/v1/audit/proofs/inclusion", {"seq": seq, "size": size})
            assert resp.status_code == 200, resp.text
            proof: dict[str, Any] = resp.json()
            assert (proof["seq"], proof["leaf_index"], proof["tree_size"]) == (seq, seq - 1, size)
            assert desk.signed(proof["checkpoint"]).root_hash == roots[size]
            assert inclusion_ok(proof["body"].encode(), seq - 1, size, _b(proof["audit_path"]), roots[size])
    for old in sizes:
        for new in sizes[sizes.index(old)::4]:
            resp = desk.get("/v1/audit/proofs/consistency", {"from": old, "to": new})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert desk.signed(body["from_checkpoint"]).root_hash == roots[old]
            assert desk.signed(body["to_checkpoint"]).root_hash == roots[new]
            assert consistency_ok(old, new, roots[old], roots[new], _b(body["proof"]))
    # Without a size, the proof is against the newest checkpoint.
    latest = desk.get("/v1/audit/proofs/inclusion", {"seq": 1}).json()
    assert latest["tree_size"] >= sizes[-1]
    assert len(desk.recorded("audit.proof.consistency")) > 0 and len(desk.recorded("audit.proof.inclusion")) > 0


@pytest.mark.parametrize(("path", "params", "status", "code", "parameter"), [
    ("inclusion", {}, 400, "missing_parameter", "seq"),
    ("inclusion", {"seq": "0"}, 400, "invalid_parameter", "seq"),
    ("inclusion", {"seq": "1", "size": "x"}, 400, "invalid_parameter", "size"),
    ("inclusion", {"seq": "1", "size": "123456789"}, 404, "checkpoint_not_found", "size"),
    ("inclusion", {"seq": "1", "extra": "1"}, 400, "unknown_parameter", None),
    ("consistency", {"from": "1"}, 400, "missing_parameter", "to"),
    ("consistency", {"from": "3", "to": "2"}, 400, "invalid_range", "from"),
    ("consistency", {"from": "1", "to": "123456789"}, 404, "checkpoint_not_found", "to"),
])
def test_bad_proof_requests(desk: Desk, sizes: list[int], path: str, params: dict[str, str], status: int,
                            code: str, parameter: str | None) -> None:
    body = assert_problem(desk.get(f"/v1/audit/proofs/{path}", params), status, code)
    assert body.get("parameter") == parameter
    assert desk.recorded(f"audit.proof.{path}")[-1]["reason"] == code


def test_seq_beyond_the_signed_tree_and_sizes_without_checkpoint(desk: Desk, sizes: list[int]) -> None:
    body = assert_problem(desk.get("/v1/audit/proofs/inclusion", {"seq": sizes[1] + 1, "size": sizes[1]}),
                          400, "invalid_range")
    assert body["parameter"] == "seq"
    unsigned = sizes[-1] + 10_000
    assert_problem(desk.get("/v1/audit/proofs/consistency", {"from": unsigned, "to": unsigned}), 404,
                   "checkpoint_not_found")


def test_an_auditor_tool_uses_client_credentials(desk: Desk, sizes: list[int]) -> None:
    """As the README shows: an auditor account, a client for its tool, a token, a search."""
    account = make_account(desk.services, "auditor")
    creds = add_client(desk.services, actor=Actor("operator", "test-setup"), owner_type="auditor_tool",
                       owner_id=account.id)
    assert creds.client_secret
    token = client_credentials_token(desk.http, creds.client_id, creds.client_secret)
    resp = desk.http.get("/v1/audit/entries", params={"limit": 2}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and len(resp.json()["items"]) == 2
    assert desk.recorded("audit.entries.search")[-1]["actor_id"] == account.id


def test_a_proof_over_missing_entries_is_an_error_that_says_so(desk: Desk, sizes: list[int]) -> None:
    from sqlalchemy import text

    from tests.service.audit_log.test_tamper import _drop_triggers

    _drop_triggers(desk.services.engine)
    with desk.services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = :n"), {"n": sizes[-1]})
    assert_problem(desk.get("/v1/audit/proofs/inclusion", {"seq": 1, "size": sizes[-1]}), 500, "log_incomplete")
    assert desk.recorded("audit.proof.inclusion")[-1]["reason"] == "log_incomplete"
