"""Several service processes on one database stay correct together.

Four separate ``creditgate serve`` processes (and, on SQLite, one process with
several granian workers) share one database, as stateless service processes
behind a load balancer do. Under concurrent load from all of them:

- the audit ``seq`` stays gapless and ``creditgate audit verify`` passes;
- a consent is never used more often than it allows: hammered from every
  process with 3 uses left, exactly 3 queries get a report;
- a revocation committed through one process stops queries in every other at
  once;
- every use a report was given is one use on the consent row.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from policies import Role
from service.config import Settings
from service.http.app import create_app
from service.runtime import Services
from tests.e2e.live import LiveServer, live_servers, service_environment
from tests.service.identity.tokens import Caller, issue_token_for


@dataclass
class Bank:
    """An institution, the people who consented to it, and one consent each."""

    bank: Caller
    people: list[Caller]
    consents: list[str]


def grant_consent(http: TestClient[Any], bank: Caller, person: Caller, max_queries: int,
                  purpose: str = "loan_approval") -> str:
    """A consent ``person`` granted to ``bank`` for ``purpose`` (identity only), through the API."""
    body = {"id_number": person.id_number, "purpose": purpose, "categories": ["identity"],
            "valid_days": 30, "max_queries": max_queries, "reason": "贷款审批"}
    asked = http.post("/v1/consent-requests", headers=bank.headers, json=body)
    assert asked.status_code == 201, asked.text
    granted = http.post(f"/v1/me/consent-requests/{asked.json()['id']}/grant", headers=person.headers)
    assert granted.status_code == 201, granted.text
    return str(granted.json()["consent"]["id"])


@pytest.fixture
def bank(services: Services) -> Iterator[Bank]:
    bank = issue_token_for(services, Role.INSTITUTION, institution_type="bank")
    people = [issue_token_for(services, Role.SUBJECT) for _ in range(6)]
    with TestClient(create_app(services=services), raise_server_exceptions=False) as http:
        consents = [grant_consent(http, bank, person, max_queries=3) for person in people]
    yield Bank(bank, people, consents)


def _query(client: httpx.Client, server: LiveServer, bank: Caller, consent_id: str) -> httpx.Response:
    return client.post(f"{server.url}/v1/queries", headers=bank.headers,
                       json={"consent_id": consent_id, "purpose": "loan_approval"}, timeout=60)


def _audit_is_sound(settings: Settings, services: Services) -> None:
    with services.engine.connect() as conn:
        count, low, high = conn.execute(text("SELECT count(*), min(seq), max(seq) FROM audit_entries")).one()
    assert (low, high) == (1, count), "audit seq has a gap"
    verified = subprocess.run([sys.executable, "-m", "service.cli.main", "audit", "verify"],
                              env=service_environment(settings), capture_output=True, text=True, timeout=300)
    assert verified.returncode == 0, verified.stderr
    assert "OK:" in verified.stdout


def _uses(services: Services) -> dict[str, int]:
    with services.engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, uses FROM consents")).tuples().all())


def _hammer(servers: list[LiveServer], bank: Caller, consents: list[str], per_consent: int) -> list[tuple[str, int]]:
    """Every consent queried ``per_consent`` times, spread over every server, 16 at a time."""
    jobs = [(consent, servers[i % len(servers)])
            for i, consent in enumerate(itertools.chain.from_iterable(itertools.repeat(consents, per_consent)))]
    local = threading.local()

    def run(job: tuple[str, LiveServer]) -> tuple[str, int]:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        consent, server = job
        answer = _query(local.client, server, bank, consent)
        if answer.status_code == 200:
            assert answer.json()["report"]["consent"]["id"] == consent
        else:
            assert answer.status_code == 403, answer.text
            assert answer.json()["code"] == "consent_exhausted", answer.text
        return consent, answer.status_code

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(run, jobs))


def test_four_processes_share_one_log_and_never_overuse_a_consent(
    settings: Settings, services: Services, bank: Bank
) -> None:
    with live_servers(settings, 4) as servers:
        results = _hammer(servers, bank.bank, bank.consents, per_consent=6)
        served = Counter(consent for consent, status in results if status == 200)
        # Each consent allowed 3 uses: exactly 3 of its 6 queries got a report, whichever process took them.
        assert served == dict.fromkeys(bank.consents, 3)
        uses = _uses(services)
        assert all(uses[consent] == 3 for consent in bank.consents)
    _audit_is_sound(settings, services)


def test_a_revocation_in_one_process_stops_queries_in_every_other(
    settings: Settings, services: Services, bank: Bank
) -> None:
    consent, person = bank.consents[0], bank.people[0]
    with live_servers(settings, 4) as servers, httpx.Client() as client:
        first, *others = servers
        assert all(_query(client, s, bank.bank, consent).status_code == 200 for s in others[:2])
        revoked = client.post(f"{first.url}/v1/me/consents/{consent}/revoke", headers=person.headers)
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        for server in servers:
            refused = _query(client, server, bank.bank, consent)
            assert refused.status_code == 403 and refused.json()["code"] == "consent_revoked", server.url
            assert "id_number" not in refused.text and "name" not in refused.json()
    _audit_is_sound(settings, services)


def test_granian_workers_on_one_database(settings: Settings, services: Services, bank: Bank) -> None:
    # The embedded default may be run with --workers: several processes on one SQLite file.
    with live_servers(settings, 1, workers=2) as servers:
        results = _hammer(servers, bank.bank, bank.consents, per_consent=5)
        assert Counter(c for c, status in results if status == 200) == dict.fromkeys(bank.consents, 3)
    _audit_is_sound(settings, services)
