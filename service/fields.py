"""Free text at the service's edge: one rule for every field a person will read.

Text typed by a provider, an institution or a person goes through
:func:`policies.text.clean_text` (NFC, no control or bidirectional characters,
not blank, bounded). A refusal names the field and a stable code; the HTTP
edge answers it as ``400 validation_error`` with that code in ``errors``.
Fields shown to the public (the deciding authority on a record, an
institution's contact details) also refuse anything shaped like a person's ID,
mobile or bank card number (``personal_identifier_not_allowed``).
"""

from __future__ import annotations

from policies.text import TextRefused, clean_text, personal_identifier_in
from service.errors import CodedError

__all__ = ["InvalidField", "clean_field", "public_field"]


class InvalidField(CodedError):
    """A text field was refused; ``field`` names it, ``code`` says why. Never holds the text."""

    def __init__(self, field: str, code: str, detail: str) -> None:
        super().__init__(code, detail)
        self.field = field


def clean_field(value: str, field: str, *, max_chars: int, multiline: bool = False) -> str:
    """``value`` cleaned for display, or :class:`InvalidField` naming ``field``."""
    try:
        return clean_text(value, max_chars=max_chars, multiline=multiline)
    except TextRefused as exc:
        raise InvalidField(field, exc.code, exc.message) from None


def public_field(value: str, field: str, *, max_chars: int) -> str:
    """A cleaned single-line text that will be shown publicly: no personal identifiers in it."""
    text = clean_field(value, field, max_chars=max_chars)
    if personal_identifier_in(text):
        raise InvalidField(field, "personal_identifier_not_allowed",
                           "this field is shown publicly and must not hold an ID, mobile or card number")
    return text
