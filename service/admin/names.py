"""Names typed by an operator: of organisations (shown publicly) and of people."""

from __future__ import annotations

from policies.text import TextRefused, clean_text
from service.admin.errors import InvalidRequest
from service.fields import InvalidField, public_field

ORGANISATION_NAME_MAX = 200
PERSON_NAME_MAX = 64


def organisation_name(raw: str, field: str = "name") -> str:
    """An institution's or provider's name as shown to people: display text (NFC, no
    control or bidirectional characters, not blank) that carries nothing shaped like a
    person's ID, mobile or card number (``name_contains_identifier``)."""
    try:
        return public_field(raw, field, max_chars=ORGANISATION_NAME_MAX)
    except InvalidField as exc:
        if exc.code == "personal_identifier_not_allowed":
            raise InvalidRequest("name_contains_identifier",
                                 f"{field} must not contain an ID, mobile or bank card number; it is shown publicly"
                                 ) from None
        raise InvalidRequest(exc.code, f"{field}: {exc.detail}") from None


def organisation_contact(raw: str | None) -> str | None:
    """An institution's public contact details (service line, office address), shown to
    people in the notice before they grant; never a person's number (``contact_invalid``
    or ``personal_identifier_not_allowed``)."""
    if raw is None:
        return None
    try:
        return public_field(raw, "contact", max_chars=ORGANISATION_NAME_MAX)
    except InvalidField as exc:
        code = exc.code if exc.code == "personal_identifier_not_allowed" else "contact_invalid"
        raise InvalidRequest(code, f"contact: {exc.detail}") from None


def person_name(raw: str, field: str = "name") -> str:
    """A person's name as display text; it is stored only encrypted."""
    try:
        return clean_text(raw, max_chars=PERSON_NAME_MAX)
    except TextRefused as exc:
        raise InvalidRequest.of(exc, field) from None
