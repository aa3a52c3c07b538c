"""Audit entries and their canonical byte encoding.

An entry is encoded as the UTF-8 bytes of::

    json.dumps(obj, sort_keys=True, separators=(",", ":"),
               ensure_ascii=False, allow_nan=False)

where ``obj`` holds every field of :class:`AuditEntry` plus ``"v": 1`` (the
format version). These bytes are what the Merkle tree hashes, so the mapping
between an entry and its bytes must be one-to-one: that is why floats are
refused (their textual form is not stable across languages), dictionary keys
must be strings and integers must be real integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit._canonical import ENTRY_KEYS, TS_PATTERN, dumps_sorted, escape_str, parse_json

__all__ = [
    "DECISIONS",
    "FORMAT_VERSION",
    "AuditEntry",
    "decode_entry",
    "encode_entry",
    "format_ts",
    "now_ts",
]

FORMAT_VERSION = 1
DECISIONS: frozenset[str] = frozenset({"allow", "deny", "record"})

# Deep enough for any sensible details value; bounding the walk also turns a
# self-referencing container into a clean ValueError instead of a crash.
_MAX_DEPTH = 32

_ENTRY_KEY_SET = frozenset(ENTRY_KEYS)
_REQUIRED_STR = ("actor_type", "actor_id", "action", "reason", "ts")
_OPTIONAL_STR = ("subject", "purpose", "consent_id", "request_id")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry.

    ``subject`` is a random pseudonym, never personal data. ``details`` holds
    JSON values only: str, int, bool, None, lists (or tuples, which decode as
    lists) and mappings with str keys; floats are rejected by
    :func:`encode_entry`.
    """

    seq: int
    ts: str
    actor_type: str
    actor_id: str
    action: str
    subject: str | None
    purpose: str | None
    consent_id: str | None
    decision: str
    reason: str
    request_id: str | None
    details: Mapping[str, Any]


def now_ts() -> str:
    """Return the current UTC time as RFC 3339 with microseconds and 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_ts(moment: datetime) -> str:
    """Format an aware datetime as an entry timestamp (UTC, microseconds, 'Z')."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_json_value(value: object, depth: int) -> None:
    # json.dumps would happily encode floats and turn int dict keys into
    # strings; both break the one-to-one mapping, so they are refused here.
    if depth > _MAX_DEPTH:
        raise ValueError("details nested too deeply (or contain a cycle)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"details keys must be str, not {type(key).__name__}")
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                continue
            _check_json_value(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                continue
            _check_json_value(item, depth + 1)
    elif isinstance(value, float):
        raise ValueError("floats are not allowed in details (no canonical encoding)")
    elif not (value is None or isinstance(value, str | int)):
        raise ValueError(f"details may not contain {type(value).__name__} values")


def _check_fields(entry: AuditEntry) -> None:
    # Only reached when the cheap exact-type test in encode_entry fails, so
    # it can afford to be thorough and produce a precise message.
    seq = entry.seq
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError("seq must be an int")
    if seq < 1:
        raise ValueError("seq must be >= 1")
    for name in _REQUIRED_STR:
        if not isinstance(getattr(entry, name), str):
            raise ValueError(f"{name} must be a str")
    for name in _OPTIONAL_STR:
        value = getattr(entry, name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a str or None")
    if not isinstance(entry.decision, str):
        raise ValueError("decision must be a str")
    if not isinstance(entry.details, Mapping):
        raise ValueError("details must be a mapping")


def _opt_json(value: str | None) -> str:
    return "null" if value is None else escape_str(value)


def encode_entry(entry: AuditEntry) -> bytes:
    """Return the canonical bytes of ``entry``.

    Raises ValueError when a field has the wrong type, ``seq`` is not an int
    >= 1, ``decision`` is unknown, ``ts`` is not in the entry format, or
    ``details`` holds anything but JSON values (floats and non-str keys
    included).
    """
    seq = entry.seq
    details = entry.details
    if not (
        type(seq) is int
        and seq >= 1
        and type(entry.actor_type) is str
        and type(entry.actor_id) is str
        and type(entry.action) is str
        and type(entry.reason) is str
        and type(entry.ts) is str
        and type(entry.decision) is str
        and type(details) is dict
    ):
        _check_fields(entry)
        if type(details) is not dict:
            details = dict(details)
    if entry.decision not in DECISIONS:
        raise ValueError("decision must be one of 'allow', 'deny', 'record'")
    if TS_PATTERN.fullmatch(entry.ts) is None:
        raise ValueError("ts must look like 2026-11-21T22:16:06.123456Z")
    if details:
        _check_json_value(details, 0)
        details_json = dumps_sorted(details)
    else:
        details_json = "{}"
    # Top-level keys are fixed, so the object is assembled directly in sorted
    # key order; only details need the general encoder. Tests compare the
    # result with json.dumps to keep the two from drifting apart.
    try:
        text = (
            f'{{"action":{escape_str(entry.action)}'
            f',"actor_id":{escape_str(entry.actor_id)}'
            f',"actor_type":{escape_str(entry.actor_type)}'
            f',"consent_id":{_opt_json(entry.consent_id)}'
            f',"decision":{escape_str(entry.decision)}'
            f',"details":{details_json}'
            f',"purpose":{_opt_json(entry.purpose)}'
            f',"reason":{escape_str(entry.reason)}'
            f',"request_id":{_opt_json(entry.request_id)}'
            f',"seq":{seq:d}'
            f',"subject":{_opt_json(entry.subject)}'
            f',"ts":{escape_str(entry.ts)}'
            ',"v":1}'
        )
        return text.encode("utf-8")
    except TypeError as exc:
        # Optional fields are not covered by the fast type test above.
        raise ValueError(f"invalid entry field: {exc}") from None
    except UnicodeEncodeError:
        raise ValueError("entry contains a lone surrogate, which is not valid UTF-8") from None


def body_to_fields(body: bytes) -> dict[str, Any]:
    """Parse and validate ``body`` into a dict of entry fields (including "v").

    Raises ValueError when the body is not valid UTF-8 JSON, when keys are
    missing or unknown, or when a field has the wrong type. Does not check
    that the body is canonical.
    """
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("body is not valid UTF-8") from None
    obj = parse_json(text)
    if type(obj) is not dict:
        raise ValueError("body is not a JSON object")
    if obj.keys() != _ENTRY_KEY_SET:
        missing = sorted(_ENTRY_KEY_SET - obj.keys())
        unknown = sorted(obj.keys() - _ENTRY_KEY_SET)
        parts = []
        if missing:
            parts.append("missing keys " + ", ".join(missing))
        if unknown:
            # Key names come from the body, so only their count is reported:
            # problem messages must never echo body content.
            parts.append(f"{len(unknown)} unknown key(s)")
        raise ValueError("body has " + "; ".join(parts))
    version = obj["v"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise ValueError("unsupported entry format version")
    seq = obj["seq"]
    if type(seq) is not int or seq < 1:
        raise ValueError("seq must be an integer >= 1")
    for name in _REQUIRED_STR:
        if type(obj[name]) is not str:
            raise ValueError(f"{name} must be a string")
    for name in _OPTIONAL_STR:
        value = obj[name]
        if value is not None and type(value) is not str:
            raise ValueError(f"{name} must be a string or null")
    if obj["decision"] not in DECISIONS:
        raise ValueError("decision must be one of 'allow', 'deny', 'record'")
    if TS_PATTERN.fullmatch(obj["ts"]) is None:
        raise ValueError("ts is not in the entry timestamp format")
    if type(obj["details"]) is not dict:
        raise ValueError("details must be an object")
    return obj


def is_canonical_fields(fields: Mapping[str, Any], body: bytes) -> bool:
    """Tell whether ``body`` is exactly the canonical encoding of ``fields``."""
    try:
        return dumps_sorted(fields).encode("utf-8") == body
    except (ValueError, UnicodeEncodeError):
        return False


def decode_entry(body: bytes, *, require_canonical: bool = False) -> AuditEntry:
    """Decode canonical entry bytes back into an :class:`AuditEntry`.

    Raises ValueError on malformed JSON, non-UTF-8 input, numbers that are not
    integers, missing or unknown keys, wrong field types or an unknown format
    version. A body that decodes but is not in canonical form is accepted
    unless ``require_canonical`` is true; ``encode_entry(decode_entry(b)) == b``
    holds exactly for canonical bodies.
    """
    obj = body_to_fields(body)
    if require_canonical and not is_canonical_fields(obj, body):
        raise ValueError("body is not in canonical form")
    return AuditEntry(
        seq=obj["seq"],
        ts=obj["ts"],
        actor_type=obj["actor_type"],
        actor_id=obj["actor_id"],
        action=obj["action"],
        subject=obj["subject"],
        purpose=obj["purpose"],
        consent_id=obj["consent_id"],
        decision=obj["decision"],
        reason=obj["reason"],
        request_id=obj["request_id"],
        details=obj["details"],
    )
