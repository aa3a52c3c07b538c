"""Text that people will read: what is accepted, and how it is normalised.

Free text typed by an institution, a provider or a person (names of
organisations, reasons, facts, objections, statements) ends up in front of
someone else. It is refused when it could mislead that reader or hide what it
says:

- control characters, NUL included (a tab or a line break only where the field
  allows several lines);
- bidirectional embeddings, overrides and isolates (U+202A–U+202E,
  U+2066–U+2069), which can make text display in another order than it is
  stored ("Trojan Source", CVE-2021-42574);
- a value that is empty once white space and zero-width characters are taken
  away.

Accepted text is returned in Unicode normal form C with surrounding white
space removed, so that two spellings of the same characters compare equal.

Fields shown to the public (names of institutions and providers) must also
not carry a person's identifiers: :func:`personal_identifier_in` finds ID-,
mobile- and card-shaped numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "BIDI_CONTROLS",
    "IDENTIFIER_PATTERNS",
    "ZERO_WIDTH",
    "TextRefused",
    "clean_text",
    "personal_identifier_in",
]

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
ZERO_WIDTH = frozenset({"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"})
_MULTILINE_ALLOWED = frozenset({"\n", "\t"})

# Resident ID numbers (18 characters), mainland mobile numbers and bank-card-length
# digit runs. Digits inside longer runs of letters or digits do not match, so that
# document numbers and dates survive.
IDENTIFIER_PATTERNS = (
    re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
    re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"),
    re.compile(r"(?<!\d)\d{16,19}(?!\d)"),
)


@dataclass(frozen=True, slots=True)
class TextRefused(ValueError):
    """Text that may not be stored. ``code`` is stable; the message never repeats the text."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def clean_text(value: str, *, max_chars: int, multiline: bool = False) -> str:
    """``value`` normalised to NFC and stripped, or :class:`TextRefused`.

    Codes: ``text_blank`` (nothing visible), ``text_control_character``,
    ``text_bidi_control``, ``text_too_long`` (more than ``max_chars`` characters
    after normalisation).
    """
    text = unicodedata.normalize("NFC", value).strip()
    for char in text:
        if char in BIDI_CONTROLS:
            raise TextRefused("text_bidi_control", "bidirectional control characters are not allowed")
        if unicodedata.category(char) == "Cc" and not (multiline and char in _MULTILINE_ALLOWED):
            raise TextRefused("text_control_character", "control characters are not allowed")
    visible = "".join(c for c in text if c not in ZERO_WIDTH and not c.isspace())
    if not visible:
        raise TextRefused("text_blank", "must contain visible text")
    if len(text) > max_chars:
        raise TextRefused("text_too_long", f"must be at most {max_chars} characters")
    return text


def personal_identifier_in(value: str) -> bool:
    """Whether ``value`` holds something shaped like a resident ID, mobile or bank card number."""
    folded = unicodedata.normalize("NFKC", value)  # full-width digits count as digits
    return any(pattern.search(folded) for pattern in IDENTIFIER_PATTERNS)
