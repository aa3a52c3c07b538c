from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.identifiers import (
    InvalidIdentifier,
    ResidentId,
    age_on,
    luhn_ok,
    make_resident_id,
    make_uscc,
    normalize_resident_id,
    parse_resident_id,
    validate_bank_card,
    validate_mobile,
    validate_uscc,
)

TODAY = date(2026, 3, 10)
CANONICAL = "11010519491231002X"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Codes published by the companies themselves (Huawei, Tencent, Alibaba) and
# the commonly cited GB 32100 example.
REAL_USCC = [
    "91350100M000100Y43",
    "914403001922038216",
    "91440300708461136T",
    "91330100799655058B",
]

no_db = settings(database=None, max_examples=300)


def with_check_digit(first17: str) -> str:
    """Independent GB 11643 implementation, to build numbers with odd content."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def code_of(raw: str, today: date = TODAY) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        parse_resident_id(raw, today=today)
    # The message is fixed per code, so it cannot carry the (personal) input.
    assert str(info.value) == str(InvalidIdentifier(info.value.code))
    return info.value.code


# --- resident ID: valid ---------------------------------------------------


def test_canonical_gb11643_example_is_valid() -> None:
    # Hand check: 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2
    # = 167; 167 mod 11 = 2; "10X98765432"[2] = "X".
    assert parse_resident_id(CANONICAL, today=TODAY) == ResidentId(
        number=CANONICAL, region="110105", birth_date=date(1949, 12, 31), sex="female"
    )


def test_lowercase_x_and_surrounding_whitespace_are_normalized() -> None:
    parsed = parse_resident_id("  11010519491231002x\n", today=TODAY)
    assert parsed.number == CANONICAL
    assert normalize_resident_id(" 11010519491231002x\t") == CANONICAL


def test_sex_comes_from_parity_of_17th_digit() -> None:
    male = make_resident_id("440305", date(1990, 6, 15), 37, "male")
    female = make_resident_id("440305", date(1990, 6, 15), 37, "female")
    assert int(male[16]) % 2 == 1
    assert int(female[16]) % 2 == 0
    assert parse_resident_id(male, today=TODAY).sex == "male"
    assert parse_resident_id(female, today=TODAY).sex == "female"
    assert male[14:16] == "37"


def test_make_resident_id_matches_independent_checksum() -> None:
    number = make_resident_id("320102", date(1985, 1, 2), 5, "male")
    assert number == with_check_digit("32010219850102051")


def test_birth_date_boundaries_are_accepted() -> None:
    assert parse_resident_id(make_resident_id("110105", date(1900, 1, 1), 0, "male"), today=TODAY).birth_date == date(
        1900, 1, 1
    )
    assert parse_resident_id(make_resident_id("110105", TODAY, 0, "female"), today=TODAY).birth_date == TODAY


def test_feb_29_birth_in_leap_year_is_valid() -> None:
    number = make_resident_id("110105", date(2000, 2, 29), 1, "female")
    assert parse_resident_id(number, today=TODAY).birth_date == date(2000, 2, 29)


def test_without_today_only_the_calendar_is_checked() -> None:
    # Policies read no clock: the future-birth rule applies when the caller names today.
    assert parse_resident_id(CANONICAL).birth_date == date(1949, 12, 31)
    future = with_check_digit("11010599991231002")
    assert parse_resident_id(future).birth_date == date(9999, 12, 31)
    with pytest.raises(InvalidIdentifier) as info:
        parse_resident_id(future, today=TODAY)
    assert info.value.code == "id_number_birth_date"
    with pytest.raises(InvalidIdentifier):
        parse_resident_id(with_check_digit("11010519000229002"))  # 1900 was not a leap year


# --- resident ID: failures ------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "110105491231002",  # 15-digit legacy number
        "1101051949123100",  # 16
        "11010519491231002X0",  # 19
        "1101051949123100X2",  # X not in last place
        "11010519491231002Y",
        "1101051949123A002X",
        "110105 19491231002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    ],
)
def test_format_failures(raw: str) -> None:
    assert code_of(raw) == "id_number_format"


def test_checksum_failure() -> None:
    assert code_of("110105194912310021") == "id_number_checksum"


@pytest.mark.parametrize(
    "birth",
    [
        "19490230",  # Feb 30
        "19491301",  # month 13
        "19490000",
        "20010229",  # not a leap year
        "19000229",  # 1900 is not a leap year
        "18991231",  # before 1900
        "20260311",  # after today
    ],
)
def test_birth_date_failures(birth: str) -> None:
    raw = with_check_digit(f"110105{birth}002")
    assert code_of(raw) == "id_number_birth_date"


def test_checksum_is_checked_before_birth_date() -> None:
    good = with_check_digit("11010519490230002")
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    assert code_of(bad_check) == "id_number_checksum"


def test_invalid_identifier_is_value_error_and_message_omits_input() -> None:
    raw = "110105194912310021"
    with pytest.raises(ValueError) as info:
        parse_resident_id(raw, today=TODAY)
    assert isinstance(info.value, InvalidIdentifier)
    message = str(info.value) + repr(info.value)
    assert raw not in message
    assert "110105" not in message
    assert "19491231" not in message


def test_normalize_rejects_invalid() -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_resident_id("110105194912310021")


@pytest.mark.parametrize(
    ("region", "birth", "sequence", "sex"),
    [
        ("11010", date(2000, 1, 1), 0, "male"),
        ("11010a", date(2000, 1, 1), 0, "male"),
        ("110105", date(1899, 12, 31), 0, "male"),
        ("110105", date(2000, 1, 1), 100, "male"),
        ("110105", date(2000, 1, 1), -1, "male"),
        ("110105", date(2000, 1, 1), 0, "other"),
    ],
)
def test_make_resident_id_rejects_bad_arguments(region: str, birth: date, sequence: int, sex: str) -> None:
    with pytest.raises(ValueError):
        make_resident_id(region, birth, sequence, sex)


# --- age ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(2000, 1, 1), date(2000, 1, 1), 0),
        (date(2000, 6, 15), date(2014, 6, 14), 13),
        (date(2000, 6, 15), date(2014, 6, 15), 14),
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 28), 3),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(2012, 2, 29), date(2026, 2, 28), 13),
        (date(2012, 2, 29), date(2026, 3, 1), 14),
        (date(1999, 12, 31), date(2000, 1, 1), 0),
    ],
)
def test_age_on(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


def test_age_on_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


# --- USCC -----------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCC)
def test_real_uscc_codes_are_valid(code: str) -> None:
    assert validate_uscc(code) == code
    assert make_uscc(code[:17]) == code


def test_uscc_hand_checked_example() -> None:
    # 9,1,3,5,0,1,0,0,M=21,0,0,0,1,0,0,Y=30,4 against the weights gives 1640;
    # 1640 mod 31 = 28; 31 - 28 = 3.
    assert make_uscc("91350100M000100Y4") == "91350100M000100Y43"


def test_uscc_lowercase_and_whitespace_normalized() -> None:
    assert validate_uscc(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_uscc_check_value_31_maps_to_zero() -> None:
    assert make_uscc("0" * 17) == "0" * 18
    assert validate_uscc("0" * 18) == "0" * 18


def test_uscc_checksum_failure() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc("91350100M000100Y44")
    assert info.value.code == "uscc_checksum"
    assert "91350100" not in str(info.value)


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_uscc_forbidden_letters(letter: str) -> None:
    code = "91350100M000100Y43"
    for raw in (code[:8] + letter + code[9:], code[:17] + letter):
        with pytest.raises(InvalidIdentifier) as info:
            validate_uscc(raw)
        assert info.value.code == "uscc_format"
    with pytest.raises(InvalidIdentifier) as info:
        make_uscc("91350100" + letter + "000100Y4")
    assert info.value.code == "uscc_format"


@pytest.mark.parametrize("raw", ["", "91350100M000100Y4", "91350100M000100Y430", "9135-100M000100Y43"])
def test_uscc_format_failures(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc(raw)
    assert info.value.code == "uscc_format"


# --- properties -----------------------------------------------------------

regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sexes = st.sampled_from(["male", "female"])


@no_db
@given(regions, births, st.integers(0, 99), sexes)
def test_make_resident_id_always_valid(region: str, birth: date, seq: int, sex: str) -> None:
    parsed = parse_resident_id(make_resident_id(region, birth, seq, sex), today=TODAY)
    assert (parsed.region, parsed.birth_date, parsed.sex) == (region, birth, sex)


@no_db
@given(regions, births, st.integers(0, 99), sexes, st.integers(0, 17), st.data())
def test_any_single_character_change_of_id_number_is_rejected(
    region: str, birth: date, seq: int, sex: str, position: int, data: st.DataObject
) -> None:
    number = make_resident_id(region, birth, seq, sex)
    charset = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in charset if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(InvalidIdentifier) as info:
        parse_resident_id(changed, today=TODAY)
    assert info.value.code == "id_number_checksum"


uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@no_db
@given(uscc_bodies)
def test_make_uscc_always_valid(body: str) -> None:
    code = make_uscc(body)
    assert code[:17] == body
    assert validate_uscc(code) == code


@no_db
@given(uscc_bodies, st.integers(0, 17), st.data())
def test_any_single_character_change_of_uscc_is_rejected(body: str, position: int, data: st.DataObject) -> None:
    code = make_uscc(body)
    replacement = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[position]]))
    changed = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc(changed)
    assert info.value.code == "uscc_checksum"


# --- mobile numbers and bank cards ------------------------------------------------


@pytest.mark.parametrize("raw", ["13800138000", " 19912345678 "])
def test_valid_mobile(raw: str) -> None:
    assert validate_mobile(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["1380013800", "138001380001", "23800138000", "138 0013 8000", "+8613800138000",
                                 "１３８００１３８０００", ""])
def test_invalid_mobile(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_mobile(raw)
    assert caught.value.code == "mobile_invalid"
    assert not raw.strip() or raw.strip() not in str(caught.value)


def test_luhn() -> None:
    assert luhn_ok("4539578763621486") and luhn_ok("79927398713")
    assert not luhn_ok("4539578763621487") and not luhn_ok("79927398710")


@pytest.mark.parametrize("raw", ["4539578763621486", "4111111111111111", "6011000990139424"])
def test_valid_bank_card(raw: str) -> None:
    assert validate_bank_card(raw) == raw


@pytest.mark.parametrize("raw", ["4539578763621487", "4539578763", "45395787636214861234", "4539 5787 6362 1486",
                                 "４５３９５７８７６３６２１４８６"])
def test_invalid_bank_card(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_bank_card(raw)
    assert caught.value.code == "bank_card_invalid" and raw not in str(caught.value)
