"""Personal data sent through requests never reaches the log output."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import TestClient

from service.http.app import create_app
from service.observability.logging import get_logger
from service.observability.redaction import redact, scrub_text
from service.runtime import Services
from service.subjects.repository import SubjectData, register_subject

PII = ["11010519491231002X", "13800138000", "6222021234567890123", "张三丰", "北京市朝阳区建国路88号"]


@post("/test/careless", sync_to_thread=False)
def careless(data: JSONBody[dict[str, Any]]) -> dict[str, str]:
    # A handler that logs what it was given: the redaction processor must still win.
    get_logger("test").info("got body", body=data, name=data.get("name"), note=f"id {data.get('id_number')}")
    return {"ok": "yes"}


def test_personal_data_never_reaches_logs(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(services=services, extra_handlers=[careless])
    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/test/careless", json={"name": PII[3], "id_number": PII[0], "mobile": PII[1],
                                            "bank_card": PII[2], "address": PII[4]})
        client.get(f"/v1/subjects/{PII[0]}?mobile={PII[1]}")
        client.post("/test/careless", content=b"{broken " + PII[0].encode())
        with services.session() as s, s.begin():
            register_subject(s, services.vault, services.blind_index, SubjectData(PII[0], PII[3], PII[1], PII[4]))
    out = capsys.readouterr().err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    # The requests were logged (so the check below is not vacuous) with their request ids.
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) >= 3 and all(line.get("request_id") for line in requests)
    assert any(line.get("event") == "got body" for line in lines)
    for value in PII:
        assert value not in out


def test_redaction_rules() -> None:
    assert redact({"name": "李四", "nested": {"mobile": "x"}, "n": 5}) == {
        "name": "[redacted]", "nested": {"mobile": "[redacted]"}, "n": 5}
    assert scrub_text("id 11010519491231002x phone +86 13800138000 card 6222021234567890123") == (
        "id [redacted] phone [redacted] card [redacted]")
    # Numbers that are not personal data survive: sequence numbers, timestamps, short ids.
    assert scrub_text("seq 123456 at 2026-11-21T10:00:00") == "seq 123456 at 2026-11-21T10:00:00"
