"""Removal of personal data from anything headed for a log line, decided by field.

- Values under keys that name personal fields are replaced whatever they look
  like (a Chinese name matches no pattern).
- Values under keys that hold what the service generated itself (request ids,
  account ids, keyed hashes) are left whole: a random hex id can contain a run of
  digits shaped like a card number, and scrubbing it would corrupt the id. A
  caller's own request id is kept only if it holds no such shape
  (``service.http.context``), so it is safe there too.
- Every other string is scrubbed of things shaped like ID numbers, mobile
  numbers and bank cards (personal data smuggled into a free-text message).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from policies.text import IDENTIFIER_PATTERNS

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset(
    {
        "id_number", "idnumber", "id_no", "resident_id", "name", "full_name", "subject_name",
        "mobile", "phone", "phone_number", "telephone", "address", "bank_card", "card_number",
        "password", "secret", "client_secret", "token", "access_token", "refresh_token",
        "authorization", "cookie", "set-cookie", "master_key", "plaintext", "body", "facts",
    }
)

#: Keys whose values the service made itself and that never hold a caller's text.
GENERATED_KEYS = frozenset({"request_id", "account_id", "source"})

# Resident ID numbers, mainland mobiles and bank cards: the same shapes that public
# text is checked for.
_PATTERNS = IDENTIFIER_PATTERNS


def scrub_text(text: str) -> str:
    """Replace anything shaped like an ID, mobile or card number inside ``text``."""
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with personal data removed, recursing into containers."""
    if key is not None and key.lower() in SENSITIVE_KEYS and value is not None:
        return REDACTED
    if key in GENERATED_KEYS and isinstance(value, str):
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    return value


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> dict[str, Any]:
    """structlog processor: the last line of defence before a log line is rendered."""
    return {k: redact(v, k if k != "event" else None) for k, v in event_dict.items()}
