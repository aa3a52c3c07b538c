"""Online KEK rotation on real databases: reads through the access gate keep working while
every data key is rewrapped, the old KEK can then be retired, and every field still opens."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select

from policies import Role, Viewer, make_resident_id
from service.cli.main import main
from service.crypto.keys import add_file_kek, load_keyring
from service.crypto.models import SubjectKey
from service.crypto.rotation import key_usage, rewrap_all
from service.db.raw import raw_connection
from service.runtime import Services, build_services
from service.subjects.repository import SubjectData, register_subject

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
N = 50
Fields = dict[str, str | None]


def _people() -> list[SubjectData]:
    return [
        SubjectData(
            make_resident_id("110105", date(1950 + i, 1 + i % 12, 1 + i % 28), i, "female" if i % 2 else "male"),
            f"测试人{i:02d}", f"139{i:08d}", f"北京市海淀区中关村大街{i}号", f"62220212345678{i:05d}",
        )
        for i in range(N)
    ]


def _read(svc: Services, subject_id: str) -> Fields:
    """The subject's own read of their fields, through the gate (decide, decrypt, mask, audit)."""
    viewer = Viewer(role=Role.SUBJECT, actor_id=f"acct-{subject_id[:8]}", subject_id=subject_id)
    with raw_connection(svc.engine) as db:
        result = svc.gate.read_subject(db, viewer=viewer, subject_id=subject_id, request_id=None, now=NOW)
    return dict(result.fields)


def _populate(services: Services) -> tuple[list[str], dict[str, Fields]]:
    """Register N subjects; returns their ids and what each reads before any rotation."""
    people = _people()
    with services.session() as s, s.begin():
        ids = [register_subject(s, services.vault, services.blind_index, p)[0] for p in people]
    expected = {sid: _read(services, sid) for sid in ids}
    # The reads really decrypted: a subject sees their own name in full.
    assert [expected[sid]["name"] for sid in ids] == [p.name for p in people]
    assert key_usage(services.engine) == {services.keyring.active_kek_id: N}
    return ids, expected


class Reader:
    """A thread reading every subject through the gate in turn until stopped, noting any
    failed or wrong read."""

    def __init__(self, svc: Services, ids: list[str], expected: dict[str, Fields]) -> None:
        self._svc, self._ids, self._expected = svc, ids, expected
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.reads = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name="rotation-reader", daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the reader thread hung"

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            sid = self._ids[i % len(self._ids)]
            i += 1
            try:
                got = _read(self._svc, sid)
                if got != self._expected[sid]:
                    self.failures.append(f"{sid}: fields differ from before the rotation")
            except Exception as exc:
                self.failures.append(f"{sid}: {type(exc).__name__}: {exc}")
            with self._cond:
                self.reads += 1
                self._cond.notify_all()

    def wait_for_more(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` more reads have finished (successfully or not)."""
        with self._cond:
            target = self.reads + n
            assert self._cond.wait_for(lambda: self.reads >= target, timeout), f"reader stalled at {self.reads}"


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at the test database and key file."""
    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("CREDITGATE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CREDITGATE_KEY_FILE", str(services.settings.key_file))
    monkeypatch.delenv("CREDITGATE_MASTER_KEY", raising=False)
    monkeypatch.delenv("CREDITGATE_PREVIOUS_MASTER_KEYS", raising=False)


@pytest.fixture
def started() -> Iterator[list[Services]]:
    """Further service processes a test starts; closed at the end."""
    running: list[Services] = []
    yield running
    for svc in running:
        svc.close()


def _start(services: Services, started: list[Services]) -> Services:
    svc = build_services(services.settings)
    svc.start()
    started.append(svc)
    return svc


def _retire_and_reread(services: Services, started: list[Services], old_kek: str, ids: list[str],
                       expected: dict[str, Fields]) -> None:
    """Retire ``old_kek`` with the CLI, then read every field with a process that never had it."""
    retired = CliRunner().invoke(main, ["keys", "retire", old_kek])
    assert retired.exit_code == 0, retired.output
    assert f"retired {old_kek}" in retired.output
    assert old_kek not in load_keyring(services.settings.key_file).keks
    fresh = _start(services, started)
    assert old_kek not in fresh.keyring.keks
    assert {sid: _read(fresh, sid) for sid in ids} == expected


def _key_rows(services: Services) -> list[Any]:
    with services.session() as s:
        return list(s.execute(select(SubjectKey.kek_id, SubjectKey.rewrapped_at)).all())  # type: ignore[call-overload]


def test_reads_keep_working_while_every_data_key_is_rewrapped(
    services: Services, started: list[Services], cli_env: None
) -> None:
    ids, expected = _populate(services)
    old_kek = services.keyring.active_kek_id
    key_file: Path = services.settings.key_file
    new_kek = add_file_kek(key_file)  # what `creditgate keys rotate` does first
    # A service process started from the key file now holds both versions.
    reader_svc = _start(services, started)
    assert {old_kek, new_kek} <= set(reader_svc.keyring.keks)
    ring = load_keyring(key_file)
    assert ring.active_kek_id == new_kek
    batches: list[int] = []
    with Reader(reader_svc, ids, expected) as reader:
        reader.wait_for_more(5)

        def between_batches(n: int) -> None:
            # Reads land between every two rewrap batches, besides any that overlap one.
            batches.append(n)
            reader.wait_for_more(1)

        result = rewrap_all(services.engine, ring, batch_size=5, progress=between_batches)
        reader.wait_for_more(5)
    assert reader.failures == [], reader.failures[:5]
    assert (result.rewrapped, result.remaining, result.active_kek) == (N, 0, new_kek)
    assert batches == [5] * (N // 5)
    # Every data key now names the new KEK.
    rows = _key_rows(services)
    assert len(rows) == N and all(kek == new_kek and at is not None for kek, at in rows)
    assert key_usage(services.engine) == {new_kek: N}
    _retire_and_reread(services, started, old_kek, ids, expected)


def test_a_query_that_commits_inside_a_rewrap_batch_does_not_abort_the_rotation(
    services: Services, started: list[Services]
) -> None:
    ids, expected = _populate(services)
    new_kek = add_file_kek(services.settings.key_file)
    reader_svc = _start(services, started)
    ring = load_keyring(services.settings.key_file)
    outcomes: list[str | None] = []
    queries: list[threading.Thread] = []

    def query() -> None:
        try:
            outcomes.append(None if _read(reader_svc, ids[0]) == expected[ids[0]] else "fields differ")
        except Exception as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")

    def before_first_rewrap(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The batch has read the keys it will rewrap; a query (with its audit entry)
        # commits now, from another connection, as live traffic would.
        if queries or not statement.lstrip().upper().startswith("UPDATE SUBJECT_KEYS"):
            return
        t = threading.Thread(target=query)
        queries.append(t)
        t.start()
        # A rotation that holds the write lock makes the query wait for the batch; let it.
        t.join(timeout=1.0)

    event.listen(services.engine, "before_cursor_execute", before_first_rewrap)
    try:
        result = rewrap_all(services.engine, ring, batch_size=N)
    finally:
        event.remove(services.engine, "before_cursor_execute", before_first_rewrap)
        for t in queries:
            t.join(timeout=60)
    assert queries, "rewrap_all issued no UPDATE of subject_keys through the engine"
    assert outcomes == [None]
    assert (result.rewrapped, result.remaining) == (N, 0)
    assert key_usage(services.engine) == {new_kek: N}


def test_a_running_service_keeps_reading_through_cli_rotation_and_retirement(
    services: Services, started: list[Services], cli_env: None
) -> None:
    """`creditgate keys rotate` run by the operator while the service (started before) serves reads."""
    ids, expected = _populate(services)
    old_kek = services.keyring.active_kek_id
    with Reader(services, ids, expected) as reader:
        reader.wait_for_more(5)
        rotated = CliRunner().invoke(main, ["keys", "rotate"])
        reader.wait_for_more(2 * N)  # every subject read at least once after the rotation
    assert rotated.exit_code == 0, rotated.output
    match = re.search(rf"rewrapped {N} data keys to (kek-[0-9a-f]{{12}}); 0 remain", rotated.output)
    assert match, rotated.output
    new_kek = match.group(1)
    assert new_kek != old_kek and key_usage(services.engine) == {new_kek: N}
    assert reader.failures == [], (len(reader.failures), reader.failures[:3])
    _retire_and_reread(services, started, old_kek, ids, expected)
    # The service that was running all along still reads everything.
    assert {sid: _read(services, sid) for sid in ids} == expected
