"""Canonical JSON primitives shared by entry encoding and log verification.

The canonical form of a JSON value is exactly what
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`` produces, encoded as UTF-8. Everything here exists to
produce or check that form faster than calling ``json.dumps``/``json.loads``
with those arguments, without ever disagreeing with them.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, cast

__all__ = [
    "DETAIL_KEY_GROUPS",
    "ENTRY_KEYS",
    "FAST_BODY",
    "FAST_GROUP_INDEX",
    "FAST_STR_FIELDS",
    "TS_PATTERN",
    "dumps_sorted",
    "escape_str",
    "parse_json",
]

# The string escaper json.dumps uses when ensure_ascii=False (the C version
# when the accelerator is present), so hand-built output matches it exactly.
escape_str: Callable[[str], str] = json.encoder.encode_basestring

# Every key of an encoded entry, in canonical (sorted) order.
ENTRY_KEYS: tuple[str, ...] = (
    "action",
    "actor_id",
    "actor_type",
    "consent_id",
    "decision",
    "details",
    "purpose",
    "reason",
    "request_id",
    "seq",
    "subject",
    "ts",
    "v",
)

# Syntactic RFC 3339 UTC timestamp with exactly six fractional digits. [0-9]
# rather than \d because \d also matches non-ASCII digits in str patterns.
TS_PATTERN = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)


def _mapping_to_dict(obj: object) -> object:
    # The C encoder serialises only real dicts; callers validate everything
    # else before encoding, so the only thing that can arrive here is another
    # Mapping implementation.
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serialisable")


def _make_dumps() -> Callable[[object], str]:
    try:
        from _json import make_encoder
    except ImportError:  # pragma: no cover - CPython always ships _json
        slow = json.JSONEncoder(
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            check_circular=False,
            default=_mapping_to_dict,
        )
        return slow.encode

    # Calling the C encoder directly skips the per-call JSONEncoder setup,
    # which is a large share of the cost for the small objects we encode.
    # markers=None disables cycle detection: callers reject cycles first.
    enc = make_encoder(
        None, _mapping_to_dict, escape_str, None, ":", ",", True, False, False
    )

    def dumps(obj: object) -> str:
        return "".join(enc(obj, 0))

    return dumps


#: Canonical JSON text of an already validated value.
dumps_sorted: Callable[[object], str] = _make_dumps()


def _reject_number(text: str) -> NoReturn:
    # Floats have no single canonical spelling across languages, so a body
    # containing one (or NaN/Infinity) is malformed by definition.
    raise ValueError("non-integer numbers are not allowed")


_DECODER = json.JSONDecoder(parse_float=_reject_number, parse_constant=_reject_number)
# The scanner is what JSONDecoder.decode uses internally; calling it directly
# avoids the decoder's trailing-whitespace handling, which canonical text never needs.
_scan = json.scanner.make_scanner(cast(Any, _DECODER))


def parse_json(text: str) -> Any:
    """Parse one JSON value that must span all of ``text``; ValueError otherwise."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not a JSON value") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if end != len(text):
        raise ValueError(f"unexpected data after the JSON value at char {end}")
    return value


# --- fast acceptance of canonical bodies ------------------------------------
#
# FAST_BODY fully matches a body only when it is certainly canonical and valid.
# Anything it rejects must go through the exact (slow) path, so it may be as
# conservative as it likes but must never accept something the slow path would
# refuse. That is why strings may not contain backslashes (then raw text equals
# the decoded value and the escaping question disappears), integers are short,
# and details may only be a flat object of at most len(DETAIL_KEY_GROUPS) keys
# whose values are scalars or flat arrays of scalars; key order inside details
# is checked by the caller from the captured key groups.

_S = r'[^"\\\x00-\x1f]*+'
_Q = f'"{_S}"'
_INT = r"(?:-?[1-9][0-9]{0,17}|0)"
_SCALAR = f"(?:{_Q}|{_INT}|null|true|false)"
_VALUE = f"(?:{_SCALAR}|\\[(?:{_SCALAR}(?:,{_SCALAR})*)?\\])"

DETAIL_KEY_GROUPS: tuple[str, ...] = ("k1", "k2", "k3", "k4", "k5", "k6")


def _details_pattern() -> str:
    inner = ""
    for name in reversed(DETAIL_KEY_GROUPS):
        pair = f'"(?P<{name}>{_S})":{_VALUE}'
        inner = f"{pair}(?:,{inner})?" if inner else pair
    return f"\\{{(?:{inner})?\\}}"


def _req(name: str) -> str:
    return f'"{name}":"(?P<{name}>{_S})"'


def _opt(name: str) -> str:
    return f'"{name}":(?:null|"(?P<{name}>{_S})")'


FAST_BODY = re.compile(
    "\\{"
    + ",".join(
        (
            _req("action"),
            _req("actor_id"),
            _req("actor_type"),
            _opt("consent_id"),
            '"decision":"(?P<decision>allow|deny|record)"',
            '"details":' + _details_pattern(),
            _opt("purpose"),
            _req("reason"),
            _opt("request_id"),
            '"seq":(?P<seq>[1-9][0-9]{0,17})',
            _opt("subject"),
            '"ts":"(?P<ts>' + TS_PATTERN.pattern + ')"',
            '"v":1',
        )
    )
    + "\\}"
)

# Entry fields whose FAST_BODY group is exactly the decoded value (str or None).
FAST_STR_FIELDS: frozenset[str] = frozenset(
    {
        "action",
        "actor_id",
        "actor_type",
        "consent_id",
        "decision",
        "purpose",
        "reason",
        "request_id",
        "subject",
        "ts",
    }
)

# Position of each named group in FAST_BODY.fullmatch(...).groups().
FAST_GROUP_INDEX: dict[str, int] = {
    name: number - 1 for name, number in FAST_BODY.groupindex.items()
}
