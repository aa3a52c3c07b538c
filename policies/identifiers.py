"""Validation of the identifiers the service takes: Chinese resident ID numbers,
unified social credit codes, mainland mobile numbers and bank card numbers.

Resident identity numbers follow GB 11643-1999 (ISO 7064 MOD 11-2 check
character); unified social credit codes follow GB 32100-2015 (MOD 31 check
character over a 31-symbol alphabet); bank card numbers carry a Luhn check
digit (ISO/IEC 7812-1).

Error messages never contain the input: an ID number is personal data and an
exception message can end up in a log or an HTTP problem response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "InvalidIdentifier",
    "ResidentId",
    "age_on",
    "luhn_ok",
    "make_resident_id",
    "make_uscc",
    "normalize_resident_id",
    "parse_resident_id",
    "validate_bank_card",
    "validate_mobile",
    "validate_uscc",
]

ID_NUMBER_FORMAT = "id_number_format"
ID_NUMBER_CHECKSUM = "id_number_checksum"
ID_NUMBER_BIRTH_DATE = "id_number_birth_date"
USCC_FORMAT = "uscc_format"
USCC_CHECKSUM = "uscc_checksum"
MOBILE_INVALID = "mobile_invalid"
BANK_CARD_INVALID = "bank_card_invalid"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_PATTERN = re.compile(r"[0-9]{17}[0-9X]")
# Birth dates before 1900 cannot occur for living holders and usually mean a typo.
_EARLIEST_BIRTH = date(1900, 1, 1)

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: index for index, char in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_MESSAGES = {
    ID_NUMBER_FORMAT: "ID number must be 18 characters: 17 digits and a digit or X",
    ID_NUMBER_CHECKSUM: "ID number check character does not match (GB 11643)",
    ID_NUMBER_BIRTH_DATE: "ID number does not contain a valid birth date",
    USCC_FORMAT: "unified social credit code must be 18 characters of the GB 32100 alphabet",
    USCC_CHECKSUM: "unified social credit code check character does not match (GB 32100)",
    MOBILE_INVALID: "mobile must be 11 digits starting with 1, with no spaces or signs",
    BANK_CARD_INVALID: "bank_card must be 12 to 19 digits, with no spaces, and a valid Luhn check digit",
}
# ASCII digits only: ``\d`` would also take full-width and other Unicode digits.
_MOBILE_PATTERN = re.compile(r"1[0-9]{10}")
_BANK_CARD_PATTERN = re.compile(r"[0-9]{12,19}")


class InvalidIdentifier(ValueError):
    """An identifier failed validation; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(_MESSAGES[code])


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated 18-character resident identity number and what it encodes."""

    number: str
    region: str
    birth_date: date
    sex: str


def _id_check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def parse_resident_id(raw: str, today: date | None = None) -> ResidentId:
    """Validate and decode an 18-character resident ID number.

    Checks run in this order, and the first failure decides the error code:
    format (``id_number_format``), check character (``id_number_checksum``),
    birth date (``id_number_birth_date``: a real date, not before 1900-01-01 and,
    when ``today`` is given, not after it). The caller passes the date in force
    (China's, for people registered in China): policies read no clock. The
    checksum is checked before the date so that a mistyped digit is reported as
    a typo rather than as an odd birth date. 15-digit pre-1999 numbers are
    rejected as a format error.
    """
    number = raw.strip().upper()
    if _ID_PATTERN.fullmatch(number) is None:
        raise InvalidIdentifier(ID_NUMBER_FORMAT)
    if _id_check_char(number[:17]) != number[17]:
        raise InvalidIdentifier(ID_NUMBER_CHECKSUM)
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdentifier(ID_NUMBER_BIRTH_DATE) from None
    if birth < _EARLIEST_BIRTH or (today is not None and birth > today):
        raise InvalidIdentifier(ID_NUMBER_BIRTH_DATE)
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, region=number[:6], birth_date=birth, sex=sex)


def normalize_resident_id(raw: str, today: date | None = None) -> str:
    """Return the validated, normalized (trimmed, uppercase ``X``) ID number."""
    return parse_resident_id(raw, today).number


def age_on(birth_date: date, on: date) -> int:
    """Age in completed years on the day ``on``.

    Someone born on 29 February becomes a year older on 1 March in common
    years, because 28 February still precedes their birthday.
    """
    if on < birth_date:
        raise ValueError("the day of reference precedes the birth date")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)


def make_resident_id(region: str, birth_date: date, sequence: int, sex: str) -> str:
    """Build a valid ID number, for demo and test data.

    The three-digit order code is ``sequence`` (0..99) followed by 1 for
    ``"male"`` or 2 for ``"female"``, giving the parity GB 11643 prescribes.
    """
    if re.fullmatch(r"[0-9]{6}", region) is None:
        raise ValueError("region must be 6 digits")
    if birth_date < _EARLIEST_BIRTH:
        raise ValueError("birth date must not be before 1900-01-01")
    if not 0 <= sequence <= 99:
        raise ValueError("sequence must be in 0..99")
    if sex not in ("male", "female"):
        raise ValueError("sex must be 'male' or 'female'")
    sex_digit = "1" if sex == "male" else "2"
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:02d}{sex_digit}"
    return first17 + _id_check_char(first17)


def _uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    # 31 - 0 would be 31, which has no symbol; the standard maps it to 0.
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _is_uscc_text(text: str, length: int) -> bool:
    return len(text) == length and all(char in _USCC_VALUES for char in text)


def validate_uscc(raw: str) -> str:
    """Validate a unified social credit code (GB 32100-2015) and return it uppercased.

    The letters I, O, Z, S and V are not part of the alphabet and are a format
    error (``uscc_format``); a wrong final character is ``uscc_checksum``.
    """
    code = raw.strip().upper()
    if not _is_uscc_text(code, 18):
        raise InvalidIdentifier(USCC_FORMAT)
    if _uscc_check_char(code[:17]) != code[17]:
        raise InvalidIdentifier(USCC_CHECKSUM)
    return code


def make_uscc(first17: str) -> str:
    """Append the GB 32100 check character to 17 code characters."""
    body = first17.upper()
    if not _is_uscc_text(body, 17):
        raise InvalidIdentifier(USCC_FORMAT)
    return body + _uscc_check_char(body)


def validate_mobile(raw: str) -> str:
    """A mainland mobile number: 11 ASCII digits starting with 1 (``mobile_invalid``)."""
    value = raw.strip()
    if _MOBILE_PATTERN.fullmatch(value) is None:
        raise InvalidIdentifier(MOBILE_INVALID)
    return value


def luhn_ok(digits: str) -> bool:
    """Whether the Luhn (ISO/IEC 7812-1) check digit of a string of digits is right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def validate_bank_card(raw: str) -> str:
    """A bank card number: 12 to 19 ASCII digits with a valid Luhn check digit
    (``bank_card_invalid``)."""
    value = raw.strip()
    if _BANK_CARD_PATTERN.fullmatch(value) is None or not luhn_ok(value):
        raise InvalidIdentifier(BANK_CARD_INVALID)
    return value
