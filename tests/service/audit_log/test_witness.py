"""Witness copies: every signed checkpoint reaches the witness directory, outside the
commit path; failures are retried, copies never replaced, differing ones reported."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from audit import Checkpoint, checkpoint_file_bytes, read_checkpoints, sign_checkpoint, witness_file_name
from service.audit_log.store import load_checkpoints
from service.audit_log.witness import DirectorySink, WitnessConflict, WitnessPublisher
from service.audit_log.writer import AuditEvent
from service.runtime import Services


def _copies(directory: Path) -> list[Checkpoint]:
    return read_checkpoints(directory) if directory.is_dir() else []


def _fill(services: Services, n: int) -> list[Checkpoint]:
    for i in range(n):
        services.writer.append(AuditEvent(actor_type="institution", actor_id=f"{i:032x}", action="query",
                                          decision="allow", reason="consent"))
        services.writer.checkpoint_now()
    return load_checkpoints(services.engine)


def test_every_checkpoint_gets_a_file_that_reads_back(services: Services) -> None:
    logged = _fill(services, 5)
    services.witness.sync()
    directory = services.settings.witness_directory
    assert directory == services.settings.data_dir / "witness"
    assert read_checkpoints(directory) == logged
    for cp in logged:
        assert (directory / witness_file_name(cp.tree_size)).read_bytes() == checkpoint_file_bytes(cp)
    assert not [p for p in directory.iterdir() if p.name.startswith(".tmp")]
    assert services.witness.sync() == 0  # nothing new


def test_the_background_thread_copies_new_checkpoints(services: Services) -> None:
    logged = _fill(services, 3)
    services.witness.wake()
    deadline = time.monotonic() + 30
    while _copies(services.settings.witness_directory) != logged and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_checkpoints(services.settings.witness_directory) == logged


def test_a_failing_sink_is_retried_and_the_log_goes_on(services: Services, tmp_path: Path) -> None:
    blocked = tmp_path / "witness-here"
    blocked.write_text("a file where the directory should be")
    publisher = WitnessPublisher(services.engine, DirectorySink(blocked), interval=0.05, max_backoff=0.05)
    publisher.start()
    try:
        logged = _fill(services, 3)  # appends and checkpoints commit while every copy fails
        with pytest.raises(OSError):
            publisher.sync()
        blocked.unlink()
        publisher.wake()
        deadline = time.monotonic() + 30
        while _copies(blocked) != logged and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.close()
    assert read_checkpoints(blocked) == logged


def test_a_copy_is_never_replaced_and_a_different_one_is_reported(services: Services, tmp_path: Path) -> None:
    logged = _fill(services, 2)
    sink = DirectorySink(tmp_path / "w")
    sink.put(logged[0])
    sink.put(logged[0])  # the same checkpoint again: nothing to do
    forged = sign_checkpoint(services.keyring.signing_key("audit"), logged[1].tree_size, bytes(32), logged[1].ts)
    sink.put(forged)
    with pytest.raises(WitnessConflict):
        sink.put(logged[1])
    assert read_checkpoints(tmp_path / "w") == [logged[0], forged]
    # The publisher reports the conflict, keeps the old copy and carries on.
    publisher = WitnessPublisher(services.engine, sink)
    publisher._copied = 0  # start from the beginning, as after losing track
    assert publisher.sync() == 0
    assert read_checkpoints(tmp_path / "w") == [logged[0], forged]
    later = _fill(services, 1)[-1]
    assert publisher.sync() == 1
    assert read_checkpoints(tmp_path / "w")[-1] == later


def test_a_witness_directory_with_a_misnamed_copy_is_refused(tmp_path: Path, services: Services) -> None:
    logged = _fill(services, 1)
    (tmp_path / witness_file_name(99)).write_bytes(checkpoint_file_bytes(logged[0]))
    with pytest.raises(ValueError, match="tree size"):
        read_checkpoints(tmp_path)


def test_the_witness_directory_is_configured_by_environment(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    from service.config import Settings

    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CREDITGATE_WITNESS_DIR", raising=False)
    assert Settings.from_env().witness_directory == (tmp_path / "data" / "witness").resolve()
    monkeypatch.setenv("CREDITGATE_WITNESS_DIR", str(tmp_path / "elsewhere"))
    assert Settings.from_env().witness_directory == tmp_path / "elsewhere"
