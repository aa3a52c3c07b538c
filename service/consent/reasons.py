"""A consent request's reason: free text an institution writes and a person reads.

It is checked as display text (``policies.text.clean_text``: NFC, no control or
bidirectional characters, not blank) and stored only encrypted, under the
shared text key: it may name or describe the person, who may not be known to
the service yet. It is shown to the person the request is addressed to (or
their guardian) through the access gate, and echoed to the institution only in
the answer to the request that carried it.
"""

from __future__ import annotations

from policies.consent import MAX_REASON_CHARS
from policies.text import clean_text
from service.crypto.vault import FieldPlace, SealedField

TABLE, COLUMN = "consent_requests", "reason_ct"


def clean_reason(raw: str) -> str:
    """The reason as it will be stored and shown; :class:`policies.text.TextRefused` otherwise."""
    return clean_text(raw, max_chars=MAX_REASON_CHARS, multiline=True)


def reason_place(request_id: str) -> FieldPlace:
    """Where a request's sealed reason lives (part of its associated data)."""
    return FieldPlace(TABLE, COLUMN, request_id)


def sealed_reason(request_id: str, blob: bytes | None) -> SealedField:
    """A request's stored reason, ready for the gate to open."""
    return SealedField(reason_place(request_id), blob, shared=True)
