"""The public credit information catalog (公共信用信息目录, DESIGN §6), policy data.

Nothing outside the catalog can be registered, shared or disclosed. Each item
says what kind of information it is (nature), which consent category it falls
under, what grounds it in law, who may register it and on which legal-effect
documents, whether and how it is shared and disclosed, for how long, whether
it can be repaired (信用修复), and, for serious dishonesty list items
(严重失信主体名单), which of the four permitted fields it belongs to.
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
    "DISCLOSURE_ATTRIBUTES",
    "DOCUMENT_TYPES",
    "NATURES",
    "NEGATIVE_NATURES",
    "SERIOUS_LIST_FIELDS",
    "SHARING_ATTRIBUTES",
    "CatalogItem",
    "load_catalog",
    "load_provider_types",
    "parse_catalog",
    "parse_provider_types",
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
DISCLOSURE_ATTRIBUTES = frozenset({"public", "authorized", "none"})

# The only fields a serious dishonesty list may cover (DESIGN §6):
# serious harm to health and life; serious damage to fair market competition
# and social order; refusal to perform legal obligations that damages the
# credibility of courts and administrative organs; refusal to perform national
# defence obligations.
SERIOUS_LIST_FIELDS = frozenset({"health_and_life", "market_order", "court_and_admin_credibility", "national_defence"})

# Legal-effect documents (具有法律效力的文书) that can ground a record (DESIGN §6).
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


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One catalog item: the unit a record is registered under.

    ``legal_basis`` keeps the citations in the order the data file gives them.
    The record is shown for ``max_disclosure_days`` after its decision date;
    ``min_disclosure_days`` is the earliest point at which repair may be
    applied for. ``serious_list_field`` is set exactly when ``nature`` is
    ``serious``. ``minor_violation_exempt`` means the 初次违法且危害后果轻微并
    及时改正 rule applies, so such violations are not recorded.
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
    min_disclosure_days: int
    max_disclosure_days: int
    repairable: bool
    serious_list_field: str | None
    minor_violation_exempt: bool


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
        "min_disclosure_days",
        "max_disclosure_days",
        "repairable",
        "serious_list_field",
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
    minimum = require_int(entry, "min_disclosure_days", source, f"{path}.min_disclosure_days", minimum=0)
    maximum = require_int(entry, "max_disclosure_days", source, f"{path}.max_disclosure_days", minimum=1)
    if minimum > maximum:
        raise PolicyDataError(
            source, f"{path}.min_disclosure_days", f"must not exceed max_disclosure_days ({minimum} > {maximum})"
        )
    field_path = f"{path}.serious_list_field"
    if nature == "serious":
        serious_field: str | None = _require_choice(
            entry, "serious_list_field", source, field_path, allowed=SERIOUS_LIST_FIELDS
        )
    elif "serious_list_field" in entry:
        raise PolicyDataError(source, field_path, f"only serious items name a serious list field, not {nature}")
    else:
        serious_field = None
    minor_exempt = _require_bool(entry, "minor_violation_exempt", source, f"{path}.minor_violation_exempt")
    if minor_exempt and "admin_penalty_decision" not in document_types:
        raise PolicyDataError(
            source,
            f"{path}.minor_violation_exempt",
            "the minor first violation rule applies only to items grounded on admin_penalty_decision",
        )
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
        disclosure=_require_choice(entry, "disclosure", source, f"{path}.disclosure", allowed=DISCLOSURE_ATTRIBUTES),
        min_disclosure_days=minimum,
        max_disclosure_days=maximum,
        repairable=_require_bool(entry, "repairable", source, f"{path}.repairable"),
        serious_list_field=serious_field,
        minor_violation_exempt=minor_exempt,
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
    reject_unknown_keys(data, {"version", "provider_types", "items"}, source, "")
    provider_types = parse_provider_types(data, source)
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
