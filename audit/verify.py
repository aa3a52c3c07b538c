"""Streaming verification of a stored audit log against signed checkpoints.

:func:`verify_log` makes one pass over the entries in seq order and keeps only
the Merkle frontier (O(log n) hashes) and the list of checkpoints in memory.
It stops at the first problem and reports it with a stable code:

=================================  ==========================================
``seq_gap``                        a seq is missing; first_bad_seq is the first
                                   missing one
``seq_duplicate_or_reordered``     a seq repeats, goes backwards, or two rows
                                   are out of order
``body_not_canonical``             the body does not decode as an entry, or
                                   is not byte-for-byte its canonical encoding
``body_seq_mismatch``              the seq inside the body is not the row seq
``column_mismatch``                a denormalised column differs from the body
``leaf_hash_mismatch``             the stored leaf hash is not the body's hash
``checkpoint_signature_invalid``   a checkpoint's signature does not verify
``checkpoint_unknown_key``         a checkpoint names a key that is not trusted
``checkpoint_root_mismatch``       the entries do not hash to a signed root
``checkpoint_beyond_log``          a signed checkpoint covers more entries than
                                   exist: entries were removed from the end
``checkpoints_not_monotonic``      checkpoints are not ordered by tree size
``no_checkpoint``                  there are entries but no checkpoint at all
=================================  ==========================================

Problem details name seq numbers, sizes and field names, never body content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit._canonical import (
    DETAIL_KEY_GROUPS,
    FAST_BODY,
    FAST_GROUP_INDEX,
    FAST_STR_FIELDS,
)
from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.entry import body_to_fields, is_canonical_fields
from audit.merkle import EMPTY_ROOT, MerkleFrontier

__all__ = [
    "BODY_NOT_CANONICAL",
    "BODY_SEQ_MISMATCH",
    "CHECKPOINTS_NOT_MONOTONIC",
    "CHECKPOINT_BEYOND_LOG",
    "CHECKPOINT_ROOT_MISMATCH",
    "CHECKPOINT_SIGNATURE_INVALID",
    "CHECKPOINT_UNKNOWN_KEY",
    "COLUMN_MISMATCH",
    "LEAF_HASH_MISMATCH",
    "NO_CHECKPOINT",
    "PROBLEM_CODES",
    "PROGRESS_INTERVAL",
    "SEQ_DUPLICATE_OR_REORDERED",
    "SEQ_GAP",
    "StoredEntry",
    "VerifyReport",
    "merge_checkpoints",
    "verify_log",
    "verify_rows",
]

SEQ_GAP = "seq_gap"
SEQ_DUPLICATE_OR_REORDERED = "seq_duplicate_or_reordered"
BODY_NOT_CANONICAL = "body_not_canonical"
BODY_SEQ_MISMATCH = "body_seq_mismatch"
COLUMN_MISMATCH = "column_mismatch"
LEAF_HASH_MISMATCH = "leaf_hash_mismatch"
CHECKPOINT_SIGNATURE_INVALID = "checkpoint_signature_invalid"
CHECKPOINT_UNKNOWN_KEY = "checkpoint_unknown_key"
CHECKPOINT_ROOT_MISMATCH = "checkpoint_root_mismatch"
CHECKPOINT_BEYOND_LOG = "checkpoint_beyond_log"
CHECKPOINTS_NOT_MONOTONIC = "checkpoints_not_monotonic"
NO_CHECKPOINT = "no_checkpoint"

PROBLEM_CODES: frozenset[str] = frozenset(
    {
        SEQ_GAP,
        SEQ_DUPLICATE_OR_REORDERED,
        BODY_NOT_CANONICAL,
        BODY_SEQ_MISMATCH,
        COLUMN_MISMATCH,
        LEAF_HASH_MISMATCH,
        CHECKPOINT_SIGNATURE_INVALID,
        CHECKPOINT_UNKNOWN_KEY,
        CHECKPOINT_ROOT_MISMATCH,
        CHECKPOINT_BEYOND_LOG,
        CHECKPOINTS_NOT_MONOTONIC,
        NO_CHECKPOINT,
    }
)

#: verify_log calls ``progress`` about this often (in entries).
PROGRESS_INTERVAL = 10_000

# Larger than any tree size, so "no further event" needs no special case in
# the hot loop's single equality test.
_NEVER = 1 << 64


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the database holds it.

    ``leaf_hash`` is the hash stored next to the body, if any. ``columns`` are
    denormalised copies of entry fields kept for querying (for example
    ``{"actor_id": ..., "subject": ..., "action": ..., "ts": ...}``); each
    must equal the body's field of the same name.
    """

    seq: int
    body: bytes
    leaf_hash: bytes | None
    columns: Mapping[str, object] | None = None


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of a verification.

    ``tree_size`` and ``root_hash`` describe the entries processed before the
    run stopped (all of them when ``ok``). ``uncovered_entries`` counts the
    processed entries after the last verified checkpoint: no signature
    protects them yet.
    """

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    tree_size: int
    root_hash: bytes
    first_bad_seq: int | None
    problem: str | None
    detail: str
    uncovered_entries: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (root hash as hex)."""
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "detail": self.detail,
            "uncovered_entries": self.uncovered_entries,
        }


def _root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    node = hashes[-1]
    for left in reversed(hashes[:-1]):
        node = sha256(b"\x01" + left + node).digest()
    return node


_Problem = tuple[str, int | None, str]


def _short(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _check_checkpoint(
    cp: Checkpoint,
    hashes: list[bytes],
    public_keys: Mapping[str, Ed25519PublicKey],
    last_good: int,
) -> _Problem | None:
    problem = _check_checkpoint_key(cp, public_keys)
    if problem is not None:
        return problem
    size = cp.tree_size
    if _root(hashes) != cp.root_hash:
        if size > last_good:
            first = last_good + 1
            where = f"seq {first}" if first == size else f"seq {first}..{size}"
            return (
                CHECKPOINT_ROOT_MISMATCH,
                first,
                f"entries do not hash to the root signed at tree size {size}; an entry was "
                f"changed, inserted or removed somewhere in {where}",
            )
        return (
            CHECKPOINT_ROOT_MISMATCH,
            None,
            f"validly signed checkpoint at tree size {size} disagrees with the entries "
            "that an earlier checkpoint of the same size already verified",
        )
    return None


def _check_checkpoint_key(
    cp: Checkpoint, public_keys: Mapping[str, Ed25519PublicKey]
) -> _Problem | None:
    key = public_keys.get(cp.key_id)
    if key is None:
        return (
            CHECKPOINT_UNKNOWN_KEY,
            None,
            f"checkpoint at tree size {cp.tree_size} names key id {_short(cp.key_id)}, "
            "which is not a trusted key",
        )
    if not verify_checkpoint(cp, key):
        return (
            CHECKPOINT_SIGNATURE_INVALID,
            None,
            f"signature of the checkpoint at tree size {cp.tree_size} does not verify",
        )
    return None


def _column_problem(
    fields: Mapping[str, Any], columns: Mapping[str, object], seq: int
) -> _Problem | None:
    for name, value in columns.items():
        if name not in fields or name == "v":
            return (
                COLUMN_MISMATCH,
                seq,
                f"seq {seq}: column {_short(name)} is not an entry field",
            )
        if fields[name] != value:
            return (
                COLUMN_MISMATCH,
                seq,
                f"seq {seq}: column {_short(name)} differs from the entry body",
            )
    return None


def _slow_body_problem(
    body: bytes, seq: int, columns: Mapping[str, object] | None
) -> _Problem | None:
    # The exact path: full parse, validation and re-encoding. Used for bodies
    # the fast pattern does not vouch for, so it decides every edge case.
    try:
        fields = body_to_fields(body)
    except ValueError as exc:
        return (BODY_NOT_CANONICAL, seq, f"seq {seq}: body is not a valid entry: {exc}")
    if not is_canonical_fields(fields, body):
        return (BODY_NOT_CANONICAL, seq, f"seq {seq}: body is not in canonical form")
    if fields["seq"] != seq:
        return (
            BODY_SEQ_MISMATCH,
            seq,
            f"row seq {seq} holds a body whose seq is {fields['seq']}",
        )
    if columns:
        return _column_problem(fields, columns, seq)
    return None


def _no_columns(columns: object) -> None:
    return None


def _keys_increasing(keys: tuple[str | None, ...]) -> bool:
    previous = keys[0]
    for key in keys[1:]:
        if key is None:
            return True
        if previous is None or not previous < key:
            return False
        previous = key
    return True


def _report(
    problem: _Problem | None,
    entries_checked: int,
    checkpoints_checked: int,
    hashes: list[bytes],
    size: int,
    last_good: int,
) -> VerifyReport:
    if problem is None:
        return VerifyReport(
            ok=True,
            entries_checked=entries_checked,
            checkpoints_checked=checkpoints_checked,
            tree_size=size,
            root_hash=_root(hashes),
            first_bad_seq=None,
            problem=None,
            detail=f"{size} entries and {checkpoints_checked} checkpoints verified",
            uncovered_entries=size - last_good,
        )
    code, first_bad, detail = problem
    return VerifyReport(
        ok=False,
        entries_checked=entries_checked,
        checkpoints_checked=checkpoints_checked,
        tree_size=size,
        root_hash=_root(hashes),
        first_bad_seq=first_bad,
        problem=code,
        detail=detail,
        uncovered_entries=size - last_good,
    )


def merge_checkpoints(logged: Iterable[Checkpoint], saved: Iterable[Checkpoint]) -> list[Checkpoint]:
    """The log's own checkpoints plus checkpoints saved elsewhere (an auditor's copy, a
    witness directory), ordered by tree size, for :func:`verify_log`.

    Verifying the log against a saved checkpoint shows that the log still holds,
    unchanged and in order, the tree that checkpoint signed: a log cut short
    gives ``checkpoint_beyond_log``; rewritten, reordered or forked history gives
    ``checkpoint_root_mismatch``. At equal sizes the saved checkpoint comes
    first, so the log's own is the one reported when the two disagree.
    """
    tagged = [(cp.tree_size, 0, i, cp) for i, cp in enumerate(saved)]
    tagged += [(cp.tree_size, 1, i, cp) for i, cp in enumerate(logged)]
    tagged.sort(key=lambda t: t[:3])
    return [t[3] for t in tagged]


def _precheck_checkpoints(cps: list[Checkpoint]) -> _Problem | None:
    previous = 0
    for cp in cps:
        size = cp.tree_size
        if type(size) is not int or size < 0:
            # signing_payload refuses such sizes, so no valid signature exists.
            return (
                CHECKPOINT_SIGNATURE_INVALID,
                None,
                "a checkpoint has an invalid tree size",
            )
        if size < previous:
            return (
                CHECKPOINTS_NOT_MONOTONIC,
                None,
                f"checkpoint at tree size {size} comes after one at tree size {previous}",
            )
        previous = size
    return None


def verify_log(
    entries: Iterable[StoredEntry],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Callable[[int], None] | None = None,
    *,
    start: MerkleFrontier | None = None,
) -> VerifyReport:
    """Verify a stored log in one streaming pass and report the first problem.

    ``start`` lets several verifiers split one log: given the frontier of the
    first ``start.size`` entries, ``entries`` begin at seq ``start.size + 1``,
    only checkpoints beyond ``start.size`` are checked, and ``entries_checked``
    counts this part only. The caller must have the earlier part verified too
    (the frontier is only as good as the entries it was built from).

    ``entries`` must come in seq order (as the database returns them ordered
    by seq); ``checkpoints`` ordered by tree size; ``public_keys`` maps key
    ids to the trusted checkpoint keys. Checks, in order per entry: seq is
    the next one, the body decodes and is canonical, its seq equals the row
    seq, columns equal body fields, the stored leaf hash equals the
    recomputed one. At every checkpoint size, the signature must verify with
    the named trusted key and the running root must equal the signed root.
    ``progress(n)`` receives the number of entries processed since its last
    call, about every PROGRESS_INTERVAL entries and once at the end.
    """
    rows = ((e.seq, e.body, e.leaf_hash, e.columns) for e in entries)
    return _verify(rows, None, checkpoints, public_keys, progress, start)


def verify_rows(
    rows: Iterable[Sequence[Any]],
    column_names: Sequence[str],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Callable[[int], None] | None = None,
    *,
    start: MerkleFrontier | None = None,
) -> VerifyReport:
    """:func:`verify_log` over plain rows ``(seq, body, leaf_hash, *columns)``, the
    columns being the entry fields ``column_names`` in that order, as a database
    cursor returns them. Verifying a large log is mostly this loop, so it takes the
    rows without building an object per entry."""
    return _verify(rows, tuple(column_names), checkpoints, public_keys, progress, start)


def _verify(
    rows: Iterable[Sequence[Any]],
    fixed_names: tuple[str, ...] | None,
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Callable[[int], None] | None,
    start: MerkleFrontier | None,
) -> VerifyReport:
    # ``fixed_names`` None: row[3] is a Mapping of columns (or None) per entry.
    offset = start.size if start is not None else 0
    cps = [cp for cp in checkpoints if cp.tree_size > offset] if offset else list(checkpoints)
    ncp = len(cps)
    hashes: list[bytes] = list(start.hashes) if start is not None else []
    size = offset
    checked_cps = 0
    last_good = offset
    reported = offset
    ci = 0

    problem = _precheck_checkpoints(cps)
    if problem is not None:
        return _report(problem, 0, 0, hashes, 0, 0)
    while ci < ncp and cps[ci].tree_size == 0:
        problem = _check_checkpoint(cps[ci], hashes, public_keys, last_good)
        if problem is not None:
            return _report(problem, 0, checked_cps, hashes, 0, 0)
        checked_cps += 1
        ci += 1

    interval = PROGRESS_INTERVAL if progress is not None else _NEVER
    next_progress = offset + interval
    next_cp = cps[ci].tree_size if ci < ncp else _NEVER
    next_event = min(next_progress, next_cp)

    # Hot loop: everything it touches is a local, and bodies the fast pattern
    # accepts are never parsed into Python objects. One groups() call per
    # entry plus positional getters is much cheaper than group() by name.
    sha256 = hashlib.sha256
    fast_match = FAST_BODY.fullmatch
    seq_at = FAST_GROUP_INDEX["seq"]
    keys_from = FAST_GROUP_INDEX[DETAIL_KEY_GROUPS[0]]
    keys_to = keys_from + len(DETAIL_KEY_GROUPS)
    second_key = keys_from + 1
    known_keys: tuple[str | None, ...] = ()
    col_names: tuple[str, ...] = ()
    col_count = 0
    col_get: Callable[[Any], Any] = _no_columns
    col_groups: Callable[[Any], Any] = _no_columns
    col_fast = False
    fixed = fixed_names is not None
    fixed_count = len(fixed_names) if fixed_names is not None else 0
    fixed_groups: Callable[[Any], tuple[Any, ...]] = _no_columns  # type: ignore[assignment]
    if fixed_names:
        if not FAST_STR_FIELDS.issuperset(fixed_names):
            raise ValueError(f"columns {sorted(set(fixed_names) - FAST_STR_FIELDS)} are not entry text fields")
        getter = itemgetter(*(FAST_GROUP_INDEX[n] for n in fixed_names))
        fixed_groups = getter if fixed_count > 1 else (lambda g: (getter(g),))

    it = iter(rows)
    for row in it:
        seq = row[0]
        if seq != size + 1:
            problem = _seq_problem(seq, size + 1, it)
            break
        body = row[1]  # bytes from sqlite3 and psycopg alike
        try:
            match = fast_match(body.decode())
        except UnicodeDecodeError:
            match = None
        columns = None if fixed else row[3]
        if match is not None:
            groups = match.groups()
            if groups[second_key] is not None:
                keys = groups[keys_from:keys_to]
                if keys != known_keys:
                    if _keys_increasing(keys):
                        known_keys = keys
                    else:
                        match = None
        if match is None:
            if fixed and fixed_count:
                columns = dict(zip(fixed_names, row[3:], strict=True))  # type: ignore[arg-type]
            problem = _slow_body_problem(body, seq, columns)
            if problem is not None:
                break
        else:
            if int(groups[seq_at]) != seq:
                problem = (
                    BODY_SEQ_MISMATCH,
                    seq,
                    f"row seq {seq} holds a body whose seq is {groups[seq_at]}",
                )
                break
            if fixed:
                if fixed_count and tuple(row[3:]) != fixed_groups(groups):
                    # The exact comparison decides and explains.
                    named = dict(zip(fixed_names, row[3:], strict=True))  # type: ignore[arg-type]
                    problem = _column_problem(body_to_fields(body), named, seq)
                    if problem is not None:
                        break
            elif columns:
                same = False
                if col_fast and len(columns) == col_count:
                    try:
                        same = col_get(columns) == col_groups(groups)
                    except KeyError:
                        same = False
                if not same:
                    names = tuple(columns)
                    if names != col_names:
                        # A new set of column names: cache getters for it.
                        col_names = names
                        col_count = len(names)
                        col_get = itemgetter(*names)
                        col_fast = FAST_STR_FIELDS.issuperset(names)
                        if col_fast:
                            col_groups = itemgetter(*(FAST_GROUP_INDEX[n] for n in names))
                    if col_fast:
                        same = col_get(columns) == col_groups(groups)
                    if not same:
                        # The exact comparison decides and explains.
                        problem = _column_problem(body_to_fields(body), columns, seq)
                        if problem is not None:
                            break
        leaf = sha256(b"\x00" + body).digest()
        stored = row[2]
        if stored is not None and stored != leaf:
            problem = (
                LEAF_HASH_MISMATCH,
                seq,
                f"seq {seq}: stored leaf hash does not match the body",
            )
            break
        # Merkle frontier append (see MerkleFrontier.append), inlined.
        n = size
        node = leaf
        while n & 1:
            node = sha256(b"\x01" + hashes.pop() + node).digest()
            n >>= 1
        hashes.append(node)
        size += 1
        if size == next_event:
            if size == next_progress:
                assert progress is not None
                progress(size - reported)
                reported = size
                next_progress = size + interval
            while ci < ncp and cps[ci].tree_size == size:
                problem = _check_checkpoint(cps[ci], hashes, public_keys, last_good)
                if problem is not None:
                    break
                checked_cps += 1
                last_good = size
                ci += 1
            if problem is not None:
                break
            next_cp = cps[ci].tree_size if ci < ncp else _NEVER
            next_event = min(next_progress, next_cp)

    if problem is None and ci < ncp:
        # Every remaining checkpoint is beyond the last entry. Its signature
        # is checked first: a forged one proves nothing about deletions.
        cp = cps[ci]
        problem = _check_checkpoint_key(cp, public_keys)
        if problem is None:
            problem = (
                CHECKPOINT_BEYOND_LOG,
                size + 1,
                f"a validly signed checkpoint covers {cp.tree_size} entries but the log "
                f"ends after seq {size}: entries {size + 1}..{cp.tree_size} were removed",
            )
    if problem is None and ncp == 0 and size > 0 and offset == 0:
        problem = (
            NO_CHECKPOINT,
            None,
            f"the log has {size} entries but no signed checkpoint protects any of them",
        )
    if progress is not None and size > reported:
        progress(size - reported)
    return _report(problem, size - offset, checked_cps, hashes, size, last_good)


def _seq_problem(seq: int, expected: int, rest: Iterable[Sequence[Any]]) -> _Problem:
    if seq > expected:
        # A jump forward is a gap unless a skipped seq turns up right after
        # it, in which case rows were swapped. One row of look-ahead tells.
        following = next(iter(rest), None)
        if following is not None and expected <= following[0] < seq:
            return (
                SEQ_DUPLICATE_OR_REORDERED,
                expected,
                f"seq {seq} appears where seq {expected} was expected and "
                f"seq {following[0]} follows it: entries are out of order",
            )
        missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}..{seq - 1}"
        return (SEQ_GAP, expected, f"{missing} missing: the next row has seq {seq}")
    return (
        SEQ_DUPLICATE_OR_REORDERED,
        seq,
        f"seq {seq} appears again after seq {expected - 1}",
    )
