"""GET /v1/me/access-log/{seq}/proof: a person proves an entry of their access log is in
the signed log; another person's entry is not found; every request is recorded."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from audit import checkpoint_from_json, verify_checkpoint
from policies import Role
from service.config import Settings
from service.http.app import create_app
from service.runtime import Services, build_services
from tests.http_helpers import assert_problem
from tests.rfc9162 import inclusion_ok
from tests.service.identity.tokens import issue_token_for, new_resident_id
from tests.service.query.conftest import Scene


def _recorded(services: Services, action: str) -> list[dict[str, Any]]:
    with services.reads() as db:
        rows = db.all("SELECT body FROM audit_entries WHERE action = ? ORDER BY seq", (action,))
    return [json.loads(bytes(b)) for (b,) in rows]


def test_a_person_proves_an_entry_of_their_access_log(scene: Scene) -> None:
    consent = scene.consent()
    assert scene.query(consent).status_code == 200
    log = scene.http.get("/v1/me/access-log", headers=scene.person.headers).json()
    query = next(item for item in log["items"] if item["action"] == "query")
    scene.services.writer.checkpoint_now()
    resp = scene.http.get(f"/v1/me/access-log/{query['seq']}/proof", headers=scene.person.headers)
    assert resp.status_code == 200, resp.text
    proof = resp.json()
    cp = checkpoint_from_json(proof["checkpoint"])
    assert verify_checkpoint(cp, scene.services.keyring.signing_key("audit").public_key())
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert inclusion_ok(proof["body"].encode(), query["seq"] - 1, cp.tree_size, path, cp.root_hash)
    body = json.loads(proof["body"])
    assert (body["seq"], body["subject"], body["action"]) == (query["seq"], scene.person.subject_id, "query")
    recorded = _recorded(scene.services, "access_log.proof")
    assert [(r["decision"], r["subject"], r["details"]["seq"]) for r in recorded] == [
        ("allow", scene.person.subject_id, query["seq"])]


def test_another_persons_entry_is_not_found_and_the_attempt_recorded(scene: Scene) -> None:
    consent = scene.consent()
    scene.query(consent)
    scene.services.writer.checkpoint_now()
    theirs = scene.http.get("/v1/me/access-log", headers=scene.person.headers).json()["items"][0]["seq"]
    other = issue_token_for(scene.services, Role.SUBJECT)
    scene.services.writer.checkpoint_now()
    assert_problem(scene.http.get(f"/v1/me/access-log/{theirs}/proof", headers=other.headers), 404, "not_found")
    # Asking for the other person by pseudonym is refused by the gate, like their access log.
    assert_problem(scene.http.get(f"/v1/me/access-log/{theirs}/proof", headers=other.headers,
                                  params={"subject": scene.person.subject_id}), 404, "not_found")
    assert_problem(scene.http.get("/v1/me/access-log/999999/proof", headers=other.headers), 404, "not_found")
    assert_problem(scene.http.get("/v1/me/access-log/abc/proof", headers=other.headers), 400, "invalid_parameter")
    recorded = _recorded(scene.services, "access_log.proof")
    assert [(r["actor_id"], r["decision"], r["reason"]) for r in recorded] == [
        (other.actor_id, "deny", "entry_not_found"), (other.actor_id, "deny", "not_self"),
        (other.actor_id, "deny", "entry_not_found")]


def test_a_guardian_proves_an_entry_of_the_ward(services: Services, http: TestClient[Any]) -> None:
    guardian = issue_token_for(services, Role.GUARDIAN, wards=[new_resident_id(age=9)])
    (ward,) = guardian.ward_subject_ids
    http.get("/v1/me/report", headers=guardian.headers)
    services.writer.checkpoint_now()
    items = http.get("/v1/me/access-log", headers=guardian.headers).json()["items"]
    seq = next(i["seq"] for i in items if i["action"] == "report.self")
    resp = http.get(f"/v1/me/access-log/{seq}/proof", headers=guardian.headers)
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.json()["body"])["subject"] == ward


@pytest.fixture
def slow_checkpoints(settings: Settings) -> Iterator[tuple[Services, TestClient[Any]]]:
    """A service that signs checkpoints only when asked (or every 1,000 entries)."""
    svc = build_services(dataclasses.replace(settings, checkpoint_every_seconds=3600))
    svc.start()
    with TestClient(create_app(services=svc), raise_server_exceptions=False) as client:
        yield svc, client
    svc.close()


def test_an_entry_not_yet_signed_is_refused_until_a_checkpoint_covers_it(
    slow_checkpoints: tuple[Services, TestClient[Any]],
) -> None:
    services, http = slow_checkpoints
    person = issue_token_for(services, Role.SUBJECT)
    http.get("/v1/me/report", headers=person.headers)
    seq = http.get("/v1/me/access-log", headers=person.headers).json()["items"][0]["seq"]
    body = assert_problem(http.get(f"/v1/me/access-log/{seq}/proof", headers=person.headers), 409,
                          "entry_not_checkpointed")
    assert body["audit_seq"] > seq
    services.writer.checkpoint_now()
    assert http.get(f"/v1/me/access-log/{seq}/proof", headers=person.headers).status_code == 200
    assert [r["reason"] for r in _recorded(services, "access_log.proof")] == ["entry_not_checkpointed", "self"]
