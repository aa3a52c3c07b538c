"""Auditors see the whole trail of real use, and never a name, an ID number or any
personal field: every entry, every proof, the summary in JSON and CSV."""

from __future__ import annotations

from policies import Role
from service.db.types import china_today
from tests.service.auditor.conftest import Desk
from tests.service.identity.tokens import issue_token_for
from tests.service.query.conftest import Scene, scene  # noqa: F401  (the fixture)


def test_the_whole_trail_is_pseudonymous(scene: Scene) -> None:  # noqa: F811
    consent = scene.consent()
    assert scene.query(consent).status_code == 200
    assert scene.query(consent, purpose="credit_card_approval").status_code == 403
    assert scene.http.get("/v1/me/report", headers=scene.person.headers).status_code == 200
    assert scene.http.get("/v1/me/access-log", headers=scene.person.headers).status_code == 200
    desk = Desk(scene.http, scene.services, issue_token_for(scene.services, Role.AUDITOR))
    scene.services.writer.checkpoint_now()

    texts = []
    items = []
    after = 0
    while True:
        resp = desk.get("/v1/audit/entries", {"after": after, "limit": 50})
        texts.append(resp.text)
        page = resp.json()
        items += page["items"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    actions = {e["action"] for e in items}
    assert {"query", "report.self", "access_log.read", "consent.grant", "admin.account.register"} <= actions
    for entry in items[:60]:
        proof = desk.get("/v1/audit/proofs/inclusion", {"seq": entry["seq"]})
        if proof.status_code == 200:
            texts.append(proof.text)
    today = china_today().isoformat()
    texts.append(desk.get("/v1/audit/reports/summary", {"from": today, "to": today}).text)
    texts.append(desk.get("/v1/audit/reports/summary", {"from": today, "to": today}, Accept="text/csv").text)
    texts.append(desk.get("/v1/audit/checkpoints/latest").text)

    person = scene.person
    assert person.id_number and person.account
    secrets = [person.id_number, person.id_number[:14], "张三", "未按规定履行义务", "有履行能力而拒不履行",
               "京市监罚", "北京市朝阳区"]
    everything = "\n".join(texts)
    for secret in secrets:
        assert secret not in everything
    # Pseudonyms are there: the auditor can follow one person's trail.
    assert person.subject_id in everything
