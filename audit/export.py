"""JSON Lines export of the audit log, verifiable offline.

An auditor needs only this package and the trusted checkpoint public key.
One JSON object per line, in this order:

1. header::

       {"type":"header","format":"creditgate-audit-export/1",
        "public_keys":{"<key_id>":"<base64 raw 32-byte Ed25519 key>"},
        "exported_at":"<RFC 3339 UTC timestamp>"}

2. every checkpoint, ordered by tree size::

       {"type":"checkpoint","tree_size":N,"root_hash":"<base64>",
        "ts":"...","key_id":"...","signature":"<base64>"}

3. every entry, in seq order::

       {"type":"entry","seq":N,"body":"<canonical entry JSON, as a string>",
        "leaf_hash":"<base64>"}

   ``leaf_hash`` (the hash the database stored, if any) is optional. A body
   that is not valid UTF-8, which only tampering can produce, is written as
   ``"body_b64"`` instead of ``"body"`` so that it is exported byte for byte.

Checkpoints come before entries so that verification is a single streaming
pass. The keys in the header are informational only: whoever can write the
file can put their own key there, so verification should be given the
auditor's own trusted copy of the key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import (
    Checkpoint,
    checkpoint_from_json,
    checkpoint_to_json,
    key_id_for,
    public_key_bytes,
)
from audit.entry import now_ts
from audit.merkle import EMPTY_ROOT
from audit.verify import (
    CHECKPOINT_BEYOND_LOG,
    NO_CHECKPOINT,
    StoredEntry,
    VerifyReport,
    merge_checkpoints,
    verify_log,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_MALFORMED",
    "read_export_header_keys",
    "verify_export",
    "write_export",
]

EXPORT_FORMAT = "creditgate-audit-export/1"
#: Problem code of verify_export for a file that does not follow the format.
EXPORT_MALFORMED = "export_malformed"


def _line(obj: Mapping[str, Any]) -> str:
    # ASCII-only lines survive any file encoding mistake; the body string is
    # recovered exactly by JSON decoding either way.
    return json.dumps(obj, separators=(",", ":")) + "\n"


def write_export(
    fp: TextIO,
    entries: Iterable[StoredEntry],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``fp`` and return the number of entries written.

    ``entries`` in seq order and ``checkpoints`` by tree size should come
    from one consistent database snapshot. ``public_keys`` maps key ids to
    keys for the header; a key id that does not match its key is refused
    with ValueError. ``progress(n)`` gets the entries written since its last
    call, about every 10,000 entries and once at the end.
    """
    header_keys: dict[str, str] = {}
    for key_id, key in public_keys.items():
        if key_id_for(key) != key_id:
            raise ValueError(f"key id {key_id!r} does not match its public key")
        header_keys[key_id] = base64.b64encode(public_key_bytes(key)).decode("ascii")
    write = fp.write
    write(
        _line(
            {
                "type": "header",
                "format": EXPORT_FORMAT,
                "public_keys": header_keys,
                "exported_at": now_ts(),
            }
        )
    )
    for cp in checkpoints:
        write(_line({"type": "checkpoint", **checkpoint_to_json(cp)}))
    count = 0
    reported = 0
    for entry in entries:
        line: dict[str, Any] = {"type": "entry", "seq": entry.seq}
        try:
            line["body"] = entry.body.decode("utf-8")
        except UnicodeDecodeError:
            line["body_b64"] = base64.b64encode(entry.body).decode("ascii")
        if entry.leaf_hash is not None:
            line["leaf_hash"] = base64.b64encode(entry.leaf_hash).decode("ascii")
        write(_line(line))
        count += 1
        if progress is not None and count - reported >= 10_000:
            progress(count - reported)
            reported = count
    if progress is not None and count > reported:
        progress(count - reported)
    return count


class _ExportError(ValueError):
    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


def _b64(value: object, what: str, lineno: int) -> bytes:
    if not isinstance(value, str):
        raise _ExportError(f"line {lineno}: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _ExportError(f"line {lineno}: {what} is not valid base64") from None


def _parse_line(line: str, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except ValueError:
        raise _ExportError(f"line {lineno}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise _ExportError(f"line {lineno}: not a JSON object")
    return obj


def _header_keys(header: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    raw_keys = header.get("public_keys")
    if not isinstance(raw_keys, dict):
        raise _ExportError("line 1: header public_keys must be an object")
    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, encoded in raw_keys.items():
        raw = _b64(encoded, "header public key", 1)
        if len(raw) != 32:
            raise _ExportError("line 1: header public key must be 32 bytes")
        key = Ed25519PublicKey.from_public_bytes(raw)
        if key_id_for(key) != key_id:
            raise _ExportError("line 1: header key id does not match its key")
        keys[key_id] = key
    return keys


class _Reader:
    """Streams an export file: header, then checkpoints, then entries."""

    def __init__(self, fp: TextIO) -> None:
        self._lines = enumerate(fp, start=1)
        self._pending: tuple[int, dict[str, Any]] | None = None
        self.error: _ExportError | None = None

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        for lineno, line in self._lines:
            if line.strip():
                return lineno, _parse_line(line, lineno)
        return None

    def header(self) -> dict[str, Any]:
        item = self._next()
        if item is None:
            raise _ExportError("the export is empty")
        _, header = item
        if header.get("type") != "header" or header.get("format") != EXPORT_FORMAT:
            raise _ExportError(f"line 1: not a {EXPORT_FORMAT} header")
        return header

    def checkpoints(self) -> list[Checkpoint]:
        found: list[Checkpoint] = []
        while (item := self._next()) is not None:
            lineno, obj = item
            kind = obj.get("type")
            if kind == "entry":
                self._pending = item
                break
            if kind != "checkpoint":
                raise _ExportError(f"line {lineno}: unexpected line type before entries")
            try:
                found.append(checkpoint_from_json(obj))
            except ValueError as exc:
                raise _ExportError(f"line {lineno}: {exc}") from None
        return found

    def _entry(self, lineno: int, obj: Mapping[str, Any]) -> StoredEntry:
        kind = obj.get("type")
        if kind != "entry":
            raise _ExportError(
                f"line {lineno}: a {'checkpoint' if kind == 'checkpoint' else 'non-entry'} "
                "line after the entries"
            )
        seq = obj.get("seq")
        if type(seq) is not int:
            raise _ExportError(f"line {lineno}: entry seq must be an integer")
        if "body" in obj and isinstance(obj["body"], str):
            try:
                body = obj["body"].encode("utf-8")
            except UnicodeEncodeError:
                raise _ExportError(f"line {lineno}: entry body is not valid text", seq) from None
        elif "body_b64" in obj:
            body = _b64(obj["body_b64"], "entry body_b64", lineno)
        else:
            raise _ExportError(f"line {lineno}: entry has no body", seq)
        leaf: bytes | None = None
        if obj.get("leaf_hash") is not None:
            leaf = _b64(obj["leaf_hash"], "entry leaf_hash", lineno)
        return StoredEntry(seq=seq, body=body, leaf_hash=leaf)

    def entries(self) -> Iterator[StoredEntry]:
        # Errors end the stream instead of propagating through verify_log, so
        # that a problem verify_log found earlier in the file still wins.
        try:
            if self._pending is not None:
                lineno, obj = self._pending
                self._pending = None
                yield self._entry(lineno, obj)
            while (item := self._next()) is not None:
                yield self._entry(*item)
        except _ExportError as exc:
            self.error = exc


def read_export_header_keys(fp: TextIO) -> dict[str, Ed25519PublicKey]:
    """Return the public keys named in an export's header (untrusted!).

    Reads only the first line. Raises ValueError if the header is malformed.
    """
    reader = _Reader(fp)
    return _header_keys(reader.header())


def _malformed(exc: _ExportError, base: VerifyReport | None) -> VerifyReport:
    return VerifyReport(
        ok=False,
        entries_checked=base.entries_checked if base else 0,
        checkpoints_checked=base.checkpoints_checked if base else 0,
        tree_size=base.tree_size if base else 0,
        root_hash=base.root_hash if base else EMPTY_ROOT,
        first_bad_seq=exc.seq,
        problem=EXPORT_MALFORMED,
        detail=str(exc),
        uncovered_entries=base.uncovered_entries if base else 0,
    )


def verify_export(
    fp: TextIO,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    progress: Callable[[int], None] | None = None,
    saved: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Verify an export in one streaming pass; see :func:`audit.verify.verify_log`.

    With ``public_keys`` (the auditor's trusted keys by key id) the header's
    keys are ignored. With None the header's keys are used, which proves only
    internal consistency: the caller must say so to whoever reads the result.
    A file that breaks the format gives problem ``export_malformed``.

    Every entry up to the export's latest checkpoint is recomputed into that
    checkpoint's signed root, which proves each one included in it.
    ``saved`` are checkpoints kept from earlier (an auditor's copies, a witness
    directory): the export must be consistent with each of them, that is, hold
    the very tree each one signed as its prefix (see
    :func:`audit.verify.merge_checkpoints`).
    """
    reader = _Reader(fp)
    try:
        header = reader.header()
        keys = _header_keys(header) if public_keys is None else public_keys
        checkpoints = merge_checkpoints(reader.checkpoints(), saved)
    except _ExportError as exc:
        return _malformed(exc, None)
    report = verify_log(reader.entries(), checkpoints, keys, progress)
    error = reader.error
    if error is not None and (
        report.ok or report.problem in (CHECKPOINT_BEYOND_LOG, NO_CHECKPOINT)
    ):
        # Those outcomes only say the entry stream ended, which it did because
        # of the malformed line.
        return _malformed(error, report)
    return report
