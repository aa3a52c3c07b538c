from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import _data
from policies.errors import PolicyDataError
from policies.masking import (
    FieldKind,
    MaskingPolicy,
    MaskRule,
    Role,
    RuleKind,
    load_masking_policy,
    parse_masking_policy,
)

F = FieldKind
R = Role
SOURCE = "data/masking.toml"

ID = "11010519491231002X"
NAME = "张三丰"
MOBILE = "13812345678"
CARD = "6222021234567890123"
ADDRESS = "北京市朝阳区建国路88号"

SAMPLES = {F.ID_NUMBER: ID, F.NAME: NAME, F.MOBILE: MOBILE, F.BANK_CARD: CARD, F.ADDRESS: ADDRESS,
           F.BIRTH_DATE: "1949-12-31"}

# The masking table as specified, with provider = institution and operator = never shown. Contact fields
# (mobile, bank card, address) are not catalog information: institutions and providers
# never see them.
EXPECTED: dict[tuple[FieldKind, Role], str | None] = {
    (F.ID_NUMBER, R.SUBJECT): "110105********002X",
    (F.ID_NUMBER, R.GUARDIAN): "110105********002X",
    (F.ID_NUMBER, R.INSTITUTION): "110***********002X",
    (F.ID_NUMBER, R.PUBLIC): "1****************X",
    (F.ID_NUMBER, R.AUDITOR): None,
    (F.ID_NUMBER, R.PROVIDER): "110***********002X",
    (F.ID_NUMBER, R.OPERATOR): None,
    (F.NAME, R.SUBJECT): "张三丰",
    (F.NAME, R.GUARDIAN): "张三丰",
    (F.NAME, R.INSTITUTION): "张*丰",
    (F.NAME, R.PUBLIC): "张**",
    (F.NAME, R.AUDITOR): None,
    (F.NAME, R.PROVIDER): "张*丰",
    (F.NAME, R.OPERATOR): None,
    (F.MOBILE, R.SUBJECT): "13812345678",
    (F.MOBILE, R.GUARDIAN): "138****5678",
    (F.MOBILE, R.INSTITUTION): None,
    (F.MOBILE, R.PUBLIC): None,
    (F.MOBILE, R.AUDITOR): None,
    (F.MOBILE, R.PROVIDER): None,
    (F.MOBILE, R.OPERATOR): None,
    (F.BANK_CARD, R.SUBJECT): "622202*********0123",
    (F.BANK_CARD, R.GUARDIAN): "622202*********0123",
    (F.BANK_CARD, R.INSTITUTION): None,
    (F.BANK_CARD, R.PUBLIC): None,
    (F.BANK_CARD, R.AUDITOR): None,
    (F.BANK_CARD, R.PROVIDER): None,
    (F.BANK_CARD, R.OPERATOR): None,
    (F.ADDRESS, R.SUBJECT): "北京市朝阳区建国路88号",
    (F.ADDRESS, R.GUARDIAN): "北京市朝阳区******",
    (F.ADDRESS, R.INSTITUTION): None,
    (F.ADDRESS, R.PUBLIC): None,
    (F.ADDRESS, R.AUDITOR): None,
    (F.ADDRESS, R.PROVIDER): None,
    (F.ADDRESS, R.OPERATOR): None,
    # Kept apart for age rules only; nobody is shown it.
    **{(F.BIRTH_DATE, role): None for role in R},
}


@pytest.fixture(scope="module")
def policy() -> MaskingPolicy:
    return load_masking_policy()


def test_expected_table_covers_every_pair() -> None:
    assert set(EXPECTED) == {(f, r) for f in FieldKind for r in Role}


def test_enum_values() -> None:
    assert [f.value for f in FieldKind] == ["id_number", "name", "mobile", "bank_card", "address", "birth_date"]
    assert {r.value for r in Role} == {
        "subject",
        "guardian",
        "institution",
        "public",
        "auditor",
        "provider",
        "operator",
    }


@pytest.mark.parametrize(("field", "role"), sorted(EXPECTED))
def test_default_table(policy: MaskingPolicy, field: FieldKind, role: Role) -> None:
    expected = EXPECTED[(field, role)]
    masked = policy.mask(field, role, SAMPLES[field])
    assert masked == expected
    assert policy.visible(field, role) is (expected is not None)
    if masked is not None:
        assert len(masked) == len(SAMPLES[field])


@pytest.mark.parametrize(("field", "role"), sorted(EXPECTED))
def test_none_input_gives_none(policy: MaskingPolicy, field: FieldKind, role: Role) -> None:
    assert policy.mask(field, role, None) is None


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        (R.INSTITUTION, "张三丰", "张*丰"),
        (R.INSTITUTION, "张三", "张*"),
        (R.INSTITUTION, "欧阳娜娜", "欧**娜"),
        (R.INSTITUTION, "张", "*"),
        (R.INSTITUTION, "", ""),
        (R.PUBLIC, "张三丰", "张**"),
        (R.PUBLIC, "张三", "张*"),
        (R.PUBLIC, "欧阳娜娜", "欧***"),
        (R.PUBLIC, "张", "*"),
        (R.SUBJECT, "欧阳娜娜", "欧阳娜娜"),
    ],
)
def test_name_cases(policy: MaskingPolicy, role: Role, name: str, expected: str) -> None:
    assert policy.mask(F.NAME, role, name) == expected


@pytest.mark.parametrize(
    ("field", "role", "value", "expected"),
    [
        # keep 6+4 on 10 chars: both ends would cover everything -> prefix only
        (F.ID_NUMBER, R.SUBJECT, "1101051949", "110105****"),
        (F.ID_NUMBER, R.SUBJECT, "11010519491", "110105*9491"),
        (F.ID_NUMBER, R.SUBJECT, "12345", "1234*"),
        (F.ID_NUMBER, R.INSTITUTION, "1234567", "123****"),
        (F.ID_NUMBER, R.INSTITUTION, "12345678", "123*5678"),
        (F.ID_NUMBER, R.PUBLIC, "12", "1*"),
        (F.ID_NUMBER, R.PUBLIC, "123", "1*3"),
        (F.ID_NUMBER, R.PUBLIC, "1", "*"),
        (F.MOBILE, R.GUARDIAN, "1381234", "138****"),
        (F.MOBILE, R.GUARDIAN, "12", "1*"),
        (F.BANK_CARD, R.GUARDIAN, "6222021234", "622202****"),
        (F.ADDRESS, R.GUARDIAN, "北京市", "北京*"),
        (F.ADDRESS, R.GUARDIAN, "北京市朝阳区", "北京市朝阳*"),
        (F.ADDRESS, R.GUARDIAN, "北京市朝阳区1", "北京市朝阳区*"),
        (F.ADDRESS, R.GUARDIAN, "", ""),
        (F.ADDRESS, R.SUBJECT, "", ""),
    ],
)
def test_short_values_are_never_returned_whole(
    policy: MaskingPolicy, field: FieldKind, role: Role, value: str, expected: str
) -> None:
    assert policy.mask(field, role, value) == expected


HIDING_PAIRS = sorted(
    (f, r)
    for f in FieldKind
    for r in Role
    if load_masking_policy().rule(f, r).kind not in (RuleKind.FULL, RuleKind.HIDDEN)
)


@settings(database=None, max_examples=300)
@given(st.sampled_from(HIDING_PAIRS), st.text(min_size=1, max_size=40))
def test_masking_preserves_length_and_hides_something(pair: tuple[FieldKind, Role], value: str) -> None:
    masked = load_masking_policy().mask(pair[0], pair[1], value)
    assert masked is not None
    assert len(masked) == len(value)
    assert "*" in masked
    assert all(m == v or m == "*" for m, v in zip(masked, value, strict=True))


def test_hiding_pairs_is_not_trivially_empty() -> None:
    assert len(HIDING_PAIRS) >= 9


def test_mask_rule_direct() -> None:
    assert MaskRule(RuleKind.KEEP, 2, 2).apply("abcdefg") == "ab***fg"
    assert MaskRule(RuleKind.KEEP, 0, 0).apply("abc") == "***"
    assert MaskRule(RuleKind.KEEP, 0, 2).apply("abc") == "*bc"
    assert MaskRule(RuleKind.KEEP, 0, 3).apply("abc") == "***"
    assert MaskRule(RuleKind.FULL).apply("abc") == "abc"
    assert MaskRule(RuleKind.HIDDEN).apply("abc") is None


def test_loaded_once(policy: MaskingPolicy) -> None:
    assert load_masking_policy() is policy
    assert policy.version == 1


def test_rules_are_read_only(policy: MaskingPolicy) -> None:
    with pytest.raises(TypeError):
        policy.rules[(F.NAME, R.PUBLIC)] = MaskRule(RuleKind.FULL)  # type: ignore[index]


# --- validation -----------------------------------------------------------


@pytest.mark.parametrize("field", ["mobile", "bank_card", "address"])
@pytest.mark.parametrize("role", ["institution", "public"])
def test_contact_fields_can_never_be_shown_to_institutions_or_the_public(
    masking_data: dict[str, Any], field: str, role: str
) -> None:
    masking_data["fields"][field][role] = {"kind": "keep", "keep_first": 3, "keep_last": 4}
    error = parse_error(masking_data)
    assert error.key == f"fields.{field}.{role}.kind"
    assert "not catalog information" in str(error)


def parse_error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_masking_policy(data, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: {info.value.key}: ")
    return info.value


def test_packaged_data_parses(masking_data: dict[str, Any]) -> None:
    assert parse_masking_policy(masking_data, SOURCE) == load_masking_policy()


def test_missing_role(masking_data: dict[str, Any]) -> None:
    del masking_data["fields"]["name"]["public"]
    error = parse_error(masking_data)
    assert error.key == "fields.name.public"
    assert "missing" in str(error)


def test_missing_field(masking_data: dict[str, Any]) -> None:
    del masking_data["fields"]["bank_card"]
    assert parse_error(masking_data).key == "fields.bank_card"


def test_unknown_rule_kind(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["mobile"]["subject"] = {"kind": "blur"}
    error = parse_error(masking_data)
    assert error.key == "fields.mobile.subject.kind"
    assert "blur" in str(error)


def test_negative_keep(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["id_number"]["institution"]["keep_first"] = -1
    error = parse_error(masking_data)
    assert error.key == "fields.id_number.institution.keep_first"
    assert ">= 0" in str(error)


@pytest.mark.parametrize("bad", [True, "3", 1.5])
def test_non_integer_keep(masking_data: dict[str, Any], bad: object) -> None:
    masking_data["fields"]["address"]["guardian"]["keep_last"] = bad
    assert parse_error(masking_data).key == "fields.address.guardian.keep_last"


def test_keep_without_counts(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["mobile"]["guardian"] = {"kind": "keep", "keep_first": 3}
    assert parse_error(masking_data).key == "fields.mobile.guardian.keep_last"


def test_counts_on_non_keep_rule(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["name"]["public"] = {"kind": "surname", "keep_first": 2}
    assert parse_error(masking_data).key == "fields.name.public.keep_first"


def test_missing_kind(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["name"]["subject"] = {}
    assert parse_error(masking_data).key == "fields.name.subject.kind"


def test_rule_not_a_table(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["name"]["subject"] = "full"
    assert parse_error(masking_data).key == "fields.name.subject"


def test_unknown_role_and_field(masking_data: dict[str, Any]) -> None:
    masking_data["fields"]["name"]["admin"] = {"kind": "full"}
    assert parse_error(masking_data).key == "fields.name.admin"
    del masking_data["fields"]["name"]["admin"]
    masking_data["fields"]["email"] = {}
    assert parse_error(masking_data).key == "fields.email"


@pytest.mark.parametrize("version", [None, 0, "1"])
def test_bad_version(masking_data: dict[str, Any], version: object) -> None:
    if version is None:
        del masking_data["version"]
    else:
        masking_data["version"] = version
    assert parse_error(masking_data).key == "version"


def test_missing_fields_table(masking_data: dict[str, Any]) -> None:
    del masking_data["fields"]
    assert parse_error(masking_data).key == "fields"


# --- file loading ---------------------------------------------------------


def test_unreadable_and_invalid_files_name_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.toml").write_text("version = \n", encoding="utf-8")
    monkeypatch.setattr(_data, "resources", SimpleNamespace(files=lambda _pkg: tmp_path))
    with pytest.raises(PolicyDataError) as info:
        _data.read_data_file("broken.toml")
    assert str(info.value).startswith("data/broken.toml: <file>: is not valid TOML")
    with pytest.raises(PolicyDataError) as info:
        _data.read_data_file("absent.toml")
    assert str(info.value).startswith("data/absent.toml: <file>: cannot be read")
