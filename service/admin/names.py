"""Names typed by an operator: of organisations (shown publicly) and of people."""

from __future__ import annotations

from policies.text import TextRefused, clean_text, personal_identifier_in
from service.admin.errors import InvalidRequest

ORGANISATION_NAME_MAX = 200
PERSON_NAME_MAX = 64


def organisation_name(raw: str, field: str = "name") -> str:
    """An institution's or provider's name as shown to people: display text (NFC, no
    control or bidirectional characters, not blank) that carries nothing shaped like a
    person's ID, mobile or card number (``name_contains_identifier``)."""
    try:
        name = clean_text(raw, max_chars=ORGANISATION_NAME_MAX)
    except TextRefused as exc:
        raise InvalidRequest.of(exc, field) from None
    if personal_identifier_in(name):
        raise InvalidRequest("name_contains_identifier",
                             f"{field} must not contain an ID, mobile or bank card number; it is shown publicly")
    return name


def person_name(raw: str, field: str = "name") -> str:
    """A person's name as display text; it is stored only encrypted."""
    try:
        return clean_text(raw, max_chars=PERSON_NAME_MAX)
    except TextRefused as exc:
        raise InvalidRequest.of(exc, field) from None
