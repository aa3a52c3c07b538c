"""The public credit information catalog: its facts and load-time validation."""

from __future__ import annotations

import copy
import re
import tomllib
from importlib import resources
from typing import Any

import pytest

from policies.catalog import (
    DISCLOSURE_ATTRIBUTES,
    DOCUMENT_TYPES,
    NEGATIVE_NATURES,
    SERIOUS_LIST_FIELDS,
    CatalogItem,
    Period,
    load_catalog,
    load_provider_levels,
    load_provider_types,
    load_severities,
    parse_catalog,
)
from policies.errors import PolicyDataError
from policies.purposes import load_categories
from policies.records import period_of

SOURCE = "data/catalog.toml"

PROVIDER_TYPES = {
    "market_regulation",
    "court",
    "tax",
    "human_resources",
    "education",
    "emergency_management",
    "fire_rescue",
    "drug_administration",
    "housing",
    "civil_affairs",
    "general_administration",
}

# Order 58 kept penalties in these domains at least 1 year; Order 36 has no such floor.
SPECIAL_DOMAIN_PENALTIES = {
    "admin_penalty_food",
    "admin_penalty_drug",
    "admin_penalty_special_equipment",
    "admin_penalty_work_safety",
    "admin_penalty_fire_safety",
}

THREE_YEARS = 36  # months
ONE_YEAR = 12


def _raw() -> dict[str, Any]:
    text = resources.files("policies").joinpath("data", "catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@pytest.fixture
def data() -> dict[str, Any]:
    return copy.deepcopy(_raw())


def _item(data: dict[str, Any], code: str) -> dict[str, Any]:
    for entry in data["items"]:
        if entry["code"] == code:
            return entry  # type: ignore[no-any-return]
    raise AssertionError(code)


def error(data: dict[str, Any]) -> PolicyDataError:
    with pytest.raises(PolicyDataError) as info:
        parse_catalog(data, SOURCE, load_categories())
    assert str(info.value).startswith(f"{SOURCE}: {info.value.key}: ")
    return info.value


# --- the packaged catalog -----------------------------------------------------


def test_catalog_size_and_categories() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 12
    used = {item.category for item in catalog.values()}
    assert len(used) >= 5
    assert used <= set(load_categories())
    for code, item in catalog.items():
        assert isinstance(item, CatalogItem)
        assert item.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
        assert item.name_zh.strip()


def test_required_coverage() -> None:
    catalog = load_catalog()
    expected = {
        "admin_penalty_general": ("administrative_penalty", "dishonest"),
        "court_dishonest_judgment_debtor": ("judicial_enforcement", "serious"),
        "tax_major_violation": ("tax", "serious"),
        "social_insurance_arrears": ("social_insurance", "dishonest"),
        "wage_arrears_dishonesty_list": ("labor", "serious"),
        "exam_cheating": ("education", "dishonest"),
        "student_loan_default": ("education", "dishonest"),
        "admin_license": ("administrative_license", "basic"),
        "tax_credit_a_level": ("tax", "trustworthy"),
        "honours_commendation": ("honours", "trustworthy"),
        "volunteer_service": ("honours", "trustworthy"),
    } | {code: ("administrative_penalty", "dishonest") for code in SPECIAL_DOMAIN_PENALTIES}
    for code, (category, nature) in expected.items():
        assert (catalog[code].category, catalog[code].nature) == (category, nature), code
    assert {i.nature for i in catalog.values()} == {"basic", "dishonest", "serious", "trustworthy"}


def test_the_three_classes_of_order_36() -> None:
    classes = load_severities()
    assert {code: (c.period.min_months, c.period.max_months, c.publishable) for code, c in classes.items()} == {
        "light": (0, 3, False),  # not published as a rule; at most 3 months; repair once obligations are met
        "ordinary": (3, 12, True),
        "severe": (12, 36, True),
    }
    for severity in classes.values():
        assert any("第36号" in c for c in severity.period.basis)
        assert any("国办发〔2025〕22号" in c for c in severity.period.basis)


def test_general_penalty_periods() -> None:
    item = load_catalog()["admin_penalty_general"]
    assert item.severities == ("light", "ordinary", "severe")
    assert item.default_severity == "ordinary"
    # An ordinary penalty is shown 3 months at least and one year at most (not 3 years as under Order 58).
    assert period_of(item, None) == period_of(item, "ordinary")
    assert (period_of(item, None).min_months, period_of(item, None).max_months) == (3, ONE_YEAR)
    assert (period_of(item, "light").min_months, period_of(item, "light").max_months) == (0, 3)
    assert (period_of(item, "severe").min_months, period_of(item, "severe").max_months) == (ONE_YEAR, THREE_YEARS)
    assert item.repairable
    assert item.minor_violation_exempt
    assert item.document_types == {"admin_penalty_decision"}
    assert "court" not in item.provider_types
    assert item.disclosure == "by_decision" and item.disclosure_basis == ("《行政处罚法》第四十八条",)
    assert item.minors == "seal"


@pytest.mark.parametrize("code", sorted(SPECIAL_DOMAIN_PENALTIES))
def test_special_domain_penalties_follow_the_classes(code: str) -> None:
    item = load_catalog()[code]
    assert item.period is None  # no sector floor any more: the class decides
    assert (period_of(item, "ordinary").min_months, period_of(item, "ordinary").max_months) == (3, ONE_YEAR)
    assert period_of(item, "severe").max_months == THREE_YEARS
    assert item.minor_violation_exempt
    assert item.repairable
    assert item.disclosure == "by_decision"


def test_negative_information_stops_within_three_years() -> None:
    negative = [i for i in load_catalog().values() if i.nature in NEGATIVE_NATURES]
    assert negative
    for item in negative:
        for severity in item.severities:
            assert period_of(item, severity).max_months <= THREE_YEARS, item.code


def test_every_administrative_penalty_item_is_bounded_like_one() -> None:
    # Every item grounded only on penalty decisions follows the Order 36 classes, so an
    # ordinary penalty is never shown for more than a year.
    for item in load_catalog().values():
        if item.document_types == {"admin_penalty_decision"}:
            assert item.period is None, item.code
            assert period_of(item, item.default_severity).max_months <= ONE_YEAR, item.code
            assert item.minors == "seal", item.code


def test_serious_items_are_severe_and_listed_by_their_procedure() -> None:
    for item in load_catalog().values():
        if item.nature == "serious":
            assert item.severities == ("severe",), item.code
            assert item.minors == "refuse", item.code
            assert item.listing in {"notice", "court"}, item.code
            assert item.disclosure == "public" and item.disclosure_basis, item.code
    assert load_catalog()["court_dishonest_judgment_debtor"].listing == "court"
    assert load_catalog()["market_serious_violation_list"].listing == "notice"


def test_sector_periods_cite_their_rule() -> None:
    wage = load_catalog()["wage_arrears_dishonesty_list"]
    assert wage.period is not None
    assert (wage.period.min_months, wage.period.max_months) == (6, THREE_YEARS)
    assert any("拖欠农民工工资" in b for b in wage.period.basis)


def test_objection_periods() -> None:
    court = load_catalog()["court_dishonest_judgment_debtor"].objection
    assert court is not None and (court.days, court.unit) == (15, "days")
    assert "法释〔2017〕7号" in court.basis and "第十二条" in court.basis
    assert load_catalog()["admin_penalty_general"].objection is None  # the default applies


def test_not_repairable_only_where_a_law_says_so() -> None:
    # Order 36 art. 2: dishonesty information is repairable unless a law, regulation or
    # central policy says otherwise; each exception cites its text.
    for item in load_catalog().values():
        if item.negative and not item.repairable:
            assert item.not_repairable_basis, item.code
            assert all("《" in c for c in item.not_repairable_basis)
        if item.repairable:
            assert item.not_repairable_basis == ()
    assert load_catalog()["exam_cheating"].repairable  # a departmental rule cannot bar repair


def test_minor_rules_cite_their_laws() -> None:
    from policies.catalog import load_minor_rules
    rules = load_minor_rules()
    assert "《预防未成年人犯罪法》第五十九条" in rules.seal_basis
    assert any("法释〔2017〕7号" in c for c in rules.refuse_basis)


def test_provider_levels() -> None:
    levels = load_provider_levels()
    assert {code for code, level in levels.items() if level.may_list} == {"national", "provincial", "prefectural",
                                                                          "county"}
    assert not levels["township"].may_list


def test_serious_items_map_to_the_four_fields() -> None:
    catalog = load_catalog()
    serious = {code: i.serious_list_field for code, i in catalog.items() if i.nature == "serious"}
    assert serious
    assert set(serious.values()) <= SERIOUS_LIST_FIELDS
    assert serious["court_dishonest_judgment_debtor"] == "court_and_admin_credibility"
    assert serious["tax_major_violation"] == "market_order"
    assert serious["wage_arrears_dishonesty_list"] == "court_and_admin_credibility"
    for item in catalog.values():
        if item.nature != "serious":
            assert item.serious_list_field is None, item.code
    assert {"health_and_life", "market_order", "court_and_admin_credibility", "national_defence"} == SERIOUS_LIST_FIELDS


def test_court_list_is_a_court_enforcement_item() -> None:
    item = load_catalog()["court_dishonest_judgment_debtor"]
    assert item.provider_types == {"court"}
    assert item.document_types == {"enforcement_ruling"}
    assert not item.repairable
    assert not item.minor_violation_exempt


def test_positive_and_basic_items_are_not_repairable() -> None:
    for item in load_catalog().values():
        if item.nature not in NEGATIVE_NATURES:
            assert not item.repairable, item.code
            assert not item.minor_violation_exempt, item.code
            assert item.severities == () and item.display_months is not None, item.code
            assert period_of(item, None) == Period(0, item.display_months, ())


def test_minor_exemption_only_on_penalty_items() -> None:
    for item in load_catalog().values():
        if item.minor_violation_exempt:
            assert "admin_penalty_decision" in item.document_types, item.code
            assert item.nature == "dishonest", item.code


def test_references_are_known() -> None:
    assert set(load_provider_types()) == PROVIDER_TYPES
    for item in load_catalog().values():
        assert item.provider_types <= PROVIDER_TYPES
        assert item.document_types <= DOCUMENT_TYPES
        assert item.provider_types and item.document_types
        assert item.sharing in {"unconditional", "conditional", "none"}
        assert item.disclosure in DISCLOSURE_ATTRIBUTES
        period = period_of(item, item.default_severity)
        assert 0 <= period.min_months <= period.max_months


def test_legal_basis_cites_instruments() -> None:
    for item in load_catalog().values():
        assert isinstance(item.legal_basis, tuple)
        assert item.legal_basis
        for citation in item.legal_basis:
            assert "《" in citation and "》" in citation, (item.code, citation)
    general = load_catalog()["admin_penalty_general"].legal_basis
    assert "《行政处罚法》第四十八条" in general
    # Order 58 was repealed by Order 36 (in force 2026-04-01): no item cites it any more.
    assert not any("第58号" in c for item in load_catalog().values() for c in item.legal_basis)
    assert any("第36号" in c for c in general)
    tax_a = load_catalog()["tax_credit_a_level"].legal_basis
    assert any("《纳税缴费信用管理办法》" in c for c in tax_a)
    assert not any("2014年第40号" in c for c in tax_a)
    assert any("失信被执行人" in c for c in load_catalog()["court_dishonest_judgment_debtor"].legal_basis)
    assert any("国办发〔2020〕49号" in c for c in load_catalog()["tax_major_violation"].legal_basis)


def test_loader_caches_and_is_read_only() -> None:
    assert load_catalog() is load_catalog()
    with pytest.raises(TypeError):
        load_catalog()["x"] = load_catalog()["admin_license"]  # type: ignore[index]


def test_packaged_catalog_parses(data: dict[str, Any]) -> None:
    assert parse_catalog(data, SOURCE, load_categories()) == load_catalog()


def test_data_file_starts_with_version() -> None:
    text = resources.files("policies").joinpath("data", "catalog.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "version = 2"


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["nature", "sharing", "disclosure", "category"])
def test_unknown_choice(data: dict[str, Any], key: str) -> None:
    _item(data, "admin_license")[key] = "bogus"
    err = error(data)
    assert err.key == f"items.admin_license.{key}"
    assert "bogus" in str(err)


def test_unknown_provider_type(data: dict[str, Any]) -> None:
    _item(data, "exam_cheating")["provider_types"] = ["education", "police"]
    err = error(data)
    assert err.key == "items.exam_cheating.provider_types[1]"
    assert "police" in str(err)


def test_unknown_document_type(data: dict[str, Any]) -> None:
    _item(data, "exam_cheating")["document_types"] = ["rumour"]
    err = error(data)
    assert err.key == "items.exam_cheating.document_types[0]"
    assert "rumour" in str(err)


def test_provider_types_table_is_data(data: dict[str, Any]) -> None:
    # A provider type is valid only if the file defines it.
    del data["provider_types"]["fire_rescue"]
    assert error(data).key == "items.admin_penalty_general.provider_types[5]"


def test_provider_types_table_validation(data: dict[str, Any]) -> None:
    data["provider_types"]["Bad-Code"] = "x"
    assert error(data).key == "provider_types.Bad-Code"
    del data["provider_types"]["Bad-Code"]
    data["provider_types"]["court"] = ""
    assert error(data).key == "provider_types.court"
    data["provider_types"] = {}
    assert error(data).key == "provider_types"
    del data["provider_types"]
    assert error(data).key == "provider_types"


def test_min_greater_than_max(data: dict[str, Any]) -> None:
    data["severities"]["ordinary"]["min_months"] = 13
    err = error(data)
    assert err.key == "severities.ordinary.min_months"
    assert "13 > 12" in str(err)
    data["severities"]["ordinary"]["min_months"] = 3
    _item(data, "wage_arrears_dishonesty_list")["period"]["min_months"] = 40
    assert error(data).key == "items.wage_arrears_dishonesty_list.period.min_months"


@pytest.mark.parametrize(("key", "bad"), [("min_months", -1), ("max_months", 0), ("max_months", -5),
                                          ("min_months", True), ("max_months", "12"), ("min_months", 1.5)])
def test_periods_must_be_non_negative_integers(data: dict[str, Any], key: str, bad: object) -> None:
    data["severities"]["severe"][key] = bad
    assert error(data).key == f"severities.severe.{key}"


def test_classes_are_exactly_three(data: dict[str, Any]) -> None:
    data["severities"]["dire"] = copy.deepcopy(data["severities"]["severe"])
    assert error(data).key == "severities.dire"
    del data["severities"]["dire"]
    del data["severities"]["light"]
    assert error(data).key == "severities.light"


def test_severity_rules(data: dict[str, Any]) -> None:
    item = _item(data, "admin_penalty_general")
    item["default_severity"] = "dire"
    assert error(data).key == "items.admin_penalty_general.default_severity"
    item["default_severity"] = "ordinary"
    item["severities"] = ["light", "dire"]
    assert error(data).key == "items.admin_penalty_general.severities[1]"
    item["severities"] = ["light", "ordinary"]
    serious = _item(data, "tax_major_violation")
    serious["severities"] = ["ordinary", "severe"]
    assert error(data).key == "items.tax_major_violation.severities"
    serious["severities"] = ["severe"]
    _item(data, "admin_license")["severities"] = ["light"]
    assert error(data).key == "items.admin_license.severities"


def test_a_dishonesty_item_is_repairable_unless_a_law_is_cited(data: dict[str, Any]) -> None:
    _item(data, "exam_cheating")["repairable"] = False
    err = error(data)
    assert err.key == "items.exam_cheating.not_repairable_basis"
    assert "cite the law" in str(err)
    del _item(data, "court_dishonest_judgment_debtor")["not_repairable_basis"]
    _item(data, "exam_cheating")["repairable"] = True
    assert error(data).key == "items.court_dishonest_judgment_debtor.not_repairable_basis"


def test_positive_items_are_never_repairable(data: dict[str, Any]) -> None:
    _item(data, "honours_commendation")["repairable"] = True
    assert error(data).key == "items.honours_commendation.repairable"


def test_serious_items_refuse_minors_and_name_a_procedure(data: dict[str, Any]) -> None:
    _item(data, "tax_major_violation")["minors"] = "seal"
    assert error(data).key == "items.tax_major_violation.minors"
    _item(data, "tax_major_violation")["minors"] = "refuse"
    del _item(data, "tax_major_violation")["listing"]
    assert error(data).key == "items.tax_major_violation.listing"
    _item(data, "tax_major_violation")["listing"] = "notice"
    _item(data, "admin_penalty_general")["listing"] = "notice"
    assert error(data).key == "items.admin_penalty_general.listing"


def test_public_items_cite_why(data: dict[str, Any]) -> None:
    del _item(data, "admin_license")["disclosure_basis"]
    assert error(data).key == "items.admin_license.disclosure_basis"
    _item(data, "admin_license")["disclosure_basis"] = ["《行政许可法》第四十条"]
    _item(data, "volunteer_service")["disclosure_basis"] = ["《志愿服务条例》"]
    assert error(data).key == "items.volunteer_service.disclosure_basis"


def test_objection_period_validation(data: dict[str, Any]) -> None:
    court = _item(data, "court_dishonest_judgment_debtor")
    court["objection"]["unit"] = "weeks"
    assert error(data).key == "items.court_dishonest_judgment_debtor.objection.unit"
    court["objection"]["unit"] = "days"
    court["objection"]["days"] = 0
    assert error(data).key == "items.court_dishonest_judgment_debtor.objection.days"


def test_serious_item_needs_a_field(data: dict[str, Any]) -> None:
    del _item(data, "tax_major_violation")["serious_list_field"]
    assert error(data).key == "items.tax_major_violation.serious_list_field"


def test_serious_field_must_be_one_of_four(data: dict[str, Any]) -> None:
    _item(data, "tax_major_violation")["serious_list_field"] = "public_morals"
    err = error(data)
    assert err.key == "items.tax_major_violation.serious_list_field"
    assert "public_morals" in str(err)


def test_non_serious_item_must_not_name_a_field(data: dict[str, Any]) -> None:
    _item(data, "admin_penalty_general")["serious_list_field"] = "market_order"
    assert error(data).key == "items.admin_penalty_general.serious_list_field"


def test_minor_exemption_needs_a_penalty_document(data: dict[str, Any]) -> None:
    _item(data, "student_loan_default")["minor_violation_exempt"] = True
    assert error(data).key == "items.student_loan_default.minor_violation_exempt"


@pytest.mark.parametrize("key", ["repairable", "minor_violation_exempt"])
def test_flags_must_be_booleans(data: dict[str, Any], key: str) -> None:
    _item(data, "admin_license")[key] = "false"
    assert error(data).key == f"items.admin_license.{key}"
    del _item(data, "admin_license")[key]
    assert error(data).key == f"items.admin_license.{key}"


def test_duplicate_code(data: dict[str, Any]) -> None:
    data["items"].append(copy.deepcopy(_item(data, "admin_license")))
    err = error(data)
    assert err.key == f"items[{len(data['items']) - 1}].code"
    assert "duplicate" in str(err)


@pytest.mark.parametrize("bad", ["Admin-License", "1st", "admin license", "行政许可"])
def test_codes_are_plain(data: dict[str, Any], bad: str) -> None:
    data["items"][0]["code"] = bad
    assert error(data).key == "items[0].code"


def test_missing_code(data: dict[str, Any]) -> None:
    del data["items"][2]["code"]
    assert error(data).key == "items[2].code"


def test_unknown_and_missing_keys(data: dict[str, Any]) -> None:
    _item(data, "volunteer_service")["sharring"] = "none"
    assert error(data).key == "items.volunteer_service.sharring"
    del _item(data, "volunteer_service")["sharring"]
    del _item(data, "volunteer_service")["name_zh"]
    assert error(data).key == "items.volunteer_service.name_zh"


def test_legal_basis_shape(data: dict[str, Any]) -> None:
    entry = _item(data, "admin_license")
    entry["legal_basis"] = []
    assert error(data).key == "items.admin_license.legal_basis"
    entry["legal_basis"] = "《行政许可法》"
    assert error(data).key == "items.admin_license.legal_basis"
    entry["legal_basis"] = ["《行政许可法》", " "]
    assert error(data).key == "items.admin_license.legal_basis[1]"
    entry["legal_basis"] = ["《行政许可法》", "《行政许可法》"]
    assert error(data).key == "items.admin_license.legal_basis[1]"


def test_items_shape_and_version(data: dict[str, Any]) -> None:
    data["items"][1] = "not a table"
    assert error(data).key == "items[1]"
    data["items"] = []
    assert error(data).key == "items"
    data["items"] = {"admin_license": {}}
    assert error(data).key == "items"
    del data["items"]
    assert error(data).key == "items"
    data["version"] = 0
    assert error(data).key == "version"


def test_unknown_top_level_key(data: dict[str, Any]) -> None:
    data["itmes"] = []
    assert error(data).key == "itmes"
