"""The public credit information catalog (公共信用信息目录), policy data.

Nothing outside the catalog can be registered, shared or disclosed. Each item
says what kind of information it is (nature), which consent category it falls
under, what grounds it in law, who may register it and on which legal-effect
documents, whether and how it is shared and disclosed, for how long, whether
it can be repaired (信用修复), which classes of dishonesty information
(轻微/一般/严重, NDRC Order 36) its records fall into, what happens to a
record about a minor, and, for serious dishonesty list items (严重失信主体名单),
which of the four permitted fields it belongs to and how a subject is listed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from policies._data import (
    read_data_file,
    reject_unknown_keys,
    require_int,
    require_str,
    require_str_list,
    require_str_set,
    require_table,
    require_version,
)
from policies.errors import PolicyDataError
from policies.purposes import Category, load_categories

__all__ = [
    "ANSWER_UNITS",
    "DISCLOSURE_ATTRIBUTES",
    "DOCUMENT_TYPES",
    "LISTING_PROCEDURES",
    "MINOR_TREATMENTS",
    "NATURES",
    "NEGATIVE_NATURES",
    "SERIOUS_LIST_FIELDS",
    "SEVERITIES",
    "SHARING_ATTRIBUTES",
    "AnswerPeriod",
    "CatalogItem",
    "MinorRules",
    "Period",
    "ProviderLevel",
    "Severity",
    "load_catalog",
    "load_minor_rules",
    "load_provider_levels",
    "load_provider_types",
    "load_severities",
    "parse_answer_period",
    "parse_catalog",
    "parse_minor_rules",
    "parse_period",
    "parse_provider_levels",
    "parse_provider_types",
    "parse_severities",
]

CATALOG_FILE = "catalog.toml"

# Codes travel in URLs, records and audit entries, so keep them plain identifiers
# (the same shape as purpose and category codes).
_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

# basic: registration facts; dishonest: negative information (失信信息);
# serious: negative information that also puts the subject on a serious
# dishonesty list; trustworthy: positive information (守信信息).
NATURES = frozenset({"basic", "dishonest", "serious", "trustworthy"})
NEGATIVE_NATURES = frozenset({"dishonest", "serious"})

SHARING_ATTRIBUTES = frozenset({"unconditional", "conditional", "none"})

# The only fields a serious dishonesty list may cover:
# serious harm to health and life; serious damage to fair market competition
# and social order; refusal to perform legal obligations that damages the
# credibility of courts and administrative organs; refusal to perform national
# defence obligations.
SERIOUS_LIST_FIELDS = frozenset({"health_and_life", "market_order", "court_and_admin_credibility", "national_defence"})

# Legal-effect documents (具有法律效力的文书) that can ground a record.
DOCUMENT_TYPES = frozenset(
    {
        "court_judgment",  # 生效裁判文书 (judgment or ruling on the merits)
        "arbitral_award",  # 生效仲裁裁决书
        "admin_penalty_decision",  # 行政处罚决定书
        "admin_ruling",  # 行政裁决书 / written administrative decision other than a penalty
        "enforcement_ruling",  # 执行裁定 / enforcement-stage decision of a court
        "other_statutory",  # another document that a law or State Council policy names
    }
)


SEVERITIES = ("light", "ordinary", "severe")
DISCLOSURE_ATTRIBUTES = frozenset({"public", "by_decision", "authorized", "none"})
LISTING_PROCEDURES = frozenset({"notice", "court"})
MINOR_TREATMENTS = frozenset({"record", "seal", "refuse"})
ANSWER_UNITS = frozenset({"workdays", "days"})


@dataclass(frozen=True, slots=True)
class Period:
    """A disclosure period in calendar months: repair opens after ``min_months``,
    the record stops being shown after ``max_months``; ``basis`` cites the rule."""

    min_months: int
    max_months: int
    basis: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Severity:
    """A class of dishonesty information (失信信息分类) and its period.

    ``publishable`` is False where the class is not published as a rule (light).
    """

    code: str
    name_zh: str
    period: Period
    publishable: bool


@dataclass(frozen=True, slots=True)
class AnswerPeriod:
    """How long a provider has to answer: ``days`` working days or calendar days (``unit``)."""

    days: int
    unit: str
    basis: str


@dataclass(frozen=True, slots=True)
class ProviderLevel:
    """An administrative level of a provider; ``may_list`` if it may decide a serious listing."""

    code: str
    name_zh: str
    may_list: bool


@dataclass(frozen=True, slots=True)
class MinorRules:
    """Why a minor's record is sealed, and why a minor is refused a listing (citations)."""

    seal_basis: tuple[str, ...]
    refuse_basis: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One catalog item: the unit a record is registered under.

    ``legal_basis`` keeps the citations in the order the data file gives them.
    Negative items (nature ``dishonest`` or ``serious``) name the classes
    (``severities``) a record can be in, with ``default_severity`` for a
    record that does not state one; ``period`` is set where a sector rule
    gives the item its own disclosure period. Basic and positive items have
    ``display_months`` instead. ``serious_list_field`` and ``listing`` are set
    exactly when ``nature`` is ``serious``. ``minor_violation_exempt`` means the
    初次违法且危害后果轻微并及时改正 rule applies, so such violations are not
    recorded. ``minors`` says what happens to a record about a minor.
    """

    code: str
    name_zh: str
    nature: str
    category: str
    legal_basis: tuple[str, ...]
    provider_types: frozenset[str]
    document_types: frozenset[str]
    sharing: str
    disclosure: str
    disclosure_basis: tuple[str, ...]
    severities: tuple[str, ...]
    default_severity: str | None
    period: Period | None
    display_months: int | None
    repairable: bool
    not_repairable_basis: tuple[str, ...]
    serious_list_field: str | None
    listing: str | None
    minors: str
    objection: AnswerPeriod | None
    minor_violation_exempt: bool

    @property
    def negative(self) -> bool:
        """Dishonesty information (失信信息): the classes, repair and objections' stakes apply."""
        return self.nature in NEGATIVE_NATURES


_ITEM_KEYS = frozenset(
    {
        "code",
        "name_zh",
        "nature",
        "category",
        "legal_basis",
        "provider_types",
        "document_types",
        "sharing",
        "disclosure",
        "disclosure_basis",
        "severities",
        "default_severity",
        "period",
        "display_months",
        "repairable",
        "not_repairable_basis",
        "serious_list_field",
        "listing",
        "minors",
        "objection",
        "minor_violation_exempt",
    }
)


def _require_choice(data: Mapping[str, Any], key: str, source: str, path: str, *, allowed: frozenset[str]) -> str:
    value = require_str(data, key, source, path)
    if value not in allowed:
        raise PolicyDataError(source, path, f"unknown value {value!r}; expected one of {sorted(allowed)}")
    return value


def _require_bool(data: Mapping[str, Any], key: str, source: str, path: str) -> bool:
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if not isinstance(value, bool):
        raise PolicyDataError(source, path, f"must be true or false, got {type(value).__name__}")
    return value


def _forbid(entry: Mapping[str, Any], key: str, source: str, path: str, why: str) -> None:
    if key in entry:
        raise PolicyDataError(source, f"{path}.{key}", why)


def parse_period(data: Mapping[str, Any], source: str, path: str, *, basis_key: str = "basis") -> Period:
    """A ``{min_months, max_months, basis}`` table; ``min_months`` may be 0, never above the maximum."""
    minimum = require_int(data, "min_months", source, f"{path}.min_months", minimum=0)
    maximum = require_int(data, "max_months", source, f"{path}.max_months", minimum=1)
    if minimum > maximum:
        raise PolicyDataError(source, f"{path}.min_months", f"must not exceed max_months ({minimum} > {maximum})")
    raw_basis: object = data.get(basis_key)
    if isinstance(raw_basis, str):
        basis: tuple[str, ...] = (require_str(data, basis_key, source, f"{path}.{basis_key}"),)
    else:
        basis = require_str_list(data, basis_key, source, f"{path}.{basis_key}")
    return Period(minimum, maximum, basis)


def parse_answer_period(data: Mapping[str, Any], source: str, path: str) -> AnswerPeriod:
    """A ``{days, unit, basis}`` table: an answer period in working days or calendar days."""
    reject_unknown_keys(data, {"days", "unit", "basis"}, source, path)
    return AnswerPeriod(
        days=require_int(data, "days", source, f"{path}.days", minimum=1),
        unit=_require_choice(data, "unit", source, f"{path}.unit", allowed=ANSWER_UNITS),
        basis=require_str(data, "basis", source, f"{path}.basis"),
    )


def parse_provider_types(data: Mapping[str, Any], source: str) -> Mapping[str, str]:
    """Validate the ``[provider_types]`` table (code -> Chinese name) of the catalog TOML."""
    table = require_table(data, "provider_types", source, "provider_types")
    if not table:
        raise PolicyDataError(source, "provider_types", "must define at least one entry")
    names: dict[str, str] = {}
    for code in table:
        path = f"provider_types.{code}"
        if _CODE_PATTERN.fullmatch(code) is None:
            raise PolicyDataError(source, path, "code must be lowercase letters, digits and '_'")
        names[code] = require_str(table, code, source, path)
    return MappingProxyType(names)


def parse_provider_levels(data: Mapping[str, Any], source: str) -> Mapping[str, ProviderLevel]:
    """Validate the ``[provider_levels]`` table of the catalog TOML."""
    table = require_table(data, "provider_levels", source, "provider_levels")
    if not table:
        raise PolicyDataError(source, "provider_levels", "must define at least one entry")
    levels: dict[str, ProviderLevel] = {}
    for code in table:
        path = f"provider_levels.{code}"
        if _CODE_PATTERN.fullmatch(code) is None:
            raise PolicyDataError(source, path, "code must be lowercase letters, digits and '_'")
        entry = require_table(table, code, source, path)
        reject_unknown_keys(entry, {"name_zh", "may_list"}, source, path)
        levels[code] = ProviderLevel(code, require_str(entry, "name_zh", source, f"{path}.name_zh"),
                                     _require_bool(entry, "may_list", source, f"{path}.may_list"))
    return MappingProxyType(levels)


def parse_minor_rules(data: Mapping[str, Any], source: str) -> MinorRules:
    """Validate the ``[minors]`` table: the citations for sealing and for refusing."""
    table = require_table(data, "minors", source, "minors")
    reject_unknown_keys(table, {"seal_basis", "refuse_basis"}, source, "minors")
    return MinorRules(require_str_list(table, "seal_basis", source, "minors.seal_basis"),
                      require_str_list(table, "refuse_basis", source, "minors.refuse_basis"))


def parse_severities(data: Mapping[str, Any], source: str) -> Mapping[str, Severity]:
    """Validate the ``[severities]`` table: exactly the classes light, ordinary and severe."""
    table = require_table(data, "severities", source, "severities")
    reject_unknown_keys(table, SEVERITIES, source, "severities")
    out: dict[str, Severity] = {}
    for code in SEVERITIES:
        path = f"severities.{code}"
        entry = require_table(table, code, source, path)
        reject_unknown_keys(entry, {"name_zh", "min_months", "max_months", "publishable", "basis"}, source, path)
        out[code] = Severity(
            code=code,
            name_zh=require_str(entry, "name_zh", source, f"{path}.name_zh"),
            period=parse_period(entry, source, path),
            publishable=_require_bool(entry, "publishable", source, f"{path}.publishable"),
        )
    return MappingProxyType(out)


def _parse_negative(entry: Mapping[str, Any], source: str, path: str, nature: str) -> dict[str, Any]:
    severities = require_str_list(entry, "severities", source, f"{path}.severities", allowed=SEVERITIES)
    default = _require_choice(entry, "default_severity", source, f"{path}.default_severity",
                              allowed=frozenset(severities))
    if nature == "serious" and severities != ("severe",):
        raise PolicyDataError(source, f"{path}.severities", "a serious list item is severe information only")
    _forbid(entry, "display_months", source, path, "negative items take their period from their class")
    repairable = _require_bool(entry, "repairable", source, f"{path}.repairable")
    if repairable:
        _forbid(entry, "not_repairable_basis", source, path, "only an item that is not repairable names a basis")
        blocked: tuple[str, ...] = ()
    elif "not_repairable_basis" not in entry:
        # Order 36 art. 2: only a law, regulation or central policy can make dishonesty
        # information unrepairable; without one named here the item must be repairable.
        raise PolicyDataError(source, f"{path}.not_repairable_basis",
                              "a dishonesty item that is not repairable must cite the law that says so")
    else:
        blocked = require_str_list(entry, "not_repairable_basis", source, f"{path}.not_repairable_basis")
    period = None
    if "period" in entry:
        table = require_table(entry, "period", source, f"{path}.period")
        reject_unknown_keys(table, {"min_months", "max_months", "basis"}, source, f"{path}.period")
        period = parse_period(table, source, f"{path}.period")
    return {"severities": severities, "default_severity": default, "period": period, "display_months": None,
            "repairable": repairable, "not_repairable_basis": blocked}


def _parse_other(entry: Mapping[str, Any], source: str, path: str, nature: str) -> dict[str, Any]:
    for key in ("severities", "default_severity", "period", "not_repairable_basis"):
        _forbid(entry, key, source, path, f"only dishonesty items have {key}, not {nature} ones")
    if _require_bool(entry, "repairable", source, f"{path}.repairable"):
        raise PolicyDataError(source, f"{path}.repairable", f"{nature} information is not repaired")
    months = require_int(entry, "display_months", source, f"{path}.display_months", minimum=1)
    return {"severities": (), "default_severity": None, "period": None, "display_months": months,
            "repairable": False, "not_repairable_basis": ()}


def _parse_item(
    entry: Mapping[str, Any],
    source: str,
    path: str,
    code: str,
    categories: Mapping[str, Category],
    provider_types: Mapping[str, str],
) -> CatalogItem:
    reject_unknown_keys(entry, _ITEM_KEYS, source, path)
    nature = _require_choice(entry, "nature", source, f"{path}.nature", allowed=NATURES)
    category = _require_choice(entry, "category", source, f"{path}.category", allowed=frozenset(categories))
    document_types = require_str_set(entry, "document_types", source, f"{path}.document_types", allowed=DOCUMENT_TYPES)
    parts = (_parse_negative if nature in NEGATIVE_NATURES else _parse_other)(entry, source, path, nature)
    field_path = f"{path}.serious_list_field"
    minors = _require_choice(entry, "minors", source, f"{path}.minors", allowed=MINOR_TREATMENTS)
    if nature == "serious":
        serious_field: str | None = _require_choice(
            entry, "serious_list_field", source, field_path, allowed=SERIOUS_LIST_FIELDS
        )
        listing: str | None = _require_choice(entry, "listing", source, f"{path}.listing",
                                              allowed=LISTING_PROCEDURES)
        if minors != "refuse":
            # A listing is published; a minor's records are sealed, so a list never takes one.
            raise PolicyDataError(source, f"{path}.minors", "a serious list item must refuse minors")
    else:
        _forbid(entry, "serious_list_field", source, path,
                f"only serious items name a serious list field, not {nature}")
        _forbid(entry, "listing", source, path, f"only serious items have a listing procedure, not {nature}")
        serious_field = listing = None
    disclosure = _require_choice(entry, "disclosure", source, f"{path}.disclosure", allowed=DISCLOSURE_ATTRIBUTES)
    if disclosure in {"public", "by_decision"}:
        disclosure_basis = require_str_list(entry, "disclosure_basis", source, f"{path}.disclosure_basis")
    else:
        _forbid(entry, "disclosure_basis", source, path, "only public and by_decision items cite a disclosure basis")
        disclosure_basis = ()
    minor_exempt = _require_bool(entry, "minor_violation_exempt", source, f"{path}.minor_violation_exempt")
    if minor_exempt and "admin_penalty_decision" not in document_types:
        raise PolicyDataError(
            source,
            f"{path}.minor_violation_exempt",
            "the minor first violation rule applies only to items grounded on admin_penalty_decision",
        )
    objection = None
    if "objection" in entry:
        objection = parse_answer_period(require_table(entry, "objection", source, f"{path}.objection"),
                                        source, f"{path}.objection")
    return CatalogItem(
        code=code,
        name_zh=require_str(entry, "name_zh", source, f"{path}.name_zh"),
        nature=nature,
        category=category,
        legal_basis=require_str_list(entry, "legal_basis", source, f"{path}.legal_basis"),
        provider_types=require_str_set(
            entry, "provider_types", source, f"{path}.provider_types", allowed=provider_types.keys()
        ),
        document_types=document_types,
        sharing=_require_choice(entry, "sharing", source, f"{path}.sharing", allowed=SHARING_ATTRIBUTES),
        disclosure=disclosure,
        disclosure_basis=disclosure_basis,
        serious_list_field=serious_field,
        listing=listing,
        minors=minors,
        objection=objection,
        minor_violation_exempt=minor_exempt,
        **parts,
    )


def parse_catalog(
    data: Mapping[str, Any], source: str, categories: Mapping[str, Category]
) -> Mapping[str, CatalogItem]:
    """Validate parsed catalog TOML against the known categories; raise PolicyDataError naming the key.

    Items are ``[[items]]`` entries keyed by their ``code``. Error keys name an
    item by its code once the code is known (``items.<code>.<field>``) and by
    position before that (``items[<index>].code``).
    """
    require_version(data, source)
    reject_unknown_keys(data, {"version", "provider_types", "provider_levels", "minors", "severities", "items"},
                        source, "")
    provider_types = parse_provider_types(data, source)
    parse_provider_levels(data, source)
    parse_minor_rules(data, source)
    parse_severities(data, source)
    if "items" not in data:
        raise PolicyDataError(source, "items", "missing")
    raw: object = data["items"]
    if not isinstance(raw, list):
        raise PolicyDataError(source, "items", f"must be an array of tables, got {type(raw).__name__}")
    if not raw:
        raise PolicyDataError(source, "items", "must define at least one entry")
    items: dict[str, CatalogItem] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise PolicyDataError(source, f"items[{index}]", f"must be a table, got {type(entry).__name__}")
        code = require_str(entry, "code", source, f"items[{index}].code")
        if _CODE_PATTERN.fullmatch(code) is None:
            raise PolicyDataError(source, f"items[{index}].code", "code must be lowercase letters, digits and '_'")
        if code in items:
            raise PolicyDataError(source, f"items[{index}].code", f"duplicate code {code!r}")
        items[code] = _parse_item(entry, source, f"items.{code}", code, categories, provider_types)
    return MappingProxyType(items)


@functools.cache
def load_catalog() -> Mapping[str, CatalogItem]:
    """Load and validate the packaged catalog (once per process)."""
    return parse_catalog(read_data_file(CATALOG_FILE), f"data/{CATALOG_FILE}", load_categories())


@functools.cache
def load_provider_types() -> Mapping[str, str]:
    """The provider types (code -> Chinese name) the packaged catalog defines."""
    load_catalog()  # the table is only trusted as part of a catalog that validates
    return parse_provider_types(read_data_file(CATALOG_FILE), f"data/{CATALOG_FILE}")


@functools.cache
def load_provider_levels() -> Mapping[str, ProviderLevel]:
    """The provider levels the packaged catalog defines."""
    load_catalog()
    return parse_provider_levels(read_data_file(CATALOG_FILE), f"data/{CATALOG_FILE}")


@functools.cache
def load_minor_rules() -> MinorRules:
    """The citations for sealing minors' records and refusing their listing."""
    load_catalog()
    return parse_minor_rules(read_data_file(CATALOG_FILE), f"data/{CATALOG_FILE}")


@functools.cache
def load_severities() -> Mapping[str, Severity]:
    """The classes of dishonesty information and their periods (Order 36)."""
    load_catalog()
    return parse_severities(read_data_file(CATALOG_FILE), f"data/{CATALOG_FILE}")
