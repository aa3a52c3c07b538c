"""Checkpoints kept outside the database catch what the database alone cannot show:
an attacker who truncates, rewrites or reorders the log and deletes the checkpoints
over the change (signing nothing) leaves a log that verifies by itself, but not
against a checkpoint saved earlier or the witness directory; nor does a log against
a forked checkpoint (one the service signed over another tree)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from audit import Checkpoint, MerkleFrontier, checkpoint_file_bytes, leaf_hash, sign_checkpoint, witness_file_name
from audit.__main__ import main as offline_main
from service.audit_log.store import iter_entries, load_checkpoints
from service.runtime import Services
from tests.service.cli.test_audit_verify_cli import (  # noqa: F401  (fixtures)
    FAILED,
    N,
    StoredEntry,
    _tamper,
    _verify,
    log,
    modify_body_and_leaf_hash,
    swap_bodies_and_renumber,
    verify_args,
)

Attack = Callable[[Connection, dict[int, StoredEntry]], None]


def _forget_checkpoints_from(conn: Connection, first: int) -> None:
    """What an attacker without the signing key does after a change: drop the signatures over it."""
    conn.execute(text("DELETE FROM audit_checkpoints WHERE tree_size >= :n"), {"n": first})
    conn.execute(text("UPDATE audit_head SET checkpoint_size = (SELECT COALESCE(MAX(tree_size), 0) "
                      "FROM audit_checkpoints) WHERE id = 1"))


def truncate(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq > 30"))
    _forget_checkpoints_from(conn, 31)
    frontier = MerkleFrontier()
    for seq in range(1, 31):
        frontier.append(leaf_hash(rows[seq].body))
    conn.execute(text("UPDATE audit_head SET size = 30, frontier = :f WHERE id = 1"), {"f": frontier.to_bytes()})


def rewrite(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    modify_body_and_leaf_hash(conn, rows)
    _forget_checkpoints_from(conn, 17)


def reorder(conn: Connection, rows: dict[int, StoredEntry]) -> None:
    swap_bodies_and_renumber(conn, rows)
    _forget_checkpoints_from(conn, 25)


ATTACKS = {"truncated": (truncate, "checkpoint_beyond_log"), "rewritten": (rewrite, "checkpoint_root_mismatch"),
           "reordered": (reorder, "checkpoint_root_mismatch")}


def _saved(engine: Engine, folder: Path) -> Path:
    """The newest checkpoint, as an auditor keeps it (the body of /v1/audit/checkpoints/latest)."""
    latest = load_checkpoints(engine)[-1]
    assert latest.tree_size == N
    path = folder / "kept.json"
    path.write_bytes(checkpoint_file_bytes(latest))
    return path


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_that_verifies_alone_is_caught_by_a_saved_checkpoint(
    log: Engine, services: Services, verify_args: list[str], tmp_path: Path, attack: str  # noqa: F811
) -> None:
    kept = _saved(log, tmp_path)
    how, problem = ATTACKS[attack]
    _tamper(log, how)
    alone = _verify(verify_args)
    assert alone.exit_code == 0, alone.output  # the database by itself looks fine
    result = _verify([*verify_args, "--from-checkpoint", str(kept)])
    assert result.exit_code == 1, result.output
    match = FAILED.search(result.output)
    assert match and match.group(1) == problem, result.output
    assert "1 saved checkpoints given (largest tree size 60)" in result.output


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_is_caught_by_the_witness_directory(log: Engine, services: Services, attack: str) -> None:  # noqa: F811
    services.witness.sync()
    copies = sorted(os.listdir(services.settings.witness_directory))
    assert copies == [witness_file_name(cp.tree_size) for cp in load_checkpoints(log)]
    assert _verify(["audit", "verify", "--witness"]).exit_code == 0
    how, problem = ATTACKS[attack]
    _tamper(log, how)
    result = _verify(["audit", "verify", "--witness"])
    assert result.exit_code == 1, result.output
    match = FAILED.search(result.output)
    assert match and match.group(1) == problem, result.output


def _forked(services: Services, size: int) -> Checkpoint:
    """A checkpoint the service's key signed over another tree of ``size`` entries (a split view)."""
    frontier = MerkleFrontier()
    for i in range(size):
        frontier.append(leaf_hash(f"another history {i}".encode()))
    return sign_checkpoint(services.keyring.signing_key("audit"), size, frontier.root(),
                           "2026-12-01T00:00:00.000000Z")


def test_a_forked_checkpoint_is_caught(log: Engine, services: Services, tmp_path: Path) -> None:  # noqa: F811
    forked = tmp_path / "forked.json"
    forked.write_bytes(checkpoint_file_bytes(_forked(services, 40)))
    result = _verify(["audit", "verify", "--from-checkpoint", str(forked)])
    assert result.exit_code == 1
    match = FAILED.search(result.output)
    assert match and match.group(1) == "checkpoint_root_mismatch", result.output
    # The same fork among the witness copies, at a size the log never signed itself.
    services.witness.sync()
    (services.settings.witness_directory / witness_file_name(45)).write_bytes(
        checkpoint_file_bytes(_forked(services, 45)))
    result = _verify(["audit", "verify", "--witness"])
    assert result.exit_code == 1
    match = FAILED.search(result.output)
    assert match and match.group(1) == "checkpoint_root_mismatch", result.output
    assert "signed at tree size 45" in result.output


def test_an_unreadable_saved_checkpoint_is_an_error(log: Engine, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = _verify(["audit", "verify", "--from-checkpoint", str(bad)])
    assert result.exit_code == 1 and "cannot read the saved checkpoints" in result.output


def test_an_export_is_checked_offline_against_saved_checkpoints(
    log: Engine, services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    kept = _saved(log, tmp_path)
    services.witness.sync()
    _tamper(log, truncate)
    export = tmp_path / "trail.jsonl"
    assert _verify(["audit", "export", "--out", str(export)]).exit_code == 0
    public = str(export) + ".pub"
    # The truncated export verifies by itself: every entry is in its latest checkpoint.
    assert offline_main(["verify", str(export), "--public-key", public]) == 0
    capsys.readouterr()
    assert offline_main(["verify", str(export), "--public-key", public, "--checkpoint", str(kept), "--json"]) == 1
    assert '"problem": "checkpoint_beyond_log"' in capsys.readouterr().out
    witness = str(services.settings.witness_directory)
    assert offline_main(["verify", str(export), "--public-key", public, "--checkpoint", witness]) == 1
    assert len(list(iter_entries(log))) == 30
