"""Saved checkpoints: the file format of witness copies and of checkpoints kept by auditors.

A checkpoint file holds one checkpoint as JSON (the form of
:func:`audit.checkpoint.checkpoint_to_json`, keys sorted, one line). A witness
directory holds one such file per checkpoint, named
``checkpoint-<tree size, 20 digits>.json`` so that names sort by size. The
signature inside is what makes a copy worth keeping: whoever holds an older
checkpoint can prove that the log presented later is not an extension of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from audit.checkpoint import Checkpoint, checkpoint_from_json, checkpoint_to_json

__all__ = [
    "WITNESS_FILE",
    "checkpoint_file_bytes",
    "read_checkpoint_file",
    "read_checkpoints",
    "witness_file_name",
]

#: Names of witness files; the group is the tree size.
WITNESS_FILE = re.compile(r"checkpoint-([0-9]{20})\.json")
# A checkpoint file is a few hundred bytes; refuse to read anything much larger.
_MAX_FILE_BYTES = 64 * 1024


def witness_file_name(tree_size: int) -> str:
    """The file name of the witness copy of the checkpoint at ``tree_size``."""
    return f"checkpoint-{tree_size:020d}.json"


def checkpoint_file_bytes(cp: Checkpoint) -> bytes:
    """The exact content of a checkpoint file (deterministic, so copies compare equal)."""
    return (json.dumps(checkpoint_to_json(cp), sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def read_checkpoint_file(path: Path) -> Checkpoint:
    """Parse one checkpoint file (also a checkpoint saved from the HTTP API, whose
    extra keys are ignored). Raises ValueError naming the file when it is not one;
    OSError when it cannot be read. The signature is not checked here."""
    with path.open("rb") as fp:
        data = fp.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: too large for a checkpoint file")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{path.name}: not a JSON checkpoint") from None
    if isinstance(obj, dict) and isinstance(obj.get("checkpoint"), dict):
        obj = obj["checkpoint"]  # as the HTTP API answers: {"checkpoint": {...}, ...}
    try:
        return checkpoint_from_json(obj)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoints in a witness directory (files named by :func:`witness_file_name`,
    other files ignored) or in one checkpoint file, smallest tree first.

    Raises ValueError for a file that is not a checkpoint, or whose name states
    another tree size than its content.
    """
    if not path.is_dir():
        return [read_checkpoint_file(path)]
    found: list[Checkpoint] = []
    for entry in sorted(path.iterdir()):
        match = WITNESS_FILE.fullmatch(entry.name)
        if match is None or not entry.is_file():
            continue
        cp = read_checkpoint_file(entry)
        if cp.tree_size != int(match.group(1)):
            raise ValueError(f"{entry.name}: holds the checkpoint of tree size {cp.tree_size}")
        found.append(cp)
    return found
