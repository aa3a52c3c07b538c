import re
from importlib import resources
from typing import Any

import pytest

from policies.errors import PolicyDataError
from policies.purposes import (
    INSTITUTION_TYPES,
    ConsentSettings,
    Purpose,
    load_categories,
    load_consent_settings,
    load_purposes,
    parse_categories,
    parse_consent_settings,
    parse_purposes,
)

# The purposes as specified, written out here so a change to the data is a visible decision.
SPECIFIED_PURPOSES = {
    "loan_approval": ("贷款审批", 30, 3, {"bank", "consumer_finance", "microloan"}),
    "credit_card_approval": ("信用卡审批", 30, 3, {"bank"}),
    "post_loan_management": ("贷后管理", 1095, 36, {"bank", "consumer_finance", "microloan"}),
    "guarantee_review": ("担保资格审查", 30, 3, {"bank", "guarantor"}),
    "employment_screening": ("入职审查", 15, 1, {"employer"}),
    "rental_screening": ("租赁审查", 7, 1, {"landlord"}),
    "administrative_licensing": ("行政许可审查", 30, 5, {"government"}),
}

SPECIFIED_CATEGORIES = {
    "identity": "基本信息",
    "administrative_penalty": "行政处罚",
    "administrative_license": "行政许可",
    "judicial_enforcement": "失信被执行人/法院判决",
    "tax": "税务",
    "social_insurance": "社会保险",
    "labor": "劳动用工/欠薪",
    "education": "教育考试/助学贷款",
    "honours": "守信激励/表彰",
}

P_SOURCE = "data/purposes.toml"
C_SOURCE = "data/categories.toml"
S_SOURCE = "data/consent.toml"


def test_institution_types() -> None:
    assert {
        "bank",
        "consumer_finance",
        "microloan",
        "guarantor",
        "employer",
        "landlord",
        "government",
    } == INSTITUTION_TYPES


def test_purposes_match_design_table() -> None:
    purposes = load_purposes()
    assert set(purposes) == set(SPECIFIED_PURPOSES)
    for code, (name_zh, days, queries, types) in SPECIFIED_PURPOSES.items():
        purpose = purposes[code]
        assert isinstance(purpose, Purpose)
        assert purpose.code == code
        assert purpose.name_zh == name_zh
        assert purpose.max_validity_days == days
        assert purpose.max_queries == queries
        assert purpose.institution_types == types
        assert isinstance(purpose.institution_types, frozenset)
        assert isinstance(purpose.categories, frozenset)


def test_categories_match_brief() -> None:
    categories = load_categories()
    assert {code: c.name_zh for code, c in categories.items()} == SPECIFIED_CATEGORIES
    assert all(c.code == code and c.description for code, c in categories.items())


def test_purpose_categories_are_known_and_minimal() -> None:
    purposes = load_purposes()
    known = set(load_categories())
    for purpose in purposes.values():
        assert "identity" in purpose.categories
        assert purpose.categories <= known
    employment = purposes["employment_screening"].categories
    assert "tax" not in employment
    assert "social_insurance" not in employment
    assert purposes["rental_screening"].categories == {"identity", "judicial_enforcement"}
    loan = purposes["loan_approval"].categories
    assert {"judicial_enforcement", "tax", "social_insurance"} <= loan
    # Every category is readable under some purpose, or it would be dead data.
    assert set().union(*(p.categories for p in purposes.values())) == known


def test_consent_settings() -> None:
    assert load_consent_settings() == ConsentSettings(guardianship_age=14, pending_request_days=7)


def test_loaders_cache_and_are_read_only() -> None:
    assert load_purposes() is load_purposes()
    assert load_categories() is load_categories()
    assert load_consent_settings() is load_consent_settings()
    with pytest.raises(TypeError):
        load_purposes()["x"] = load_purposes()["loan_approval"]  # type: ignore[index]


@pytest.mark.parametrize("name", ["masking.toml", "purposes.toml", "categories.toml", "consent.toml"])
def test_every_data_file_starts_with_version(name: str) -> None:
    text = resources.files("policies").joinpath("data", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert re.fullmatch(r"version = [1-9][0-9]*", lines[0])


# --- purposes validation ----------------------------------------------------


def purposes_error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_purposes(data, P_SOURCE, load_categories())
    assert str(info.value).startswith(f"{P_SOURCE}: {info.value.key}: ")
    return info.value


def test_packaged_purposes_parse(purposes_data: dict[str, Any]) -> None:
    assert parse_purposes(purposes_data, P_SOURCE, load_categories()) == load_purposes()


@pytest.mark.parametrize("key", ["max_validity_days", "max_queries"])
@pytest.mark.parametrize("bad", [0, -3, True, "30", 2.5])
def test_ceilings_must_be_positive_integers(purposes_data: dict[str, Any], key: str, bad: object) -> None:
    purposes_data["purposes"]["loan_approval"][key] = bad
    assert purposes_error(purposes_data).key == f"purposes.loan_approval.{key}"


def test_unknown_institution_type(purposes_data: dict[str, Any]) -> None:
    purposes_data["purposes"]["rental_screening"]["institution_types"] = ["landlord", "pawnshop"]
    error = purposes_error(purposes_data)
    assert error.key == "purposes.rental_screening.institution_types[1]"
    assert "pawnshop" in str(error)


def test_unknown_category(purposes_data: dict[str, Any]) -> None:
    purposes_data["purposes"]["loan_approval"]["categories"].append("medical")
    error = purposes_error(purposes_data)
    assert error.key.startswith("purposes.loan_approval.categories[")
    assert "medical" in str(error)


def test_empty_and_duplicate_lists(purposes_data: dict[str, Any]) -> None:
    purposes_data["purposes"]["loan_approval"]["categories"] = []
    assert purposes_error(purposes_data).key == "purposes.loan_approval.categories"
    purposes_data["purposes"]["loan_approval"]["categories"] = ["tax", "tax"]
    assert purposes_error(purposes_data).key == "purposes.loan_approval.categories[1]"
    purposes_data["purposes"]["loan_approval"]["categories"] = "tax"
    assert purposes_error(purposes_data).key == "purposes.loan_approval.categories"


def test_missing_and_unknown_keys(purposes_data: dict[str, Any]) -> None:
    del purposes_data["purposes"]["guarantee_review"]["name_zh"]
    assert purposes_error(purposes_data).key == "purposes.guarantee_review.name_zh"
    purposes_data["purposes"]["guarantee_review"]["name_zh"] = "担保资格审查"
    purposes_data["purposes"]["guarantee_review"]["max_querys"] = 3
    assert purposes_error(purposes_data).key == "purposes.guarantee_review.max_querys"


def test_bad_purpose_code_and_empty_table(purposes_data: dict[str, Any]) -> None:
    purposes_data["purposes"]["Loan-Approval"] = purposes_data["purposes"]["loan_approval"]
    assert purposes_error(purposes_data).key == "purposes.Loan-Approval"
    purposes_data["purposes"] = {}
    assert purposes_error(purposes_data).key == "purposes"


def test_purposes_version_required(purposes_data: dict[str, Any]) -> None:
    del purposes_data["version"]
    assert purposes_error(purposes_data).key == "version"


# --- categories and consent settings validation -----------------------------


def test_packaged_categories_parse(categories_data: dict[str, Any]) -> None:
    assert parse_categories(categories_data, C_SOURCE) == load_categories()


def test_category_missing_description(categories_data: dict[str, Any]) -> None:
    del categories_data["categories"]["tax"]["description"]
    with pytest.raises(PolicyDataError) as info:
        parse_categories(categories_data, C_SOURCE)
    assert info.value.key == "categories.tax.description"
    assert C_SOURCE in str(info.value)


def test_category_blank_name(categories_data: dict[str, Any]) -> None:
    categories_data["categories"]["tax"]["name_zh"] = "  "
    with pytest.raises(PolicyDataError) as info:
        parse_categories(categories_data, C_SOURCE)
    assert info.value.key == "categories.tax.name_zh"


def test_packaged_consent_settings_parse(consent_data: dict[str, Any]) -> None:
    assert parse_consent_settings(consent_data, S_SOURCE) == load_consent_settings()


@pytest.mark.parametrize("key", ["guardianship_age", "pending_request_days"])
def test_consent_settings_validation(consent_data: dict[str, Any], key: str) -> None:
    consent_data[key] = 0
    with pytest.raises(PolicyDataError) as info:
        parse_consent_settings(consent_data, S_SOURCE)
    assert info.value.key == key
    del consent_data[key]
    with pytest.raises(PolicyDataError) as info:
        parse_consent_settings(consent_data, S_SOURCE)
    assert info.value.key == key
    assert str(info.value) == f"{S_SOURCE}: {key}: missing"


def test_only_known_purpose_codes_reach_an_audit_entry() -> None:
    from policies import UNKNOWN_PURPOSE, known_purpose

    assert known_purpose("loan_approval") == "loan_approval"
    assert known_purpose(None) is None
    for caller_text in ("510107195703202817", "loan approval", "", "LOAN_APPROVAL"):
        assert known_purpose(caller_text) == UNKNOWN_PURPOSE
